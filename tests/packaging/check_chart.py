#!/usr/bin/env python3
"""Checks helm/smarthost without a helm binary (docs/operations.md, "Checks").

- Chart.yaml, values.yaml and the YAML files under files/ parse; every template's
  {{ }} blocks are balanced.
- Every values path a template uses exists in values.yaml, and every value is used.
- files/smarthost-rules.yml is byte-for-byte docs/alerts/smarthost-rules.yml.
- files/smarthost.toml, rendered from values.yaml, is accepted by the real binary with
  each role's container args: `smarthost --config ... serve --roles R --check-config`.
- Mount paths, port names, the termination grace, the security context and the hooks
  agree with what the binary and the image need.

usage: check_chart.py SOURCE_DIR SMARTHOST_BINARY [--proxy-protocol]
  --proxy-protocol: render with smtp.proxyProtocol on instead; exits 77 (skipped) while
  the configuration reference does not document [smtp] proxy_protocol yet.
"""

import copy
import json
import re
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from chart_template import (TemplateError, actions, covers, is_comment, job_args,  # noqa: E402
                            job_documents, leaves, lookup, render_subset, values_references)
from smarthost_binary import Problems, run_check_config  # noqa: E402

ROLES = ("smtp", "delivery", "admin")
CONFIG_IN_CONTAINER = "/etc/smarthost/smarthost.toml"
TLS_DIR_IN_CONTAINER = "/etc/smarthost/tls"
# The uid of the image's user (docker/Dockerfile, USER); check_docker.py checks that side.
IMAGE_UID = 10001
SKIPPED = 77


def load_yaml(path, problem):
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        problem(f"{path}: does not parse as YAML: {e}")
        return None


def check_values_paths(chart, values, problem):
    used = []
    files = sorted((chart / "templates").glob("*")) + [chart / "files" / "smarthost.toml"]
    for path in files:
        try:
            refs = values_references(path.read_text(), str(path.relative_to(chart)))
        except TemplateError as e:
            problem(str(e))
            continue
        for ref, where in refs:
            try:
                lookup(values, ref)
            except KeyError as e:
                problem(f"{where}: .Values.{'.'.join(ref)}: {e} is not in values.yaml")
            used.append(ref)
    for leaf in leaves(values):
        if not any(covers(ref, leaf) for ref in used):
            problem(f"values.yaml: {'.'.join(leaf)} is used by no template")
    print(f"ok: {len(used)} values references in {len(files)} files")


def container_args(template_text, what, problem):
    """The `args: [...]` flow list of a template, as a list of strings per role."""
    found = re.findall(r"^\s*args:\s*(\[.*\])\s*$", template_text, re.M)
    if len(found) != 1:
        problem(f"{what}: expected one `args: [...]` line, found {len(found)}")
        return None
    return found[0]


def render_config(chart, values, problem):
    text = (chart / "files" / "smarthost.toml").read_text()
    try:
        rendered = render_subset(text, values, "files/smarthost.toml")
    except (TemplateError, KeyError) as e:
        problem(f"files/smarthost.toml: {e}")
        return None, None
    try:
        return rendered, tomllib.loads(rendered)
    except tomllib.TOMLDecodeError as e:
        problem(f"files/smarthost.toml rendered from values.yaml is not TOML: {e}\n{rendered}")
        return None, None


def check_rendered_config(chart, values, binary, problem, what):
    rendered, config = render_config(chart, values, problem)
    if config is None:
        return None
    if values["config"]["extraToml"]:
        # templates/_helpers.tpl, "smarthost.config": the file, then config.extraToml.
        rendered += "\n\n# config.extraToml\n" + values["config"]["extraToml"]
        try:
            config = tomllib.loads(rendered)
        except tomllib.TOMLDecodeError as e:
            problem(f"{what}: config.extraToml does not fit after files/smarthost.toml: {e}")
            return None
    deployments = (chart / "templates" / "deployments.yaml").read_text()
    args_line = container_args(deployments, "templates/deployments.yaml", problem)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "smarthost.toml"
        local.write_text(rendered)
        if args_line:
            for role in ROLES:
                args = json.loads(args_line.replace("{{ $role | quote }}", json.dumps(role)))
                run_check_config(binary, args, CONFIG_IN_CONTAINER, local, problem,
                                 f"{what}, role {role}")
    return config


