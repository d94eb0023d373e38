#!/usr/bin/env python3
"""Checks docker/ without a Docker engine (docs/operations.md, "Checks").

- The build stage installs deps/debian-build.txt, the list ./dev installs, with ./dev's
  own filter, and the sources it COPYs configure with its own cmake command; the runtime
  stage installs deps/debian-runtime.txt. That list names the
  package of every library the binary links against (readelf -d, ldd, dpkg -S), and every
  other library ldd finds comes from their dependencies (dpkg's Depends, recursively).
- The image's command line (ENTRYPOINT + CMD) with its default configuration, and the
  serving command line of compose.yaml with the configuration it mounts, are accepted by
  the real binary (`--check-config`); check_compose_setup.py runs the one-shot ones.
- The HEALTHCHECK script answers 0 against a running smarthost's metrics listener and
  not 0 once it is gone.
- compose.yaml parses, its order (postgres healthy -> migrate -> smarthost) holds, the
  files it mounts exist, its Prometheus loads the project's alerting rules.

usage: check_docker.py SOURCE_DIR SMARTHOST_BINARY [--sanitizer-build]
  --sanitizer-build: the binary links ASan/UBSan runtimes, which the image never has.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from smarthost_binary import (UNREACHABLE_DATABASE, Problems, free_port,  # noqa: E402
                              run_check_config, smarthost_env)

CONFIG_IN_IMAGE = "/etc/smarthost/smarthost.toml"
SANITIZER_PACKAGES = {"libasan8", "libubsan1"}


def instructions(dockerfile):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, rest = current.strip().partition(" ")
        logical.append((keyword.upper(), rest.strip()))
        current = ""
    return logical


def stages(dockerfile):
    """{stage name: [(instruction, arguments)]} in order."""
    result, name = {}, None
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            name = m.group(2) or m.group(1)
            result[name] = [(keyword, rest)]
        elif name is not None:
            result[name].append((keyword, rest))
    return result


def package_list(path):
    """The packages of a deps list, as ./dev's package_list reads it."""
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def dev_filter(source):
    """The body of ./dev's package_list(): the filter the Dockerfile must use too."""
    m = re.search(r"^package_list\(\)\s*\{\s*(.*?);?\s*\}\s*$", (source / "dev").read_text(), re.M)
    return m.group(1).replace(' "$@"', "") if m else None


def check_installs(source, stage, list_path, problem, what):
    """The stage COPYs list_path and installs exactly what it names, through ./dev's filter."""
    copies = [rest for keyword, rest in stage if keyword == "COPY" and rest.split()[0] == list_path]
    if not copies:
        problem(f"docker/Dockerfile, {what}: does not COPY {list_path}")
        return
    in_image = copies[0].split()[-1]
    installs = [rest for keyword, rest in stage if keyword == "RUN" and "apt-get install" in rest]
    if len(installs) != 1:
        problem(f"docker/Dockerfile, {what}: expected one RUN with apt-get install, found {len(installs)}")
        return
    command = installs[0]
    filter_ = dev_filter(source)
    expected = filter_.replace("grep -hv '^#'", f"grep -hv '^#' {in_image}", 1) if filter_ else None
    if expected is None or expected not in command:
        problem(f"docker/Dockerfile, {what}: does not install {in_image} through ./dev's filter "
                f"({filter_!r}): {command}")
    # Nothing but the list: after `apt-get install` and its options come no package names.
    tail = command.split("apt-get install", 1)[1].split("&&", 1)[0]
    extra = [word for word in shlex.split(tail) if not word.startswith("-")]
    if extra:
        problem(f"docker/Dockerfile, {what}: installs {extra} besides {list_path}")


def owning_packages(paths):
    """{path: the Debian package that installed it} for library paths (one dpkg -S)."""
    # Debian 12 registers files under /lib or /usr/lib, whichever ldd did not print.
    candidates = {}
    for path in paths:
        for p in (str(Path(path)), str(Path(path).resolve())):
            for variant in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
                candidates.setdefault(variant, path)
    found = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True)
    owners = {}
    for line in found.stdout.splitlines():
        packages, _, file = line.partition(": ")
        if file in candidates:
            owners.setdefault(candidates[file], packages.split(",")[0].split(":")[0].strip())
    return owners


