#!/usr/bin/env bash
# Runs the images from scripts/image.sh as one pod would, and checks them:
#
# - the emulator and the sidecar share one network namespace with no interface but
#   loopback (`--network none`, then `--network container:`), so every byte stays there;
# - a request through the sidecar container comes back 200, verified by the emulator;
# - the sidecar runs as uid 65532 with a read-only root filesystem and no capabilities;
# - its image HEALTHCHECK (`lattice-sidecar probe`) turns healthy;
# - `docker stop` lets an in-flight request finish, and the container exits 0;
# - `probe` reports not-ready, with the reason, while credentials are missing;
# - the sidecar image is at most 20 MB.
#
#   scripts/image.sh && scripts/test-images.sh
#
# Every wait is bounded; the containers are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-dev}"
SIDECAR_IMAGE="lattice-sidecar:$TAG"
EMULATOR_IMAGE="lattice-emulator:$TAG"
MAX_SIDECAR_IMAGE_BYTES=20000000
ORDERS=orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws
# The emulator's built-in test identity (public, see lattice-emulator's README).
ACCESS_KEY_ID=AKIDLATTICEEMULATOR
SECRET_ACCESS_KEY=lattice/emulator/secret/key/EXAMPLEKEY

POD="lattice-image-test-$$"
SHARED="$(mktemp -d)"
chmod 0777 "$SHARED"
cleanup() {
  docker rm -f "$POD-emulator" "$POD-sidecar" "$POD-bare" "$POD-client" >/dev/null 2>&1 || true
  rm -rf "$SHARED"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $1" >&2
  for container in "$POD-emulator" "$POD-sidecar" "$POD-bare"; do
    echo "--- logs of $container" >&2
    docker logs "$container" 2>&1 | tail -20 >&2 || true
  done
  exit 1
}
pass() { echo "ok: $1"; }

# The README's multi-stage Dockerfile ends in the same stage as lattice-sidecar/Dockerfile
# (but for where its COPY takes the files from).
python3 - <<'PY' || fail "README.md's Dockerfile and lattice-sidecar/Dockerfile differ"
import re, sys
readme = open("README.md").read()
block = re.search(r"```dockerfile\n(.*?)```", readme, re.S).group(1)
def final_stage(text):
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    stage = lines[max(i for i, l in enumerate(lines) if l.startswith("FROM ")):]
    return [l for l in stage if not l.startswith("COPY ")]
ours, theirs = final_stage(open("lattice-sidecar/Dockerfile").read()), final_stage(block)
if ours != theirs:
    sys.exit(f"lattice-sidecar/Dockerfile: {ours}\nREADME.md: {theirs}")
PY
pass "README.md's Dockerfile ends like lattice-sidecar/Dockerfile"

for image in "$SIDECAR_IMAGE" "$EMULATOR_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image: run scripts/image.sh"
done

# Run a container in the pod's network namespace, hardened as a manifest would.
run_in_pod() {
  docker run --network "container:$POD-emulator" --read-only --cap-drop ALL \
    --security-opt no-new-privileges "$@"
}
# `lattice-sidecar probe` from a container of its own (the sidecar's may be stopping).
probe() {
  run_in_pod --rm "$SIDECAR_IMAGE" probe "$@"
}

# shellcheck source=scripts/wait.sh
source scripts/wait.sh

# The emulator: the pod's first container, loopback only. Its plain-HTTP listener moves off
# 8080, the sidecar's port.
docker run -d --name "$POD-emulator" --network none --read-only --cap-drop ALL \
  --security-opt no-new-privileges --volume "$SHARED:/shared" \
  --env "AWS_ACCESS_KEY_ID=$ACCESS_KEY_ID" --env "AWS_SECRET_ACCESS_KEY=$SECRET_ACCESS_KEY" \
  "$EMULATOR_IMAGE" --http-listen 127.0.0.1:18080 --write-ca /shared/ca.pem >/dev/null
wait_for 20 "the emulator wrote its CA" test -s "$SHARED/ca.pem"