def check_config_extras(chart, values, binary, problem):
    """config.sections.<section> lines land in their section, config.extraToml tables
    after the file, and the binary accepts the result."""
    values = copy.deepcopy(values)
    sections = values["config"]["sections"]
    samples = {"server": ("", None), "database": ("", None), "admin": ("", None),
               "metrics": ("", None), "log": ("", None),
               "smtp": ("max_errors = 5\n", ("smtp", "max_errors", 5)),
               "delivery": ('source_address = "192.0.2.25"\ndns_timeout_ms = 5000\n',
                            ("delivery", "source_address", "192.0.2.25")),
               "policy": ("account_cache_ms = 1000\n", ("policy", "account_cache_ms", 1000))}
    if set(samples) != set(sections):
        problem(f"values.yaml: config.sections has {sorted(sections)}, the test knows {sorted(samples)}")
        return
    for section, (lines, _) in samples.items():
        sections[section] = lines
    values["config"]["extraToml"] = "[limits]\nmessages_per_hour = 2000\n"
    config = check_rendered_config(chart, values, binary, problem, "chart config with config.sections and extraToml")
    if config is None:
        return
    expected = [e for _, e in samples.values() if e] + [("limits", "messages_per_hour", 2000)]
    for section, key, value in expected:
        if config.get(section, {}).get(key) != value:
            problem(f"files/smarthost.toml: {section}.{key} rendered as {config.get(section, {}).get(key)!r}, "
                    f"expected {value!r}")


def hook_jobs(chart, problem):
    """{what: Job document} of templates/migration-job.yaml: the migration Job and the
    admin-token Job (rendered when adminToken.existingSecret is set)."""
    jobs = job_documents((chart / "templates" / "migration-job.yaml").read_text())
    if sorted(jobs) != ["admin-token", "migrate"]:
        problem(f"templates/migration-job.yaml: expected the Jobs admin-token and migrate, found {sorted(jobs)}")
    return {f"migration-job.yaml, Job {component}": document for component, document in jobs.items()}


def check_mounts_and_paths(chart, values, config, problem):
    deployments = (chart / "templates" / "deployments.yaml").read_text()
    job = (chart / "templates" / "migration-job.yaml").read_text()
    jobs = hook_jobs(chart, problem)
    for name, text in [("deployments.yaml", deployments), *jobs.items()]:
        if not re.search(r"mountPath: " + re.escape(CONFIG_IN_CONTAINER) + r"\n\s*subPath: smarthost.toml", text):
            problem(f"templates/{name}: smarthost.toml is not mounted at {CONFIG_IN_CONTAINER}")
    # Both Jobs run the release's smarthost image, as the Deployments do.
    for name, text in jobs.items():
        if 'image: {{ include "smarthost.image" . }}' not in text:
            problem(f"templates/{name}: does not run the smarthost image (smarthost.image)")
    if f"mountPath: {TLS_DIR_IN_CONTAINER}\n" not in deployments:
        problem(f"templates/deployments.yaml: the TLS secret is not mounted at {TLS_DIR_IN_CONTAINER}")
    tls = config.get("tls", {})
    # A kubernetes.io/tls Secret has the keys tls.crt and tls.key.
    for key, file in (("certificate", "tls.crt"), ("private_key", "tls.key")):
        if tls.get(key) != f"{TLS_DIR_IN_CONTAINER}/{file}":
            problem(f"files/smarthost.toml: tls.{key} is {tls.get(key)!r}, the Secret mounts "
                    f"{TLS_DIR_IN_CONTAINER}/{file}")
    try:
        migrate = job_args(job, "migrate", values, "templates/migration-job.yaml")
        if migrate != ["--config", CONFIG_IN_CONTAINER, "migrate"]:
            problem(f"templates/migration-job.yaml: the Job runs {migrate}, not smarthost migrate")
        # The token itself comes from the Secret through the environment, never argv.
        with_token = copy.deepcopy(values)
        with_token["adminToken"]["existingSecret"] = "admin-token"
        token = job_args(job, "admin-token", with_token, "templates/migration-job.yaml")
        expected = ["--config", CONFIG_IN_CONTAINER, "token", "import", "--name",
                    values["adminToken"]["name"]]
        if token != expected:
            problem(f"templates/migration-job.yaml: the admin-token Job runs {token}, not {expected}")
    except TemplateError as e:
        problem(str(e))
    admin_token_job = job_documents(job).get("admin-token", "")
    if not re.search(r"- name: SMARTHOST_ADMIN_TOKEN\n\s*valueFrom:\n\s*secretKeyRef:", admin_token_job):
        problem("templates/migration-job.yaml: the admin-token Job does not take "
                "SMARTHOST_ADMIN_TOKEN from adminToken.existingSecret")


