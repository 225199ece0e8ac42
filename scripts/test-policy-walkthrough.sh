#!/usr/bin/env bash
# Runs README.md's "Test your auth policies before you deploy" CI job exactly as written
# (its `<!-- ci: policy-walkthrough -->` sh block), against the container images, in a
# copy of examples/policy-walkthrough/, and checks what it printed:
#
# - README.md's emulator.toml is the example's lattice/emulator.toml;
# - `policy check` (lattice-emulator image) exits 0 with an allow for GET /orders/1, and
#   1 with the explicit deny of statement NoAdmin for DELETE /admin/users (the block's
#   own `test` fails otherwise);
# - through the sidecar image, the emulator image with the example's `--config` answers
#   GET /orders/1 with 200 from the app, which was told the caller and got no credentials;
# - GET /admin/users is 403 with `x-amzn-errortype: AccessDeniedException` and an
#   `x-lattice-emulator-decision` naming NoAdmin.
#
#   scripts/image.sh && scripts/test-policy-walkthrough.sh
#
# The block's containers use the host network, on loopback only (127.0.0.1:3000, 8080,
# 8081, 8443, 9901); its waits are bounded. No docker: it fails, it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-dev}"
CALLER=arn:aws:sts::111122223333:assumed-role/orders-app/s1

fail() {
  echo "FAIL: $1" >&2
  if [ -f "${WORK:-/nonexistent}/output.txt" ]; then
    echo "--- the walk-through printed" >&2
    cat "$WORK/output.txt" >&2
  fi
  exit 1
}
pass() { echo "ok: $1"; }

command -v docker >/dev/null || fail "docker not found: apt-get install docker.io"
docker info >/dev/null 2>&1 || fail "the Docker daemon is not reachable: start it (dockerd &) and retry"
for tool in python3 curl timeout setsid; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done
for image in "lattice-sidecar:$TAG" "lattice-emulator:$TAG"; do
  docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image: run scripts/image.sh"
done

WORK="$(mktemp -d)"
WALKTHROUGH_PID=
cleanup() {
  [ -n "$WALKTHROUGH_PID" ] && kill -- "-$WALKTHROUGH_PID" 2>/dev/null || true
  docker rm -f lattice sidecar >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# Containers a previous, killed run may have left.
docker rm -f lattice sidecar >/dev/null 2>&1 || true

python3 - "$WORK/walkthrough.sh" "$TAG" <<'PY' || fail "README.md's walk-through could not be extracted"
import re, sys
readme = open("README.md").read()
section = readme[readme.index("## Test your auth policies before you deploy"):]
toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
if toml != open("examples/policy-walkthrough/lattice/emulator.toml").read():
    sys.exit("README.md's emulator.toml differs from examples/policy-walkthrough/lattice/emulator.toml")
block = re.search(r"<!-- ci: policy-walkthrough -->\n```sh\n(.*?)```", section, re.S)
if not block:
    sys.exit("README.md has no `<!-- ci: policy-walkthrough -->` sh block")
# The images under test: `:dev` as written, or TAG.
open(sys.argv[1], "w").write(block.group(1).replace(":dev ", ":%s " % sys.argv[2]))
PY
pass "README.md's emulator.toml is examples/policy-walkthrough/lattice/emulator.toml"

cp -R examples/policy-walkthrough/. "$WORK/"
started=$SECONDS
# Its own session, so that cleanup can end the app it starts if this script is stopped.
(cd "$WORK" && exec setsid bash walkthrough.sh >output.txt 2>"$WORK/stderr.txt") &
WALKTHROUGH_PID=$!
status=0
wait "$WALKTHROUGH_PID" || status=$?
WALKTHROUGH_PID=
[ "$status" -eq 0 ] || fail "the walk-through exited $status; its stderr: $(cat "$WORK/stderr.txt")"
pass "the walk-through ran as written in $((SECONDS - started)) s"

output="$WORK/output.txt"
python3 - "$output" "$CALLER" <<'PY' || fail "the walk-through printed something else"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
caller = sys.argv[2]
objects = []
for line in lines:
    try:
        objects.append(json.loads(line))
    except ValueError:
        pass
allow, deny, reply = objects[:3] if len(objects) >= 3 else sys.exit(f"expected 3 JSON lines, got {objects}")
assert allow["decision"] == "allow" and allow["statement"] == "OrdersApp", allow
assert deny["decision"] == "explicit_deny" and deny["statement"] == "NoAdmin", deny
assert reply["path"] == "/orders/1", reply
assert f"Principal={caller};" in reply["identity"], reply
assert reply["authorization_received"] is False, reply
print("ok: policy check: allow (OrdersApp), then explicit deny (NoAdmin) with exit 1")
print(f"ok: GET /orders/1 through the sidecar: 200 from the app, identity {reply['identity']!r}, no credentials")
headers = [l.rstrip("\r") for l in lines if not l.startswith("{")]
status = [l for l in headers if l.startswith("HTTP/")]
assert status and status[-1].split()[1] == "403", status
lower = [l.lower() for l in headers]
assert "x-amzn-errortype: accessdeniedexception" in lower, headers
decision = [l.split(":", 1)[1] for l in headers if l.lower().startswith("x-lattice-emulator-decision:")]
assert decision, headers
decision = json.loads(decision[0])
assert decision["decision"] == "explicit_deny" and decision["statement"] == "NoAdmin", decision
print("ok: GET /admin/users through the sidecar: 403 AccessDeniedException, decided by NoAdmin")
PY
