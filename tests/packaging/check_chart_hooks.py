#!/usr/bin/env python3
"""Runs the chart's hook Jobs' commands for real against PostgreSQL.

1. The migration Job's container args (templates/migration-job.yaml) with the chart's
   configuration rendered from values.yaml: `smarthost --config ... migrate` on a fresh
   database.
2. The admin-token Job's script (files/bootstrap-token.sql) with psql, twice (the second
   run, as on every `helm upgrade`, changes nothing), and once with a too short token,
   which must fail.
3. A real `smarthost serve --roles admin` then accepts the registered token as a Bearer
   token, and still refuses another one.

usage: check_chart_hooks.py SOURCE_DIR SMARTHOST_BINARY
needs SMARTHOST_TEST_DATABASE_URL (a database to connect to for CREATE DATABASE).
"""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from chart_template import render_subset  # noqa: E402
from smarthost_binary import (  # noqa: E402
    Problems,
    free_port,
    smarthost_env,
    source_binary_and_database,
)


def database_url(base, name):
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + name))


def psql(url, *args, env=None, check=True):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
                          capture_output=True, text=True, env=env, check=check)


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    source, binary, base = source_binary_and_database(__doc__)
    chart = source / "helm" / "smarthost"
    problem = Problems()
    values = yaml.safe_load((chart / "values.yaml").read_text())
    rendered = render_subset((chart / "files" / "smarthost.toml").read_text(), values,
                             "files/smarthost.toml")
    job = (chart / "templates" / "migration-job.yaml").read_text()
    args = json.loads(re.search(r"^\s*args:\s*(\[.*\])\s*$", job, re.M).group(1))
    psql_command = re.search(r"exec (psql [^']*)", job).group(1)

    name = f"smarthost_hooks_{os.getpid()}"
    psql(base, "-c", f"CREATE DATABASE {name}")
    url = database_url(base, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "smarthost.toml"
            config.write_text(rendered)
            args[args.index("--config") + 1] = str(config)
            migrated = subprocess.run([binary, *args], env=smarthost_env(url),
                                      capture_output=True, text=True, timeout=120)
            if migrated.returncode != 0:
                problem(f"the migration Job's `smarthost {' '.join(args)}` failed: {migrated.stderr}")
                return problem.exit_code("chart hooks")
            print(f"ok: migration Job: {migrated.stdout.strip()}")

            # The Job's own psql command line, with the script where the Job mounts it.
            script = chart / "files" / "bootstrap-token.sql"
            command = psql_command.replace("/sql/bootstrap-token.sql", str(script))
            command = command.replace('"$SMARTHOST_DATABASE_URL"', url)
            token = "sht_" + secrets.token_urlsafe(32)
            job_env = dict(os.environ, SMARTHOST_ADMIN_TOKEN=token,
                           SMARTHOST_ADMIN_TOKEN_NAME="bootstrap")
            for attempt in ("install", "upgrade"):
                run = subprocess.run(command.split(), env=job_env, capture_output=True, text=True)
                if run.returncode != 0:
                    problem(f"admin-token Job ({attempt}): {command} failed: {run.stderr}")
            short = subprocess.run(command.split(), capture_output=True, text=True,
                                   env=dict(job_env, SMARTHOST_ADMIN_TOKEN="sht_short",
                                            SMARTHOST_ADMIN_TOKEN_NAME="short"))
            if short.returncode == 0:
                problem("admin-token Job accepted a 9-character token")
            rows = psql(url, "-At", "-c", "SELECT name FROM api_tokens ORDER BY name").stdout.split()
            if rows != ["bootstrap"]:
                problem(f"api_tokens holds {rows} after the admin-token Job, expected ['bootstrap']")

            port = free_port()
            config.write_text(f'[server]\nhostname = "hooks.test"\n'
                              f'[admin]\naddress = "127.0.0.1:{port}"\n')
            server = subprocess.Popen([binary, "--config", str(config), "serve", "--roles", "admin"],
                                      env=smarthost_env(url), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            try:
                endpoint = f"http://127.0.0.1:{port}/api/v1/tokens"
                deadline = time.monotonic() + 30
                status = None
                while time.monotonic() < deadline and server.poll() is None:
                    try:
                        status = get(endpoint, token)
                        break
                    except (ConnectionError, urllib.error.URLError):
                        time.sleep(0.1)
                if status != 200:
                    problem(f"the admin API answered {status} to the registered token")
                else:
                    print("ok: the admin API accepts the token the admin-token Job registered")
                other = get(endpoint, "sht_" + secrets.token_urlsafe(32))
                if other != 401:
                    problem(f"the admin API answered {other} to an unregistered token")
            finally:
                server.terminate()
                server.wait(timeout=60)
    finally:
        psql(base, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
    return problem.exit_code("chart hooks")


if __name__ == "__main__":
    sys.exit(main())
