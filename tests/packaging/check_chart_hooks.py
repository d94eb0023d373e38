#!/usr/bin/env python3
"""Runs the chart's hook Jobs' commands for real against PostgreSQL.

1. The migration Job's container args (templates/migration-job.yaml) with the chart's
   configuration rendered from values.yaml: `smarthost --config ... migrate` on a fresh
   database.
2. The admin-token Job's container args (`smarthost --config ... token import --name
   <adminToken.name>`, the token in SMARTHOST_ADMIN_TOKEN as the Secret sets it): twice
   (the second run, as on every `helm upgrade`, changes nothing and exits 0); with the
   variable unset and with a too short token (exit 2); with a changed token under the
   same name (exit 1, naming the registered token's id); twice at once under a new name
   (both exit 0, one row). No run prints the token.
3. A real `smarthost serve --roles admin` then accepts the registered token as a Bearer
   token, and still refuses the changed one and another one.

usage: check_chart_hooks.py SOURCE_DIR SMARTHOST_BINARY
needs SMARTHOST_TEST_DATABASE_URL (a database to connect to for CREATE DATABASE).
"""

import os
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
from chart_template import job_args, render_subset  # noqa: E402
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
    args = job_args(job, "migrate", values, "templates/migration-job.yaml")
    with_token = dict(values, adminToken=dict(values["adminToken"], existingSecret="admin-token"))
    token_args = job_args(job, "admin-token", with_token, "templates/migration-job.yaml")
    token_name = values["adminToken"]["name"]

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

            token_args[token_args.index("--config") + 1] = str(config)
            token = "sht_" + secrets.token_urlsafe(32)
            changed = "sht_" + secrets.token_urlsafe(32)

            def start_import(secret, name=None):
                """Starts the admin-token Job's command with SMARTHOST_ADMIN_TOKEN=secret
                (unset when None), under another --name when given."""
                command = list(token_args)
                if name is not None:
                    command[command.index("--name") + 1] = name
                extra = {} if secret is None else {"SMARTHOST_ADMIN_TOKEN": secret}
                return subprocess.Popen([binary, *command], env=smarthost_env(url, **extra),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

            def finished(run, secret, what, expected_status):
                """Its output; reports an exit status other than expected_status and a
                printed token."""
                out, err = run.communicate(timeout=120)
                printed = (out + err).strip()
                if run.returncode != expected_status:
                    problem(f"admin-token Job ({what}): `smarthost {' '.join(token_args)}` exited "
                            f"{run.returncode}, expected {expected_status}: {printed}")
                elif secret and secret in printed:
                    problem(f"admin-token Job ({what}) printed the token")
                else:
                    print(f"ok: admin-token Job ({what}): exit {run.returncode}: {printed}")
                return printed

            finished(start_import(token), token, "install", 0)
            upgrade = finished(start_import(token), token, "upgrade, same token", 0)
            if "registered already" not in upgrade:
                problem(f"admin-token Job (upgrade): does not say the token is registered already: {upgrade}")
            finished(start_import(None), None, "variable unset", 2)
            finished(start_import("sht_short"), "sht_short", "9-character token", 2)
            bootstrap_id = psql(url, "-At", "-c",
                                f"SELECT id FROM api_tokens WHERE name = '{token_name}'").stdout.strip()
            rotated = finished(start_import(changed), changed,
                               "changed token under the same name", 1)
            if f"/api/v1/tokens/{bootstrap_id}/revoke" not in rotated:
                problem(f"admin-token Job (changed token): does not name the registered token "
                        f"{bootstrap_id} to revoke: {rotated}")
            # Two pods of the Job at once (a retried hook while the first still runs).
            racing_token = "sht_" + secrets.token_urlsafe(32)
            racing = [start_import(racing_token, "racing") for _ in range(2)]
            for run in racing:
                finished(run, racing_token, "two at once", 0)
            rows = psql(url, "-At", "-c", "SELECT name FROM api_tokens ORDER BY name").stdout.split()
            if rows != sorted([token_name, "racing"]):
                problem(f"api_tokens holds {rows} after the admin-token Job, "
                        f"expected {sorted([token_name, 'racing'])}")

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
                for what, refused in (("the changed", changed),
                                      ("an unregistered", "sht_" + secrets.token_urlsafe(32))):
                    other = get(endpoint, refused)
                    if other != 401:
                        problem(f"the admin API answered {other} to {what} token")
            finally:
                server.terminate()
                server.wait(timeout=60)
    finally:
        psql(base, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
    return problem.exit_code("chart hooks")


if __name__ == "__main__":
    sys.exit(main())
