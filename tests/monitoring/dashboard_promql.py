#!/usr/bin/env python3
"""Checks a Grafana dashboard against what smarthost exports:

- every PromQL expression parses: each becomes a recording rule in a temporary rules
  file that `promtool check rules` must accept;
- every smarthost_ metric an expression names is in docs/metrics.md (a histogram's
  _bucket, _sum and _count series by the histogram's name), so a misspelt name fails
  here instead of charting an empty panel;
- panel ids are unique and no two panels' gridPos rectangles overlap.

Usage: dashboard_promql.py DASHBOARD.json [METRICS.md]; METRICS.md defaults to the
docs/metrics.md beside the dashboard."""

import json
import os
import re
import subprocess
import sys
import tempfile

GRID_COLUMNS = 24
METRIC_NAME = re.compile(r"\bsmarthost_[A-Za-z0-9_]+")
# A row of a table in docs/metrics.md: | `name` | type | labels | meaning |
DOCUMENTED_ROW = re.compile(r"^\|\s*`(smarthost_[A-Za-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|", re.M)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


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


def documented_metrics(metrics_md_path):
    """{name: type} from the tables of docs/metrics.md."""
    with open(metrics_md_path, encoding="utf-8") as file:
        return dict(DOCUMENTED_ROW.findall(file.read()))


def family_of(series_name, documented):
    """The documented family a series name belongs to, or None."""
    if series_name in documented:
        return series_name
    for suffix in HISTOGRAM_SUFFIXES:
        base = series_name.removesuffix(suffix)
        if base != series_name and documented.get(base) == "histogram":
            return base
    return None


def undocumented_metric_errors(exprs, documented, metrics_md_path):
    errors = []
    for expr in exprs:
        for name in sorted(set(METRIC_NAME.findall(expr))):
            if family_of(name, documented) is None:
                errors.append(f"metric {name} is not documented in {metrics_md_path} "
                              f"(misspelt, or missing from the docs?) in: {expr}")
    return errors


def panels_by_grid(dashboard):
    """Lists of panels that share one grid: the top level (rows included), and the
    panels folded into each collapsed row, which Grafana lays out when it opens."""
    top = dashboard.get("panels", [])
    grids = [top]
    for panel in top:
        if panel.get("type") == "row" and panel.get("panels"):
            grids.append(panel["panels"])
    return grids


def layout_errors(dashboard):
    errors = []
    ids = {}
    for grid in panels_by_grid(dashboard):
        placed = []
        for panel in grid:
            title = panel.get("title", "?")
            panel_id = panel.get("id")
            if panel_id is None:
                errors.append(f"panel '{title}' has no id")
            elif panel_id in ids:
                errors.append(f"panel id {panel_id} is used by '{ids[panel_id]}' and '{title}'")
            else:
                ids[panel_id] = title
            pos = panel.get("gridPos")
            if not pos or any(not isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
                errors.append(f"panel '{title}' has no complete gridPos (x, y, w, h)")
                continue
            if pos["x"] < 0 or pos["y"] < 0 or pos["w"] <= 0 or pos["h"] <= 0 \
                    or pos["x"] + pos["w"] > GRID_COLUMNS:
                errors.append(f"panel '{title}' gridPos {pos} is outside the "
                              f"{GRID_COLUMNS}-column grid")
            for other_title, other in placed:
                if (pos["x"] < other["x"] + other["w"] and other["x"] < pos["x"] + pos["w"]
                        and pos["y"] < other["y"] + other["h"]
                        and other["y"] < pos["y"] + pos["h"]):
                    errors.append(f"panels '{other_title}' {other} and '{title}' {pos} overlap")
            placed.append((title, pos))
    return errors


def promtool_check(exprs):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules_file:
        # JSON is YAML: no YAML library needed.
        json.dump(rules, rules_file)
        rules_file.flush()
        return subprocess.run(["promtool", "check", "rules", rules_file.name]).returncode


def main(dashboard_path, metrics_md_path):
    with open(dashboard_path, encoding="utf-8") as file:
        dashboard = json.load(file)
    exprs = list(expressions(dashboard))
    if not exprs:
        print(f"{dashboard_path}: no PromQL expressions found")
        return 1
    documented = documented_metrics(metrics_md_path)
    if not documented:
        print(f"{metrics_md_path}: no metric tables found")
        return 1

    promtool_rc = promtool_check(exprs)
    errors = undocumented_metric_errors(exprs, documented, metrics_md_path) + layout_errors(dashboard)
    for error in errors:
        print(f"{dashboard_path}: {error}", file=sys.stderr)
    print(f"{len(exprs)} dashboard expressions checked against {len(documented)} "
          f"documented metrics; {len(errors)} problems")
    if promtool_rc != 0:
        print(f"{dashboard_path}: promtool check rules failed", file=sys.stderr)
    return 1 if errors or promtool_rc != 0 else 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    dashboard = sys.argv[1]
    metrics_md = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(dashboard)), "metrics.md")
    sys.exit(main(dashboard, metrics_md))
