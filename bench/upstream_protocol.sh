#!/usr/bin/env bash
# What the upstream costs the sidecar's added latency: two upstreams side by side, each with
# its own sidecar. By default upstream A offers h2 and http/1.1 by ALPN (the sidecar then
# picks h2) and upstream B only http/1.1. Each round measures p50 at a fixed low rate on all
# four paths, back to back. Loopback only; every load run is bounded. Each side's processes
# start once, so a run is one draw of what a process gets at start (bench/ab_sidecar.sh
# restarts every round for that reason): compare runs, not only rounds.
#
#   cargo build --release -p lattice-sidecar -p bench-upstream
#   bench/upstream_protocol.sh       # 3 rounds x 4 paths x 5 s, about 1 minute
#   UPSTREAM_ARGS=--work-stealing UPSTREAM_B_ARGS= bench/upstream_protocol.sh
#                                    # A: the old work-stealing fixture, B: thread-per-core
#
# Environment: RATE (req/s, default 200), LAT_SECS (s per run, 5), ROUNDS (3), UPSTREAM_ARGS
# and UPSTREAM_B_ARGS (extra bench-upstream arguments for A and B; B's default is
# --http1-only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE="${RATE:-200}"
LAT_SECS="${LAT_SECS:-5}"
ROUNDS="${ROUNDS:-3}"
SIDECAR_BIN="${SIDECAR_BIN:-$ROOT/target/release/lattice-sidecar}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$ROOT/target/release/bench-upstream}"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints RATE LAT_SECS ROUNDS
require_tools "apt-get install -y nghttp2-client curl gawk iproute2" h2load curl awk ss
require_executables "build it with the cargo command at the top of this script" \
  "$SIDECAR_BIN" "$UPSTREAM_BIN"

BENCH_NAME=upstream-protocol
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

# Upstream A and its sidecar, as in bench/sidecar.sh.
start_upstream_and_sidecar
UP_A="$UP_TLS"
SC_A_PORT="$SC_PORT"
# Upstream B and a second sidecar pointed at it.
read -ra B_ARGS <<<"${UPSTREAM_B_ARGS---http1-only}"
"$UPSTREAM_BIN" --listen 127.0.0.1:0 --host "$HOST" --write-ca "$WORK/ca-b.pem" "${B_ARGS[@]}" \
  >"$WORK/upstream-b.out" 2>"$WORK/upstream-b.err" &
PIDS+=("$!")
wait_for "bench-upstream ${B_ARGS[*]}" 20 grep -qx ready "$WORK/upstream-b.out"
UP_B="$(awk '$1 == "https" {print $2}' "$WORK/upstream-b.out")"
start_sidecar "$UP_B" "$WORK/ca-b.pem" sidecar-b
SC_B_PORT="$SC_PORT"

echo "| round | upstream A (${UPSTREAM_ARGS:-default}): direct / sidecar p50 (added) | upstream B (${B_ARGS[*]:-default}): direct / sidecar p50 (added) |"
echo "|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: ${RATE} req/s x ${LAT_SECS}s on each of four paths"
  da="$(low_rate_p50 "https://$UP_A/")"
  sa="$(low_rate_p50 "http://127.0.0.1:$SC_A_PORT/")"
  db="$(low_rate_p50 "https://$UP_B/")"
  sb="$(low_rate_p50 "http://127.0.0.1:$SC_B_PORT/")"
  echo "| $round | $da / $sa µs (+$((sa - da))) | $db / $sb µs (+$((sb - db))) |"
done