def shared_libraries(binary, problem):
    """{soname: (path, package)} of every shared library ldd resolves for binary, and the
    sonames the binary itself names (DT_NEEDED)."""
    result = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    paths = {}
    for line in result.stdout.splitlines():
        if "not found" in line:
            problem(f"ldd {binary}: {line.strip()}")
            continue
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)\s+\(0x", line) or re.match(r"\s*((/\S+))\s+\(0x", line)
        if m:  # not linux-vdso: in the kernel, not a file
            paths[Path(m.group(1)).name] = m.group(2)
    owners = owning_packages(paths.values())
    libraries = {}
    for soname, path in paths.items():
        if path not in owners:
            problem(f"ldd {binary}: no Debian package owns {path}")
        else:
            libraries[soname] = (path, owners[path])
    dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic.stdout)
    return libraries, needed


def dependency_closure(packages):
    """The packages apt installs for packages: their Depends and Pre-Depends, recursively,
    as recorded by dpkg on this (Debian 12) machine."""
    status = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n"],
                            capture_output=True, text=True, check=True)
    depends = {}
    for line in status.stdout.splitlines():
        package, _, fields = line.partition("\t")
        names = [alternative.strip().split(" ")[0].split(":")[0]
                 for clause in fields.split(",") for alternative in clause.split("|")]
        depends.setdefault(package, set()).update(n for n in names if n)
    closure, pending = set(), list(packages)
    while pending:
        package = pending.pop()
        if package not in closure:
            closure.add(package)
            pending.extend(depends.get(package, ()))
    return closure


def check_runtime_libraries(source, binary, sanitizer_build, problem):
    """The libraries the binary names come from packages the runtime list names; what
    those load in turn comes from their dependencies, which apt installs with them."""
    runtime = set(package_list(source / "deps" / "debian-runtime.txt"))
    libraries, needed = shared_libraries(binary, problem)
    if sanitizer_build:
        libraries = {s: lib for s, lib in libraries.items() if lib[1] not in SANITIZER_PACKAGES}
        needed = [s for s in needed if s in libraries]
    direct = set()
    for soname in needed:
        if soname not in libraries:
            problem(f"{binary} needs {soname}, which ldd did not resolve")
            continue
        path, package = libraries[soname]
        direct.add(package)
        if package not in runtime:
            problem(f"deps/debian-runtime.txt lacks {package} (provides {path}, which "
                    f"{Path(binary).name} links against)")
    closure = dependency_closure(runtime)
    for soname, (path, package) in sorted(libraries.items()):
        if package not in closure:
            problem(f"{path} ({package}), loaded by {Path(binary).name}, is installed by no "
                    "package of deps/debian-runtime.txt nor their dependencies")
    print(f"ok: the binary links against {sorted(direct)}; all {len(libraries)} libraries "
          "it loads come with deps/debian-runtime.txt")


