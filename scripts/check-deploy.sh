#!/usr/bin/env bash
# Validates every deploy file under deploy/ with its engine's own schema or tool, runs the
# walk-throughs of deploy/README.md as written, then tests transparent mode:
#
# - Kubernetes: `kubectl kustomize` renders the base, and the README's overlay; every
#   object is validated offline against the Kubernetes 1.29 and newest schemas
#   (kubernetes-validate, strict: unknown fields are errors);
# - ECS: botocore's RegisterTaskDefinition input shape (`ParamValidator`);
# - systemd: `systemd-analyze verify`, and `systemd-analyze security` at exposure <= 2.0;
# - each: the properties deploy/README.md promises, and `lattice-sidecar --check-config`
#   with the flags the file gives (scripts/check_deploy.py);
# - transparent mode: scripts/test-transparent.sh.
#
#   cargo build -p lattice-sidecar -p lattice-emulator --bins && scripts/check-deploy.sh
#
# Needs kubectl (kustomize v5: Debian bookworm's kubernetes-client 1.20 ships kustomize
# v2.0.3, which predates `components`, so `.ci/run` refuses it rather than installing it),
# systemd-analyze (systemd), jq, and `pip install -r tests/requirements.txt`. A missing tool
# fails the check with the fix; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR="${BIN_DIR:-target/debug}"
SIDECAR="$PWD/$BIN_DIR/lattice-sidecar"

fail() {
  echo "FAIL: $1" >&2
  exit 1
}
pass() { echo "ok: $1"; }

command -v kubectl >/dev/null ||
  fail "kubectl not found: it renders the kustomize base (.ci/run says how to get one)"
kubectl version --client 2>/dev/null | grep -q '^Kustomize Version: v[5-9]' ||
  fail "kubectl's kustomize is older than v5: $(kubectl version --client 2>&1 | tr '\n' ' ')"
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found: apt-get install systemd"
command -v jq >/dev/null || fail "jq not found: apt-get install jq"
python3 -c 'import kubernetes_validate, botocore, yaml' ||
  fail "python3 -m pip install -r tests/requirements.txt (kubernetes-validate, botocore)"
[ -x "$SIDECAR" ] || fail "no $SIDECAR: cargo build -p lattice-sidecar --bins"

VERSION="$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "lattice-sidecar"))')"
CHECK=(python3 scripts/check_deploy.py --sidecar "$SIDECAR" --version "$VERSION")

# The walk-through's values, the ones a user exports.
export REGISTRY=localhost:5000
export APP_IMAGE=localhost:5000/my-app
export TASK_ROLE_ARN=arn:aws:iam::111122223333:role/my-app-task
export EXECUTION_ROLE_ARN=arn:aws:iam::111122223333:role/ecsTaskExecutionRole

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Run deploy/README.md's code block marked `<!-- ci: NAME -->` as written, in `WORK/NAME`
# beside a `deploy` that is this checkout's.
walkthrough() {
  local name="$1" dir="$WORK/$1"
  mkdir -p "$dir"
  ln -s "$PWD/deploy" "$dir/deploy"
  python3 - "$name" >"$dir/walkthrough.sh" <<'PY'
import re, sys
text = open("deploy/README.md").read()
match = re.search(r"<!-- ci: %s -->\n```sh\n(.*?)```" % re.escape(sys.argv[1]), text, re.S)
if not match:
    sys.exit("deploy/README.md has no `<!-- ci: %s -->` sh block" % sys.argv[1])
print(match.group(1))
PY
  (cd "$dir" && bash -euo pipefail walkthrough.sh) || fail "deploy/README.md's $name walk-through failed"
}

step() {
  echo "== $1"
  STEP_STARTED=$SECONDS
}
took() { echo "   (${1}: $((SECONDS - STEP_STARTED)) s)"; }

step "Kubernetes: kustomize, schemas 1.29 and newest (strict), properties"
kubectl kustomize deploy/kubernetes >"$WORK/base.yaml"
"${CHECK[@]}" kubernetes "$WORK/base.yaml"
walkthrough kubernetes
rendered="$WORK/kubernetes/my-app.yaml"
"${CHECK[@]}" --image-prefix "$REGISTRY/" kubernetes "$rendered"
grep -q "image: $APP_IMAGE\$" "$rendered" || fail "the walk-through did not set the app's image"
grep -q '^kind: PodMonitor$' "$rendered" || fail "the walk-through rendered no PodMonitor"
pass "the README's overlay renders, with $REGISTRY/lattice-sidecar:$VERSION and a PodMonitor"
took kubernetes

step "ECS: RegisterTaskDefinition input shape, properties"
"${CHECK[@]}" ecs deploy/ecs/task-definition.json
walkthrough ecs
task="$WORK/ecs/my-task-definition.json"
"${CHECK[@]}" --image-prefix "$REGISTRY/" ecs "$task"
[ "$(jq -r '.taskRoleArn, .executionRoleArn' "$task" | tr '\n' ' ')" = "$TASK_ROLE_ARN $EXECUTION_ROLE_ARN " ] ||
  fail "the walk-through did not set the task and execution roles"
pass "the README's walk-through gives a valid task definition with both roles"
took ecs

step "systemd: systemd-analyze verify and security, properties"
unit=deploy/systemd/lattice-sidecar.service
"${CHECK[@]}" systemd "$unit"
# verify needs ExecStart's binary to exist: a copy of the unit names the one just built.
mkdir -p "$WORK/systemd"
sed "s#^ExecStart=/usr/local/bin/lattice-sidecar #ExecStart=$SIDECAR #" "$unit" >"$WORK/systemd/lattice-sidecar.service"
[ "$(diff "$unit" "$WORK/systemd/lattice-sidecar.service" | grep -c '^[<>]')" -eq 2 ] ||
  fail "the copy for systemd-analyze differs in more than ExecStart"
# verify reports bad keys and values as warnings and still exits 0: any output fails.
if ! out="$(systemd-analyze verify "$WORK/systemd/lattice-sidecar.service" 2>&1)" || [ -n "$out" ]; then
  fail "systemd-analyze verify $unit: $out"
fi
pass "systemd-analyze verify: no warning"
# --threshold is in tenths: 20 is an exposure of 2.0 ("OK" starts below 5.0).
systemd-analyze security --offline=true --threshold=20 "$WORK/systemd/lattice-sidecar.service" >"$WORK/security.txt" 2>&1 ||
  fail "systemd-analyze security: exposure over 2.0: $(tail -1 "$WORK/security.txt")"
pass "systemd-analyze security: $(grep -o 'exposure level.*' "$WORK/security.txt")"
took systemd

step "transparent mode: scripts/test-transparent.sh"
BIN_DIR="$BIN_DIR" scripts/test-transparent.sh
took transparent