def check_grace(values, config, problem):
    # docs/configuration.md, "Signals": after SIGTERM the process exits at the latest 10 s
    # after the longer of [server] and [delivery] shutdown_grace_seconds.
    delivery_grace = config.get("delivery", {}).get("shutdown_grace_seconds", 30)
    server_grace = config.get("server", {}).get("shutdown_grace_seconds", 30)
    drain = max(server_grace, delivery_grace) + 10
    pre_stop = values.get("preStopSleepSeconds", 0)
    grace = values.get("terminationGracePeriodSeconds", 30)
    if grace <= pre_stop + drain:
        problem(f"values.yaml: terminationGracePeriodSeconds {grace} does not outlast the "
                f"preStop sleep ({pre_stop} s) and the server's drain of up to {drain} s: "
                "Kubernetes would SIGKILL it")


def memory_bytes(quantity):
    """A Kubernetes memory quantity ("512Mi", "1G", "268435456") in bytes, or None."""
    units = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"(\d+)(k|M|G|Ki|Mi|Gi)?", str(quantity))
    return int(match.group(1)) * units[match.group(2) or ""] if match else None


def check_body_memory(values, config, problem):
    # A body flood must meet the 452 of max_body_bytes_in_memory before the container's
    # memory limit: the process takes about 1.25 × its bound plus its own ~15 MiB at peak
    # (bench/RESULTS.md, "Body memory"); 64 MiB leaves room for sessions and buffers.
    for role in ("smtp", "delivery"):
        bound = config.get(role, {}).get("max_body_bytes_in_memory")
        limit = values["roles"][role].get("resources", {}).get("limits", {}).get("memory")
        if bound is None:
            problem(f"files/smarthost.toml: [{role}] max_body_bytes_in_memory is not set: "
                    "the binary's 1 GiB default exceeds the chart's memory limits")
            continue
        limit_bytes = memory_bytes(limit) if limit is not None else None
        if limit_bytes is None:
            problem(f"values.yaml: roles.{role}.resources.limits.memory {limit!r} is not a "
                    "memory quantity this check reads")
        elif bound * 5 // 4 + 64 * 2**20 > limit_bytes:
            problem(f"values.yaml: [{role}] max_body_bytes_in_memory {bound} needs a memory "
                    f"limit of at least 1.25 × it + 64 MiB; roles.{role} has {limit}")


def check_security(chart, values, problem):
    pod = values.get("podSecurityContext", {})
    container = values.get("securityContext", {})
    expectations = [
        (pod.get("runAsNonRoot") is True, "podSecurityContext.runAsNonRoot must be true"),
        (pod.get("runAsUser") == IMAGE_UID, f"podSecurityContext.runAsUser must be the image's uid {IMAGE_UID}"),
        (pod.get("seccompProfile", {}).get("type") == "RuntimeDefault",
         "podSecurityContext.seccompProfile.type must be RuntimeDefault"),
        (container.get("readOnlyRootFilesystem") is True, "securityContext.readOnlyRootFilesystem must be true"),
        (container.get("allowPrivilegeEscalation") is False, "securityContext.allowPrivilegeEscalation must be false"),
        ("ALL" in container.get("capabilities", {}).get("drop", []), "securityContext must drop ALL capabilities"),
    ]
    for ok, message in expectations:
        if not ok:
            problem(f"values.yaml: {message}")
    documents = [("deployments.yaml", (chart / "templates" / "deployments.yaml").read_text()),
                 *hook_jobs(chart, problem).items()]
    for name, text in documents:
        for key in ("podSecurityContext", "securityContext"):
            if not re.search(r"toYaml \$?\.Values\." + key + r" \|", text):
                problem(f"templates/{name}: does not apply .Values.{key}")
    # Every listener port must be unprivileged: the container has no capability.
    for name, listener in values["smtp"]["listeners"].items():
        if listener["containerPort"] < 1024:
            problem(f"values.yaml: smtp.listeners.{name}.containerPort {listener['containerPort']} "
                    "needs CAP_NET_BIND_SERVICE, which the pods drop")


def check_port_names(chart, problem):
    """Services, probes and NetworkPolicies name container ports: those names must exist
    (a typo leaves a Service without endpoints, a probe failing, a port blocked)."""
    templates = chart / "templates"
    deployments = (templates / "deployments.yaml").read_text()
    declared = set(re.findall(r"^\s*- name: ([\w-]+)\n\s*containerPort:", deployments, re.M))
    for name in declared:
        if len(name) > 15 or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name):
            problem(f"templates/deployments.yaml: port name {name!r} is not an IANA_SVC_NAME")
    references = [("services.yaml", r"targetPort: ([a-z][\w-]*)"),
                  ("deployments.yaml", r"^\s*port: ([a-z][\w-]*)"),
                  ("networkpolicies.yaml", r"- port: ([a-z][\w-]*)"),
                  ("servicemonitor.yaml", r"- port: ([a-z][\w-]*)")]
    for name, pattern in references:
        for port in re.findall(pattern, (templates / name).read_text(), re.M):
            if port not in declared and not (name == "servicemonitor.yaml" and port == "metrics"):
                problem(f"templates/{name}: port {port!r} is no container port of the Deployments "
                        f"({sorted(declared)})")
    print(f"ok: container ports {sorted(declared)}")