# The sidecar, as a native sidecar would run beside the app: a fixed route to the Lattice
# name, resolved to the emulator on the shared loopback.
run_in_pod -d --name "$POD-sidecar" --volume "$SHARED:/shared:ro" \
  --health-interval 1s --health-start-period 0s \
  --env "AWS_ACCESS_KEY_ID=$ACCESS_KEY_ID" --env "AWS_SECRET_ACCESS_KEY=$SECRET_ACCESS_KEY" \
  --env AWS_EC2_METADATA_DISABLED=true \
  "$SIDECAR_IMAGE" --upstream "https://$ORDERS" --resolve "$ORDERS:443:127.0.0.1:8443" \
  --ca-file /shared/ca.pem --workers 1 --shutdown-grace 20s >/dev/null
wait_for 20 "the sidecar turned ready (probe)" probe
pass "probe: ready"

health() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$POD-sidecar")" = healthy ]; }
wait_for 20 "the image HEALTHCHECK turned healthy" health
pass "HEALTHCHECK: healthy"

# A request through the sidecar: 200 only if the emulator verified the signature.
probe "http://127.0.0.1:8080/echo" || fail "a request through the sidecar was not answered 200"
docker logs "$POD-emulator" 2>&1 | grep -q "forwarded.*path=/echo access_key_id=\"$ACCESS_KEY_ID\"" ||
  fail "the emulator logged no verified request"
pass "request through the sidecar: 200, signature verified"

# Hardening, from the kernel's view of the running process.
pid="$(docker inspect -f '{{.State.Pid}}' "$POD-sidecar")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
[ "$uids" = "65532 65532 65532 65532" ] || fail "the sidecar runs as uid $uids, not 65532"
capabilities="$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")"
[ "$capabilities" = 0000000000000000 ] || fail "the sidecar has capabilities $capabilities"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$POD-sidecar")" = true ] ||
  fail "the sidecar's root filesystem is writable"
pass "sidecar: uid 65532, no capabilities, read-only root filesystem"

# Without credentials, probe says not ready and why (exit 1), on a second sidecar.
run_in_pod -d --name "$POD-bare" --env AWS_EC2_METADATA_DISABLED=true \
  "$SIDECAR_IMAGE" --listen 127.0.0.1:8081 --admin-listen 127.0.0.1:9902 >/dev/null
wait_for 20 "the second sidecar's admin listener" probe http://127.0.0.1:9902/livez
set +e
reason="$(probe http://127.0.0.1:9902/readyz 2>&1)"
status=$?
set -e
[ "$status" -eq 1 ] || fail "probe without credentials exited $status: $reason"
echo "$reason" | grep -qi credentials || fail "probe's reason names no credentials: $reason"
pass "probe without credentials: exit 1 ($reason)"

# docker stop while a request is in flight: it completes, and the sidecar exits 0.
run_in_pod -d --name "$POD-client" "$SIDECAR_IMAGE" probe --timeout 15s \
  "http://127.0.0.1:8080/slow-headers?delay_ms=3000" >/dev/null
in_flight() { docker logs "$POD-emulator" 2>&1 | grep -q 'path=/slow-headers'; }
wait_for 10 "the slow request reached the emulator" in_flight
started=$SECONDS
docker stop --time 30 "$POD-sidecar" >/dev/null
took=$((SECONDS - started))
client_status="$(docker wait "$POD-client")"
[ "$client_status" -eq 0 ] || fail "the in-flight request failed during docker stop (probe exit $client_status)"
sidecar_status="$(docker inspect -f '{{.State.ExitCode}}' "$POD-sidecar")"
[ "$sidecar_status" -eq 0 ] || fail "the sidecar exited $sidecar_status after docker stop"
[ "$took" -lt 30 ] || fail "docker stop took ${took}s: the sidecar was killed, not drained"
pass "docker stop: the in-flight request finished, exit 0 after ${took}s"

size="$(docker image inspect -f '{{.Size}}' "$SIDECAR_IMAGE")"
emulator_size="$(docker image inspect -f '{{.Size}}' "$EMULATOR_IMAGE")"
[ "$size" -le "$MAX_SIDECAR_IMAGE_BYTES" ] ||
  fail "the sidecar image is $size bytes, over $MAX_SIDECAR_IMAGE_BYTES"
pass "image sizes: $SIDECAR_IMAGE $size bytes, $EMULATOR_IMAGE $emulator_size bytes"
