#!/usr/bin/env python3
"""Runs the one-shot services of docker/compose.yaml for real, in compose's order, on a
fresh database: `migrate` and `demo-credential` (the smarthost image's command lines with
docker/trial/smarthost.toml) and `demo-sender-domain` (its psql statement), twice, as a
second `docker compose up` would. Then the demo account, its credential and its sender
domain must be in place.

usage: check_compose_setup.py SOURCE_DIR SMARTHOST_BINARY
needs SMARTHOST_TEST_DATABASE_URL (a database to connect to for CREATE DATABASE).
"""

import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from check_chart_hooks import database_url, psql  # noqa: E402
from smarthost_binary import Problems, smarthost_env, source_binary_and_database  # noqa: E402

CONFIG_IN_IMAGE = "/etc/smarthost/smarthost.toml"
ORDER = ("migrate", "demo-credential", "demo-sender-domain")


def main():
    source, binary, base = source_binary_and_database(__doc__)
    docker = source / "docker"
    services = yaml.safe_load((docker / "compose.yaml").read_text())["services"]
    problem = Problems()
    for earlier, later in zip(ORDER, ORDER[1:]):
        condition = services[later].get("depends_on", {}).get(earlier, {}).get("condition")
        if condition != "service_completed_successfully":
            problem(f"docker/compose.yaml: {later} must wait for {earlier} to complete")

    name = f"smarthost_compose_{os.getpid()}"
    psql(base, "-c", f"CREATE DATABASE {name}")
    url = database_url(base, name)
    try:
        for round_ in ("first up", "second up"):
            for service in ORDER:
                command = list(services[service]["command"])
                if command[0] == "psql":
                    # The statement, against the test database instead of host postgres.
                    statement = command[command.index("-c") + 1]
                    run = psql(url, "-c", statement, check=False)
                else:
                    mounts = {v.split(":")[1]: v.split(":")[0] for v in services[service]["volumes"]}
                    config = (docker / mounts[CONFIG_IN_IMAGE]).resolve()
                    command[command.index("--config") + 1] = str(config)
                    run = subprocess.run([binary, *command], env=smarthost_env(url),
                                         capture_output=True, text=True, timeout=120)
                if run.returncode != 0:
                    problem(f"compose service {service} ({round_}) failed: {run.stderr.strip()}")
                    return problem.exit_code("compose setup")
            print(f"ok: {round_}: {', '.join(ORDER)} succeeded")
        row = psql(url, "-At", "-c", """
            SELECT a.name, c.username, c.enabled, d.domain, d.status
              FROM accounts a JOIN credentials c ON c.account_id = a.id
              JOIN sender_domains d ON d.account_id = a.id""").stdout.strip()
        if row != "demo|demo|t|example.com|verified":
            problem(f"after the compose setup: {row!r}, expected the demo account, credential "
                    "and verified sender domain example.com")
    finally:
        psql(base, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
    return problem.exit_code("compose setup")


if __name__ == "__main__":
    sys.exit(main())