def check_hooks(chart, problem):
    # Each resource of the file (the migration Job, its ConfigMap, the admin-token Job)
    # is a hook of the same phases, created before the release's own resources.
    documents = (chart / "templates" / "migration-job.yaml").read_text().split("\n---\n")
    kinds = []
    for document in documents:
        kind = re.search(r"^kind: (\w+)", document, re.M)
        name = re.search(r"^  name: (.*)$", document, re.M)
        what = f"templates/migration-job.yaml, {kind.group(1) if kind else '?'} {name.group(1) if name else '?'}"
        kinds.append(kind.group(1) if kind else None)
        for needle in ("helm.sh/hook: pre-install,pre-upgrade",
                       "helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded",
                       "helm.sh/hook-weight: "):
            if needle not in document:
                problem(f"{what}: missing {needle!r}")
    if kinds[:2] != ["ConfigMap", "Job"]:
        problem(f"templates/migration-job.yaml: expected the hook ConfigMap and the migration Job, found {kinds}")


def check_rules_copy(source, chart, problem):
    original = source / "docs" / "alerts" / "smarthost-rules.yml"
    copy_ = chart / "files" / "smarthost-rules.yml"
    if not copy_.exists() or copy_.read_bytes() != original.read_bytes():
        problem(f"{copy_.relative_to(source)} differs from docs/alerts/smarthost-rules.yml: "
                f"cp {original.relative_to(source)} {copy_.relative_to(source)}")
    template = (chart / "templates" / "prometheusrule.yaml").read_text()
    code = " ".join(body for _, body, _, _, _ in actions(template) if not is_comment(body))
    if '.Files.Get "files/smarthost-rules.yml"' not in code or re.search(r"\btpl\b", code):
        problem("templates/prometheusrule.yaml must include files/smarthost-rules.yml with "
                ".Files.Get and without tpl (the rules contain Prometheus templates)")


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        return 2
    source, binary = Path(sys.argv[1]), sys.argv[2]
    proxy_mode = sys.argv[3:] == ["--proxy-protocol"]
    chart = source / "helm" / "smarthost"
    problem = Problems()

    if proxy_mode:
        reference = (source / "docs" / "configuration.md").read_text()
        if "proxy_protocol" not in reference or "trusted_proxies" not in reference:
            print("skipped: docs/configuration.md documents no [smtp] proxy_protocol / "
                  "trusted_proxies yet, so the binary cannot accept them")
            return SKIPPED
        values = load_yaml(chart / "values.yaml", problem)
        values = copy.deepcopy(values)
        values["smtp"]["proxyProtocol"] = {"enabled": True, "trustedProxies": ["10.0.0.0/8", "fd00::/8"]}
        config = check_rendered_config(chart, values, binary, problem, "chart config with PROXY protocol")
        if config is not None:
            smtp = config.get("smtp", {})
            if smtp.get("proxy_protocol") is not True or smtp.get("trusted_proxies") != ["10.0.0.0/8", "fd00::/8"]:
                problem(f"files/smarthost.toml: PROXY protocol on renders [smtp] {smtp}")
        return problem.exit_code("helm chart (PROXY protocol)")

    chart_yaml = load_yaml(chart / "Chart.yaml", problem)
    values = load_yaml(chart / "values.yaml", problem)
    for path in sorted((chart / "files").glob("*.yml")):
        load_yaml(path, problem)
    if chart_yaml is not None:
        if chart_yaml.get("apiVersion") != "v2" or chart_yaml.get("name") != chart.name:
            problem(f"Chart.yaml: apiVersion must be v2 and name {chart.name}")
        if not re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", str(chart_yaml.get("version", ""))):
            problem("Chart.yaml: version must be SemVer 2")
    if values is None:
        return problem.exit_code("helm chart")

    check_values_paths(chart, values, problem)
    check_rules_copy(source, chart, problem)
    check_hooks(chart, problem)
    check_port_names(chart, problem)
    check_security(chart, values, problem)
    config = check_rendered_config(chart, values, binary, problem, "chart config")
    if config is not None:
        check_mounts_and_paths(chart, values, config, problem)
        check_grace(values, config, problem)
        check_body_memory(values, config, problem)
    check_config_extras(chart, values, binary, problem)
    return problem.exit_code("helm chart")


if __name__ == "__main__":
    sys.exit(main())
