#!/usr/bin/env bash
# The main job, end to end, with no AWS account: start the local Lattice emulator, put
# lattice-sidecar in front of it, and show that
#   1. a plain curl through the sidecar is signed and accepted (SigV4, then SigV4A),
#   2. the same request straight to the emulator, unsigned, is refused with 403,
#   3. the reqwest, hyper and tonic examples succeed.
# Everything listens on 127.0.0.1 only. Ports can be changed with DEMO_PORT_BASE.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${DEMO_PORT_BASE:-18400}
https_port=$((base + 43)) http_port=$((base + 80))
sidecar_port=$((base + 81)) sidecar_admin=$((base + 91)) fixed_port=$((base + 83))
sidecar4a_port=$((base + 82)) sidecar4a_admin=$((base + 92))
orders=orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws
workdir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo failed: $*" >&2; for f in "$workdir"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

# The emulator's built-in identity, handed to every client through the standard AWS
# chain (environment variables). No IMDS probing: it lives off loopback.
export AWS_ACCESS_KEY_ID=AKIDLATTICEEMULATOR
export AWS_SECRET_ACCESS_KEY=lattice/emulator/secret/key/EXAMPLEKEY
export AWS_REGION=us-west-2 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$workdir/empty-config AWS_SHARED_CREDENTIALS_FILE=$workdir/empty-config
: >"$workdir/empty-config"
unset AWS_SESSION_TOKEN AWS_PROFILE || true

step "build"
cargo build --workspace --bins --all-features --quiet
bin=target/debug

step "start lattice-emulator on 127.0.0.1:$https_port (TLS) and :$http_port (plain)"
"$bin/lattice-emulator" --https-listen "127.0.0.1:$https_port" --http-listen "127.0.0.1:$http_port" \
  --write-ca "$workdir/ca.pem" >"$workdir/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$workdir/ca.pem" ] && break; sleep 0.1; done
[ -s "$workdir/ca.pem" ] || fail "emulator did not start"

wait_ready() {
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "sidecar on admin port $1 not ready"
}

step "start lattice-sidecar (SigV4): proxy/Host routing on :$sidecar_port, fixed upstream on :$fixed_port"
"$bin/lattice-sidecar" --listen "127.0.0.1:$sidecar_port" --admin-listen "127.0.0.1:$sidecar_admin" \
  --route "127.0.0.1:$fixed_port=https://$orders:$https_port" --ca-file "$workdir/ca.pem" \
  --resolve "$orders:$https_port:127.0.0.1" >"$workdir/sidecar.log" 2>&1 &
pids+=($!)
wait_ready "$sidecar_admin"

step "start lattice-sidecar (SigV4A, region set *) on 127.0.0.1:$sidecar4a_port for custom domain orders.example.com"
"$bin/lattice-sidecar" --listen "127.0.0.1:$sidecar4a_port" --admin-listen "127.0.0.1:$sidecar4a_admin" \
  --upstream "https://orders.example.com:$https_port" --custom-domain orders.example.com --sigv4a \
  --ca-file "$workdir/ca.pem" --resolve "orders.example.com:$https_port:127.0.0.1" >"$workdir/sidecar4a.log" 2>&1 &
pids+=($!)
wait_ready "$sidecar4a_admin"

check() { # name expected-status actual-status body
  printf '%-62s %s\n' "$1" "HTTP $3"
  [ "$3" = "$2" ] || { echo "$4"; fail "$1: expected $2, got $3"; }
}

step "1. plain curl through the sidecar (fixed upstream): signed (SigV4) and accepted"
body=$(curl -sS -o - -w '\n%{http_code}' "http://127.0.0.1:$fixed_port/orders?zeta=1&alpha=2")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "GET /orders?zeta=1&alpha=2 via sidecar" 200 "$status" "$body"
echo "$body" | python3 -c 'import json,sys; e=json.load(sys.stdin); print("  emulator verified:", e["verified"]["algorithm"], e["verified"]["access_key_id"], "| query kept as sent:", e["query"]); print("  identity:", e["identity"])'

step "   forward-proxy mode (curl -x), as HTTP_PROXY apps use it"
body=$(curl -sS -x "http://127.0.0.1:$sidecar_port" -o - -w '\n%{http_code}' "http://$orders:$https_port/orders/42")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "GET http://$orders:$https_port/orders/42 via proxy" 200 "$status" "$body"

step "   Host-header mode"
body=$(curl -sS -H "Host: $orders:$https_port" -o - -w '\n%{http_code}' "http://127.0.0.1:$sidecar_port/orders/7")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "GET /orders/7 with Host: $orders" 200 "$status" "$body"

step "   SigV4A through the second sidecar, custom domain"
body=$(curl -sS -o - -w '\n%{http_code}' -X POST --data '{"item":"book"}' "http://127.0.0.1:$sidecar4a_port/orders")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "POST /orders via SigV4A sidecar" 200 "$status" "$body"
echo "$body" | python3 -c 'import json,sys; e=json.load(sys.stdin); print("  emulator verified:", e["verified"]["algorithm"], "body bytes:", e["body_len"])'

step "2. the same request straight to the emulator, unsigned: refused"
body=$(curl -sS --cacert "$workdir/ca.pem" --resolve "$orders:$https_port:127.0.0.1" -o - -w '\n%{http_code}' \
  "https://$orders:$https_port/orders?zeta=1&alpha=2")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "GET /orders unsigned, direct" 403 "$status" "$body"
echo "  $body" | cut -c1-110

step "   a host outside the allow-list: the sidecar refuses and sends nothing"
body=$(curl -sS -x "http://127.0.0.1:$sidecar_port" -o - -w '\n%{http_code}' "http://example.com/")
status=${body##*$'\n'}; body=${body%$'\n'*}
check "GET http://example.com/ via proxy" 403 "$status" "$body"
echo "  $body"

step "3. the examples (credentials from the standard AWS chain)"
common=(--resolve "$orders:$https_port:127.0.0.1" --resolve "orders.example.com:$https_port:127.0.0.1" --ca-file "$workdir/ca.pem")
"$bin/reqwest_get" --url "https://$orders:$https_port/orders?id=7" "${common[@]}" | head -c 300; echo
"$bin/hyper_client" --url "https://$orders:$https_port/orders/7" "${common[@]}" | head -c 300; echo
"$bin/reqwest_get" --url "https://orders.example.com:$https_port/orders" --sigv4a --custom-domain orders.example.com "${common[@]}" | head -c 300; echo
"$bin/tonic_greeter" --url "https://$orders:$https_port" "${common[@]}"
"$bin/tonic_greeter" --url "https://orders.example.com:$https_port" --sigv4a --custom-domain orders.example.com "${common[@]}"

step "sidecar metrics (excerpt)"
curl -fsS "http://127.0.0.1:$sidecar_admin/metrics" | grep -E '^lattice_sidecar_requests' | head -5 || true

printf '\n\033[1mdemo passed\033[0m\n'
