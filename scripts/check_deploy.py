#!/usr/bin/env python3
"""Checks the deploy files under deploy/ against their engines' own schemas, and checks the
properties the deploy docs promise, so that breaking one fails CI. Run by
scripts/check-deploy.sh:

  check_deploy.py kubernetes RENDERED.yaml --sidecar BIN --version V --image-prefix P
  check_deploy.py ecs TASK_DEFINITION.json --sidecar BIN --version V
  check_deploy.py systemd UNIT --sidecar BIN

Each also runs `lattice-sidecar --check-config` with the flags and variables the file gives
the sidecar, so a flag the binary does not know fails here rather than at deploy time.
Every problem is listed; exit 1 if there is any.
"""

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys

# The oldest Kubernetes with native sidecars (an init container's `restartPolicy: Always`
# is beta and on by default from 1.29), and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.29.0", "latest"]
SIDECAR = "lattice-sidecar"
SIDECAR_UID = 65532
# Where the images put the binary (lattice-sidecar/Dockerfile's ENTRYPOINT).
IMAGE_BINARY = "/usr/local/bin/lattice-sidecar"
PROXY_URL = "http://127.0.0.1:8080"

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)
    return condition


def check_config(binary, args, env, what):
    """`lattice-sidecar --check-config` with a deploy file's flags and variables."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    environment.update(env)
    result = subprocess.run(
        [binary, *args, "--check-config"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    check(
        result.returncode == 0,
        f"{what}: lattice-sidecar {shlex.join(args)} --check-config exited "
        f"{result.returncode}: {result.stdout.strip()} {result.stderr.strip()}",
    )


def cpu_count(quantity):
    """A Kubernetes CPU quantity ("1", "1500m") as whole CPUs, rounded up the way a
    resourceFieldRef with divisor 1 does."""
    quantity = str(quantity)
    if quantity.endswith("m"):
        return math.ceil(int(quantity[:-1]) / 1000)
    return math.ceil(float(quantity))


def kubernetes(args):
    import kubernetes_validate
    import yaml

    with open(args.file) as file:
        objects = [o for o in yaml.safe_load_all(file) if o]
    kinds = {o["kind"]: o for o in objects}
    check(
        set(kinds) >= {"ServiceAccount", "Deployment"},
        f"rendered {sorted(kinds)}; want a ServiceAccount and a Deployment",
    )
    for obj in objects:
        name = f'{obj.get("kind")}/{obj.get("metadata", {}).get("name")}'
        if obj.get("apiVersion") == "monitoring.coreos.com/v1":
            continue  # a CRD kubernetes-validate has no schema for; checked below
        for version in KUBERNETES_VERSIONS:
            target = kubernetes_validate.latest_version() if version == "latest" else version
            try:
                kubernetes_validate.validate(obj, target, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name}: Kubernetes {target} schema: {error.message} at {list(error.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: no Kubernetes {target} schema for this kind")
    deployment = kinds.get("Deployment")
    if deployment is None:
        return
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    sidecars = [c for c in spec.get("initContainers", []) if c["name"] == SIDECAR]
    if not check(len(sidecars) == 1, "no init container named lattice-sidecar"):
        return
    sidecar = sidecars[0]
    check(sidecar.get("restartPolicy") == "Always", "the sidecar is not a native sidecar (restartPolicy: Always)")
    want_image = f"{args.image_prefix}lattice-sidecar:{args.version}"
    check(sidecar.get("image") == want_image, f"sidecar image {sidecar.get('image')}, want {want_image}")

    ports = {p["name"]: p["containerPort"] for p in sidecar.get("ports", [])}
    admin_port = ports.get("admin")
    check(admin_port is not None, "the sidecar has no port named admin")
    sidecar_args = sidecar.get("args", [])
    check(
        f"--admin-listen=0.0.0.0:{admin_port}" in sidecar_args,
        f"the admin listener is not on the pod's address at port {admin_port}: {sidecar_args}",
    )
    for probe, path in [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/livez")]:
        get = sidecar.get(probe, {}).get("httpGet", {})
        check(
            get.get("path") == path and get.get("port") in ("admin", admin_port),
            f"{probe} is not GET {path} on the admin port: {sidecar.get(probe)}",
        )

    security = sidecar.get("securityContext", {})
    for key, want in [
        ("runAsNonRoot", True),
        ("runAsUser", SIDECAR_UID),
        ("readOnlyRootFilesystem", True),
        ("allowPrivilegeEscalation", False),
        ("capabilities", {"drop": ["ALL"]}),
        ("seccompProfile", {"type": "RuntimeDefault"}),
    ]:
        check(security.get(key) == want, f"sidecar securityContext.{key} is {security.get(key)!r}, want {want!r}")

    limits = sidecar.get("resources", {}).get("limits", {})
    requests = sidecar.get("resources", {}).get("requests", {})
    check("cpu" in limits and "memory" in limits, f"the sidecar's limits lack cpu or memory: {limits}")
    check("cpu" in requests and "memory" in requests, f"the sidecar's requests lack cpu or memory: {requests}")
    env = {e["name"]: e for e in sidecar.get("env", [])}
    workers = env.get("LATTICE_SIDECAR_WORKERS", {}).get("valueFrom", {}).get("resourceFieldRef", {})
    check(
        workers.get("resource") == "limits.cpu"
        and workers.get("containerName") == SIDECAR
        and str(workers.get("divisor")) == "1",
        f"LATTICE_SIDECAR_WORKERS does not follow the sidecar's CPU limit: {env.get('LATTICE_SIDECAR_WORKERS')}",
    )
    check(
        not any(a.startswith("--workers") for a in sidecar_args),
        "--workers in args would override the CPU limit's LATTICE_SIDECAR_WORKERS",
    )

    apps = spec.get("containers", [])
    check(len(apps) >= 1, "no app container")
    for app in apps:
        app_env = {e["name"]: e.get("value") for e in app.get("env", [])}
        for name in ["HTTP_PROXY", "http_proxy"]:
            check(app_env.get(name) == PROXY_URL, f"container {app['name']}: {name} is {app_env.get(name)!r}, want {PROXY_URL}")
        for name in ["NO_PROXY", "no_proxy"]:
            check(bool(app_env.get(name)), f"container {app['name']}: no {name}")
        check(
            app.get("securityContext", {}).get("runAsUser") != SIDECAR_UID,
            f"container {app['name']} runs as the sidecar's uid; transparent mode would not redirect it",
        )

    accounts = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"]
    check(spec.get("serviceAccountName") in accounts, f"serviceAccountName {spec.get('serviceAccountName')} is not in {accounts}")

    labels = pod.get("metadata", {}).get("labels", {})
    for monitor in (o for o in objects if o["kind"] == "PodMonitor"):
        selector = monitor["spec"]["selector"].get("matchLabels", {})
        check(
            selector and all(labels.get(k) == v for k, v in selector.items()),
            f"PodMonitor selector {selector} does not select the pod {labels}",
        )
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            check(endpoint.get("port") in ports, f"PodMonitor port {endpoint.get('port')} is not a sidecar port")
            check(endpoint.get("path") == "/metrics", f"PodMonitor path {endpoint.get('path')}")

    sidecar_env = {"LATTICE_SIDECAR_WORKERS": str(cpu_count(limits.get("cpu", 0)))}
    sidecar_env.update({k: v["value"] for k, v in env.items() if "value" in v})
    check_config(args.sidecar, sidecar_args, sidecar_env, "Kubernetes sidecar")


def ecs(args):
    import botocore.session
    from botocore.validate import ParamValidator

    with open(args.file) as file:
        task = json.load(file)
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(task, shape)
    check(not report.has_errors(), f"RegisterTaskDefinition input: {report.generate_report()}")

    check(task.get("networkMode") == "awsvpc", f"networkMode is {task.get('networkMode')}, want awsvpc")
    containers = {c["name"]: c for c in task.get("containerDefinitions", [])}
    sidecar = containers.get(SIDECAR)
    if not check(sidecar is not None, "no container named lattice-sidecar"):
        return
    check(sidecar.get("essential") is True, "the sidecar is not essential")
    want_image = f"{args.image_prefix}lattice-sidecar:{args.version}"
    check(sidecar.get("image") == want_image, f"sidecar image {sidecar.get('image')}, want {want_image}")
    command = sidecar.get("healthCheck", {}).get("command", [])
    check(
        command[:3] == ["CMD", IMAGE_BINARY, "probe"],
        f"the sidecar's healthCheck does not run `{IMAGE_BINARY} probe` (the image has no shell): {command}",
    )
    check(sidecar.get("user") == f"{SIDECAR_UID}:{SIDECAR_UID}", f"sidecar user {sidecar.get('user')}")
    check(sidecar.get("readonlyRootFilesystem") is True, "the sidecar's root filesystem is writable")
    check(
        sidecar.get("linuxParameters", {}).get("capabilities", {}).get("drop") == ["ALL"],
        "the sidecar keeps capabilities",
    )
    sidecar_args = sidecar.get("command", [])
    check("--workers" in sidecar_args, "the sidecar's --workers is not set (0 means every CPU of the host)")
    if "--workers" in sidecar_args and "cpu" in sidecar:
        workers = int(sidecar_args[sidecar_args.index("--workers") + 1])
        check(
            workers == max(1, math.ceil(sidecar["cpu"] / 1024)),
            f"--workers {workers} does not match the sidecar's {sidecar['cpu']} CPU units",
        )
    apps = [c for name, c in containers.items() if name != SIDECAR]
    check(len(apps) >= 1, "no app container")
    for app in apps:
        check(
            {"containerName": SIDECAR, "condition": "HEALTHY"} in app.get("dependsOn", []),
            f"container {app['name']} does not wait for the sidecar to be HEALTHY",
        )
        env = {e["name"]: e["value"] for e in app.get("environment", [])}
        for name in ["HTTP_PROXY", "http_proxy"]:
            check(env.get(name) == PROXY_URL, f"container {app['name']}: {name} is {env.get(name)!r}, want {PROXY_URL}")
        for name in ["NO_PROXY", "no_proxy"]:
            check(bool(env.get(name)), f"container {app['name']}: no {name}")
    env = {e["name"]: e["value"] for e in sidecar.get("environment", [])}
    check_config(args.sidecar, sidecar_args, env, "ECS sidecar")


def systemd(args):
    with open(args.file) as file:
        text = file.read()
    settings = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            settings.setdefault(match.group(1), []).append(match.group(2))
    expected = {
        "Type": "simple",  # notify only once the sidecar implements sd_notify
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
    }
    for key, want in expected.items():
        check(settings.get(key) == [want], f"{key}={settings.get(key)}, want {want}")
    check(bool(settings.get("RestrictAddressFamilies")), "no RestrictAddressFamilies")
    exec_start = shlex.split(settings.get("ExecStart", [""])[0])
    check(exec_start[:1] == ["/usr/local/bin/lattice-sidecar"], f"ExecStart {exec_start}")
    sidecar_args = exec_start[1:]
    check("--workers" in sidecar_args, "ExecStart does not set --workers (0 means every CPU of the host)")
    if "--workers" in sidecar_args and settings.get("CPUQuota"):
        workers = int(sidecar_args[sidecar_args.index("--workers") + 1])
        quota = int(settings["CPUQuota"][0].rstrip("%"))
        check(workers == max(1, math.ceil(quota / 100)), f"--workers {workers} does not match CPUQuota={quota}%")
    check_config(args.sidecar, sidecar_args, {}, "systemd ExecStart")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["kubernetes", "ecs", "systemd"])
    parser.add_argument("file")
    parser.add_argument("--sidecar", required=True, help="a built lattice-sidecar binary")
    parser.add_argument("--version", help="lattice-sidecar's version, the image tag")
    parser.add_argument("--image-prefix", default="", help="the registry part set by a walk-through")
    args = parser.parse_args()
    {"kubernetes": kubernetes, "ecs": ecs, "systemd": systemd}[args.kind](args)
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"ok: {args.file} ({args.kind})")


if __name__ == "__main__":
    main()
