#!/usr/bin/env bash
# Tests transparent mode (deploy/transparent/iptables.sh) in a network namespace of its own,
# as a pod's would be:
#
# - an interface holds 169.254.171.10 and fd00:ec2:80::10 (inside Lattice's IPv4 and IPv6
#   ranges) and 169.254.170.10 and fd00:ec2:81::10 (outside them); the emulator, on the
#   namespace's loopback, stands in for the Lattice service behind them; the sidecar
#   listens on 127.0.0.1:8080 and [::1]:8080;
# - an app (uid 1000, no proxy variables) calls http://<Lattice name>/ resolved to
#   169.254.171.10, then to [fd00:ec2:80::10]: refused before the rules, 200 and verified
#   by the emulator after;
# - not redirected, in each family: another address, another port of the range (8081),
#   and the sidecar's own uid (65532) to the range's port 80;
# - without ip6tables the script fails and adds nothing, unless given --ipv4-only;
# - the script is idempotent, and `--delete` removes what it added, IPv6 rules too.
#
#   cargo build -p lattice-sidecar -p lattice-emulator --bins && scripts/test-transparent.sh
#
# Needs root (to make the namespace), ip (iproute2), iptables and ip6tables, setpriv (util-linux) and
# curl; a missing one fails the test with the fix. Nothing outside the namespace changes;
# the namespace and the processes in it are removed on exit, every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR="${BIN_DIR:-target/debug}"
ORDERS=orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws
LATTICE_ADDR=169.254.171.10
OTHER_ADDR=169.254.170.10
LATTICE_ADDR6=fd00:ec2:80::10
OTHER_ADDR6=fd00:ec2:81::10
SIDECAR_UID=65532
APP_UID=1000
# The emulator's built-in test identity (public, see lattice-emulator's README).
ACCESS_KEY_ID=AKIDLATTICEEMULATOR
SECRET_ACCESS_KEY=lattice/emulator/secret/key/EXAMPLEKEY

