#!/usr/bin/env python3
"""Every PromQL expression of a Grafana dashboard parses: each becomes a recording rule
in a temporary rules file that `promtool check rules` must accept."""

import json
import subprocess
import sys
import tempfile


def expressions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for child in node:
            yield from expressions(child)


def main(dashboard_path):
    with open(dashboard_path, encoding="utf-8") as file:
        exprs = list(expressions(json.load(file)))
    if not exprs:
        print(f"{dashboard_path}: no PromQL expressions found")
        return 1
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules_file:
        # JSON is YAML: no YAML library needed.
        json.dump(rules, rules_file)
        rules_file.flush()
        result = subprocess.run(["promtool", "check", "rules", rules_file.name])
    print(f"{len(exprs)} dashboard expressions checked")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