def check_build_context(source, stage, problem):
    """The sources the build stage COPYs are enough to configure the build the way its
    RUN does (a new top-level directory the build needs fails here, not in a docker build)."""
    run = [rest for keyword, rest in stage if keyword == "RUN" and rest.lstrip().startswith("cmake ")]
    if not run:
        problem("docker/Dockerfile: the build stage has no RUN cmake ...")
        return
    configure = shlex.split(run[0].split("&&")[0])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "src"
        workdir.mkdir()
        for keyword, rest in stage:
            if keyword != "COPY" or rest.startswith("--from"):
                continue
            *sources, destination = rest.split()
            if destination.startswith("/"):
                continue  # the package list, outside the source tree
            for item in sources:
                target = workdir / (item if destination in (".", "./") else destination)
                if (source / item).is_dir():
                    shutil.copytree(source / item, target)
                else:
                    shutil.copy2(source / item, target)
        # Directories the build reads without add_subdirectory (schema/ for the embedded
        # migrations) do not fail the configure step: look for them by name.
        for cmake_file in [*workdir.rglob("CMakeLists.txt"), *workdir.rglob("*.cmake")]:
            for top in set(re.findall(r"\$\{PROJECT_SOURCE_DIR\}/([\w.-]+)", cmake_file.read_text())):
                if (source / top).exists() and not (workdir / top).exists():
                    problem(f"docker/Dockerfile: the build stage does not COPY {top}, which "
                            f"{cmake_file.relative_to(workdir)} uses")
        result = subprocess.run(configure, cwd=workdir, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        problem(f"docker/Dockerfile: `{' '.join(configure)}` fails on the COPYed sources: "
                f"{result.stderr.strip()[-800:]}")
    else:
        print(f"ok: `{' '.join(configure)}` configures from the sources the build stage copies")


def json_array(rest, what, problem):
    try:
        value = json.loads(rest)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    except json.JSONDecodeError:
        pass
    problem(f"docker/Dockerfile: {what} must be an exec-form JSON array (signals reach "
            f"smarthost, not a shell): {rest}")
    return None


def check_runtime_stage(source, stage, binary, problem):
    def last(keyword):
        found = [rest for k, rest in stage if k == keyword]
        return found[-1] if found else None

    user = last("USER")
    if not user or not re.fullmatch(r"[1-9]\d*(:\d+)?", user) or user.split(":")[0] == "0":
        problem(f"docker/Dockerfile: the runtime stage must run as a numeric non-root USER, has {user}")
    config_copy = [rest.split() for k, rest in stage if k == "COPY" and rest.split()[-1] == CONFIG_IN_IMAGE]
    if not config_copy:
        problem(f"docker/Dockerfile: nothing is copied to {CONFIG_IN_IMAGE}")
        return
    local_config = source / config_copy[0][-2]
    entrypoint = json_array(last("ENTRYPOINT") or "", "ENTRYPOINT", problem)
    cmd = json_array(last("CMD") or "", "CMD", problem)
    if entrypoint and cmd:
        if entrypoint != ["smarthost"]:
            problem(f"docker/Dockerfile: ENTRYPOINT {entrypoint}, expected [\"smarthost\"]")
        run_check_config(binary, cmd, CONFIG_IN_IMAGE, local_config, problem,
                         "Dockerfile ENTRYPOINT + CMD with docker/smarthost.toml")
    config = tomllib.loads(local_config.read_text())
    ports = {int(l["address"].rsplit(":", 1)[1]) for l in config.get("smtp", {}).get("listener", [])}
    for section in ("admin", "metrics"):
        if section in config:
            ports.add(int(config[section]["address"].rsplit(":", 1)[1]))
    exposed = {int(p.split("/")[0]) for k, rest in stage if k == "EXPOSE" for p in rest.split()}
    if exposed != ports:
        problem(f"docker/Dockerfile: EXPOSE {sorted(exposed)}, but docker/smarthost.toml listens on {sorted(ports)}")
    if config.get("metrics", {}).get("address") != "0.0.0.0:9125":
        problem("docker/smarthost.toml: [metrics] address must be 0.0.0.0:9125 (the HEALTHCHECK asks it)")
    healthcheck = last("HEALTHCHECK")
    if not healthcheck or "/usr/local/bin/smarthost-healthcheck" not in healthcheck:
        problem(f"docker/Dockerfile: HEALTHCHECK does not run smarthost-healthcheck: {healthcheck}")
    if not any(k == "COPY" and rest.split() == ["docker/healthcheck", "/usr/local/bin/smarthost-healthcheck"]
               for k, rest in stage):
        problem("docker/Dockerfile: docker/healthcheck is not copied to /usr/local/bin/smarthost-healthcheck")


def healthcheck(source, port):
    env = dict(os.environ, SMARTHOST_HEALTHCHECK_ADDRESS=f"127.0.0.1:{port}")
    return subprocess.run([str(source / "docker" / "healthcheck")], env=env,
                          capture_output=True, text=True, timeout=20)


def check_healthcheck(source, binary, problem):
    """The HEALTHCHECK script against a real smarthost (delivery role: no SMTP ports;
    /healthz answers whether or not PostgreSQL does)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "smarthost.toml"
        config.write_text(f'[server]\nhostname = "healthcheck.test"\n'
                          f'[metrics]\naddress = "127.0.0.1:{port}"\n')
        server = subprocess.Popen([binary, "--config", str(config), "serve", "--roles", "delivery"],
                                  env=smarthost_env(UNREACHABLE_DATABASE), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            result = healthcheck(source, port)
            while result.returncode != 0 and time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.1)
                result = healthcheck(source, port)
            if result.returncode != 0:
                problem(f"docker/healthcheck against a running smarthost exited {result.returncode}: "
                        f"{result.stderr.strip()}")
            else:
                print("ok: docker/healthcheck succeeds against a running smarthost")
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result = healthcheck(source, port)
    if result.returncode == 0:
        problem("docker/healthcheck succeeded with no smarthost listening")


def check_compose(source, binary, problem):
    docker = source / "docker"
    compose = yaml.safe_load((docker / "compose.yaml").read_text())
    services = compose.get("services", {})
    for name in ("postgres", "migrate", "smarthost", "sink", "prometheus"):
        if name not in services:
            problem(f"docker/compose.yaml: no service {name}")
    if problem.messages:
        return

    def condition(service, dependency):
        depends = services[service].get("depends_on", {})
        return depends.get(dependency, {}).get("condition") if isinstance(depends, dict) else None

    for service, dependency, wanted in (("migrate", "postgres", "service_healthy"),
                                        ("smarthost", "migrate", "service_completed_successfully")):
        if condition(service, dependency) != wanted:
            problem(f"docker/compose.yaml: {service} must depend on {dependency} with {wanted}")
    if "postgres:15" not in services["postgres"].get("image", ""):
        problem("docker/compose.yaml: postgres must run PostgreSQL 15")

    mounted = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            host, _, rest = volume.partition(":")
            if host.startswith("."):
                path = (docker / host).resolve()
                if not path.exists():
                    problem(f"docker/compose.yaml: {name} mounts {host}, which does not exist")
                mounted[(name, rest.split(":")[0])] = path
        build = service.get("build")
        if build:
            dockerfile = (docker / build["context"] / build.get("dockerfile", "Dockerfile"))
            if not dockerfile.exists():
                problem(f"docker/compose.yaml: {name} builds {dockerfile}, which does not exist")
    rules = mounted.get(("prometheus", "/etc/prometheus/rules/smarthost-rules.yml"))
    if rules != (source / "docs" / "alerts" / "smarthost-rules.yml").resolve():
        problem("docker/compose.yaml: prometheus must mount docs/alerts/smarthost-rules.yml into /etc/prometheus/rules/")
    prometheus_config = mounted.get(("prometheus", "/etc/prometheus/prometheus.yml"))
    if prometheus_config:
        result = subprocess.run(["promtool", "check", "config", "--syntax-only", str(prometheus_config)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            problem(f"promtool check config {prometheus_config}: {result.stdout}{result.stderr}")
        scrape = yaml.safe_load(prometheus_config.read_text())
        targets = [t for job in scrape.get("scrape_configs", []) for c in job.get("static_configs", [])
                   for t in c.get("targets", [])]
        if "smarthost:9125" not in targets:
            problem(f"{prometheus_config.name}: does not scrape smarthost:9125")

    # Every command line of the smarthost image in compose names the file it mounts; the
    # serving one passes --check-config here, the one-shot ones run for real in
    # check_compose_setup.py (CLI11 would accept any option before a --help).
    for name, service in services.items():
        if service.get("image") != services["smarthost"].get("image"):
            continue
        command = service.get("command", [])
        config = mounted.get((name, CONFIG_IN_IMAGE))
        if "--config" not in command or config is None:
            problem(f"docker/compose.yaml: {name} runs {command} without a mounted {CONFIG_IN_IMAGE}")
        elif "serve" in command:
            run_check_config(binary, command, CONFIG_IN_IMAGE, config, problem, f"compose service {name}")
    trial = tomllib.loads((docker / "trial" / "smarthost.toml").read_text())
    upstream = trial.get("delivery", {}).get("upstream", {})
    sink = " ".join(services["sink"].get("command", []))
    if upstream.get("host") != "sink" or f":{upstream.get('port')} " not in sink + " ":
        problem(f"docker/trial/smarthost.toml: [delivery.upstream] {upstream} is not the sink service ({sink})")
    grace = int(str(services["smarthost"].get("stop_grace_period", "10s")).rstrip("s"))
    # docs/configuration.md, "Signals": at most 10 s after the longer grace period.
    drain = max(trial.get("server", {}).get("shutdown_grace_seconds", 30),
                trial.get("delivery", {}).get("shutdown_grace_seconds", 30)) + 10
    if grace <= drain:
        problem(f"docker/compose.yaml: smarthost stop_grace_period {grace}s does not outlast its drain ({drain} s)")


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        return 2
    source, binary = Path(sys.argv[1]), sys.argv[2]
    sanitizer_build = sys.argv[3:] == ["--sanitizer-build"]
    problem = Problems()
    dockerfile = stages((source / "docker" / "Dockerfile").read_text())
    names = list(dockerfile)
    if len(names) != 2 or not all(dockerfile[n][0][1].split()[0].startswith("debian:12") for n in names):
        problem(f"docker/Dockerfile: expected two stages FROM debian:12, found {names}")
    else:
        build, runtime = dockerfile[names[0]], dockerfile[names[1]]
        check_installs(source, build, "deps/debian-build.txt", problem, "build stage")
        check_build_context(source, build, problem)
        check_installs(source, runtime, "deps/debian-runtime.txt", problem, "runtime stage")
        check_runtime_stage(source, runtime, binary, problem)
    check_runtime_libraries(source, binary, sanitizer_build, problem)
    check_healthcheck(source, binary, problem)
    check_compose(source, binary, problem)
    return problem.exit_code("docker")


if __name__ == "__main__":
    sys.exit(main())