fail() {
  echo "FAIL: $1" >&2
  for log in "${WORK:-/nonexistent}"/*.log; do
    [ -r "$log" ] || continue
    echo "--- $log" >&2
    tail -20 "$log" >&2
  done
  exit 1
}
pass() { echo "ok: $1"; }

[ "$(id -u)" -eq 0 ] || fail "needs root to create a network namespace (CI runs as root)"
for tool in ip iptables ip6tables setpriv curl python3; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found: apt-get install iproute2 iptables util-linux curl python3"
done
for binary in lattice-sidecar lattice-emulator; do
  [ -x "$BIN_DIR/$binary" ] ||
    fail "no $BIN_DIR/$binary: cargo build -p lattice-sidecar -p lattice-emulator --bins"
done

NS="lattice-transparent-$$"
WORK="$(mktemp -d)"
chmod 0755 "$WORK"
# Where curl, run as the app's or the sidecar's uid, writes what it received.
mkdir -m 1777 "$WORK/out"
cleanup() {
  # Every process left in the namespace is one this script started.
  local pids
  pids="$(ip netns pids "$NS" 2>/dev/null || true)"
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(ip netns pids "$NS" 2>/dev/null)" ] && break
      sleep 0.1
    done
    kill -KILL $(ip netns pids "$NS" 2>/dev/null) 2>/dev/null || true
  fi
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS" || fail "ip netns add $NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
# The addresses sit on one end of a veth pair inside the namespace (a dummy interface would
# do, but CI's kernel has no dummy module).
in_ns ip link add lattice0 type veth peer name lattice1
in_ns ip link set lattice0 up
in_ns ip link set lattice1 up
in_ns ip address add "$LATTICE_ADDR/32" dev lattice0
in_ns ip address add "$OTHER_ADDR/32" dev lattice0
# nodad: usable at once, without duplicate address detection's wait.
in_ns ip -6 address add "$LATTICE_ADDR6/128" dev lattice0 nodad
in_ns ip -6 address add "$OTHER_ADDR6/128" dev lattice0 nodad

# shellcheck source=scripts/wait.sh
source scripts/wait.sh

# The emulator on the namespace's loopback; its plain-HTTP listener moves off 8080.
ip netns exec "$NS" env -i PATH="$PATH" "$BIN_DIR/lattice-emulator" --http-listen 127.0.0.1:18080 \
  --write-ca "$WORK/ca.pem" >"$WORK/emulator.log" 2>&1 &
wait_for 20 "the emulator wrote its CA" test -s "$WORK/ca.pem"
chmod 0644 "$WORK/ca.pem"

# The sidecar as the images run it (uid 65532), listening where REDIRECT sends each family
# (127.0.0.1:8080 and [::1]:8080), the Lattice name's port 443 resolved to the emulator.
ip netns exec "$NS" setpriv --reuid="$SIDECAR_UID" --regid="$SIDECAR_UID" --clear-groups \
  env -i PATH="$PATH" HOME="$WORK" AWS_EC2_METADATA_DISABLED=true \
  AWS_ACCESS_KEY_ID="$ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SECRET_ACCESS_KEY" \
  "$BIN_DIR/lattice-sidecar" --workers 1 --listen '127.0.0.1:8080,[::1]:8080' --ca-file "$WORK/ca.pem" \
  --resolve "$ORDERS:443:127.0.0.1:8443" >"$WORK/sidecar.log" 2>&1 &
wait_for 20 "the sidecar turned ready" in_ns "$BIN_DIR/lattice-sidecar" probe

# `curl` in the namespace as `uid`, with no proxy variables; prints the HTTP status, or
# `refused` when the connection was refused (curl exit 7). An IPv6 address is in brackets.
call() {
  local uid="$1" address="$2" port="$3" path="$4" status=0 code
  code="$(in_ns setpriv --reuid="$uid" --regid="$uid" --clear-groups env -i PATH="$PATH" \
    curl -sS --max-time 10 --resolve "$ORDERS:$port:$address" -o "$WORK/out/$uid.json" \
    -w '%{http_code}' "http://$ORDERS:$port$path" 2>"$WORK/out/$uid.err")" || status=$?
  case "$status" in
    0) echo "$code" ;;
    7) echo refused ;;
    *) fail "curl to $address:$port as uid $uid exited $status: $(cat "$WORK/out/$uid.err")" ;;
  esac
}
expect() {
  local want="$1" what="$2"
  shift 2
  local got
  got="$(call "$@")"
  [ "$got" = "$want" ] || fail "$what: got $got, want $want"
  pass "$what: $got"
}

# `nat_lines TOOL`: how many LATTICE_SIDECAR lines TOOL's nat table has.
nat_lines() { in_ns "$1" -t nat -S | grep -c -e LATTICE_SIDECAR || true; }
# The emulator's echo of the app's last call shows it signed with the test identity.
assert_verified() {
  python3 - "$WORK/out/$APP_UID.json" "$ORDERS" "$ACCESS_KEY_ID" <<'PY' || fail "the emulator did not verify the redirected request ($1)"
import json, sys
echo, host, key = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
verified = echo.get("verified") or {}
assert echo["path"] == "/transparent", echo
assert echo["authority"] == host or echo["headers"].get("host") == host, echo
assert verified.get("access_key_id") == key, verified
assert verified.get("algorithm") == "AWS4-HMAC-SHA256", verified
PY
  pass "the emulator verified it ($1): SigV4, $ACCESS_KEY_ID, host $ORDERS"
}

expect refused "before the rules, the app's call to $LATTICE_ADDR:80" "$APP_UID" "$LATTICE_ADDR" 80 /
expect refused "before the rules, the app's call to [$LATTICE_ADDR6]:80" \
  "$APP_UID" "[$LATTICE_ADDR6]" 80 /

# Without ip6tables (a PATH that has only iptables) the script refuses and adds nothing,
# unless told --ipv4-only.
mkdir "$WORK/no-ip6tables"
ln -s "$(command -v iptables)" "$WORK/no-ip6tables/iptables"
status=0
in_ns env PATH="$WORK/no-ip6tables" /bin/sh deploy/transparent/iptables.sh 2>"$WORK/out/no-ip6.err" || status=$?
[ "$status" -eq 69 ] || fail "without ip6tables iptables.sh exited $status, want 69"
grep -q -e --ipv4-only "$WORK/out/no-ip6.err" || fail "without ip6tables, no hint of --ipv4-only: $(cat "$WORK/out/no-ip6.err")"
[ "$(nat_lines iptables)" -eq 0 ] || fail "without ip6tables iptables.sh still added IPv4 rules"
pass "without ip6tables: exit 69, --ipv4-only suggested, nothing added"
in_ns env PATH="$WORK/no-ip6tables" /bin/sh deploy/transparent/iptables.sh --ipv4-only
[ "$(nat_lines iptables)" -eq 4 ] && [ "$(nat_lines ip6tables)" -eq 0 ] ||
  fail "--ipv4-only: $(nat_lines iptables) IPv4 and $(nat_lines ip6tables) IPv6 lines, want 4 and 0"
pass "--ipv4-only without ip6tables: the IPv4 rules only"
in_ns sh deploy/transparent/iptables.sh --delete

in_ns sh deploy/transparent/iptables.sh
in_ns sh deploy/transparent/iptables.sh # idempotent: a second run adds nothing
for tool in iptables ip6tables; do
  rules="$(nat_lines "$tool")"
  [ "$rules" -eq 4 ] || fail "after two runs the $tool nat table has $rules LATTICE_SIDECAR lines, want 4: $(in_ns "$tool" -t nat -S)"
  pass "iptables.sh twice, $tool: one chain, one jump, two rules"
done

expect 200 "the app's call to http://$ORDERS/ ($LATTICE_ADDR:80)" \
  "$APP_UID" "$LATTICE_ADDR" 80 "/transparent?mode=redirect"
assert_verified "$LATTICE_ADDR"
expect 200 "the app's call to http://$ORDERS/ ([$LATTICE_ADDR6]:80)" \
  "$APP_UID" "[$LATTICE_ADDR6]" 80 "/transparent?mode=redirect6"
assert_verified "[$LATTICE_ADDR6]"

for pair in "$LATTICE_ADDR $OTHER_ADDR" "[$LATTICE_ADDR6] [$OTHER_ADDR6]"; do
  read -r lattice other <<<"$pair"
  expect refused "another address ($other:80) is not redirected" "$APP_UID" "$other" 80 /
  expect refused "another port of the range ($lattice:8081) is not redirected" \
    "$APP_UID" "$lattice" 8081 /
  expect refused "the sidecar's own uid ($SIDECAR_UID) to $lattice:80 is not redirected" \
    "$SIDECAR_UID" "$lattice" 80 /
done

# Only the two redirected calls reached the sidecar.
metrics="$(in_ns env -i curl -sS --max-time 5 http://127.0.0.1:9901/metrics)"
requests="$(echo "$metrics" | awk '/^lattice_sidecar_requests_total\{/ { sum += $2 } END { print sum + 0 }')"
[ "$requests" -eq 2 ] || fail "the sidecar served $requests requests, want 2: $(echo "$metrics" | grep requests_total)"
pass "the sidecar served exactly the two redirected requests"

in_ns sh deploy/transparent/iptables.sh --delete
for tool in iptables ip6tables; do
  left="$(nat_lines "$tool")"
  [ "$left" -eq 0 ] || fail "--delete left $left LATTICE_SIDECAR lines in $tool's nat table"
done
expect refused "after --delete, the app's call to $LATTICE_ADDR:80" "$APP_UID" "$LATTICE_ADDR" 80 /
expect refused "after --delete, the app's call to [$LATTICE_ADDR6]:80" \
  "$APP_UID" "[$LATTICE_ADDR6]" 80 /
