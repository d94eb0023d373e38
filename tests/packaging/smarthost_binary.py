"""Runs the real smarthost binary on a packaged command line (chart, Dockerfile, compose)."""

import os
import random
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

# Never reached: `serve --check-config` does not touch the database, but loading the
# configuration needs a URL, which the packages take from SMARTHOST_DATABASE_URL.
UNREACHABLE_DATABASE = "postgresql://smarthost@127.0.0.1:1/smarthost"


def source_binary_and_database(usage):
    """The checkout, the smarthost binary (the two arguments) and SMARTHOST_TEST_DATABASE_URL
    of a check that runs against PostgreSQL; exits with usage or a reason otherwise."""
    if len(sys.argv) != 3:
        print(usage)
        raise SystemExit(2)
    base = os.environ.get("SMARTHOST_TEST_DATABASE_URL")
    if not base:
        print("SMARTHOST_TEST_DATABASE_URL is not set (./dev test sets it)")
        raise SystemExit(1)
    return Path(sys.argv[1]), sys.argv[2], base


def smarthost_env(database_url, **extra):
    """This environment without SMARTHOST_* variables (a developer's SMARTHOST_CONFIG must
    not change what is checked), plus the database URL and extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTHOST_")}
    env.update(SMARTHOST_DATABASE_URL=database_url, **extra)
    return env


def free_port():
    """A port below the kernel's ephemeral range (tests/support/free_port.hpp says why)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            start = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        start = 32768
    candidates = [random.randrange(start - 10000, start) for _ in range(100)] \
        if start - 10000 >= 1024 else []
    for port in candidates + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


class Problems:
    """Collects failures, so one run reports all of them."""

    def __init__(self):
        self.messages = []

    def __call__(self, message):
        self.messages.append(message)

    def exit_code(self, what):
        for message in self.messages:
            print(f"FAIL: {message}")
        if not self.messages:
            print(f"{what}: all checks passed")
        return 1 if self.messages else 0


def self_signed_certificate(directory):
    """A throw-away certificate and key for `--check-config`, which loads both."""
    cert, key = Path(directory) / "tls.crt", Path(directory) / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def run_check_config(binary, args, container_config, local_config, problem, what):
    """Runs `smarthost <args> --check-config`, where args is a packaged command line
    (without the executable) naming container_config, replaced by the local copy
    local_config. Reports through problem; returns whether the binary accepted it."""
    args = list(args)
    if "--config" not in args or args.index("--config") + 1 >= len(args):
        problem(f"{what}: {args} has no --config FILE")
        return False
    at = args.index("--config") + 1
    if args[at] != container_config:
        problem(f"{what}: --config {args[at]}, but the configuration is mounted at {container_config}")
        return False
    if "serve" not in args:
        problem(f"{what}: {args} does not run `serve`")
        return False
    args[at] = str(local_config)
    with tempfile.TemporaryDirectory() as tls_dir:
        cert, key = self_signed_certificate(tls_dir)
        env = smarthost_env(UNREACHABLE_DATABASE, SMARTHOST_TLS_CERTIFICATE=str(cert),
                            SMARTHOST_TLS_PRIVATE_KEY=str(key))
        result = subprocess.run([binary, *args, "--check-config"], env=env,
                                capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or "configuration OK" not in result.stdout:
        problem(f"{what}: smarthost {' '.join(args)} --check-config exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()}")
        return False
    print(f"ok: {what}: {result.stdout.strip()}")
    return True
