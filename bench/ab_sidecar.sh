#!/usr/bin/env bash
# Two lattice-sidecar binaries side by side in front of one bench-upstream, measured in
# alternating rounds (which one goes first swaps every round; both restart every round), so
# both see the same machine state: p50 at a fixed low rate (HTTP/1.1, one request at a
# time) and HTTP/1.1 throughput at c=64. Loopback only; every load run is bounded.
#
#   cargo build --release -p lattice-sidecar -p bench-upstream
#   scripts/build-pgo.sh
#   B_BIN=target/pgo/lattice-sidecar bench/ab_sidecar.sh      # 6 rounds, about 3 minutes
#
# Environment: A_BIN (default target/release/lattice-sidecar), B_BIN (required), RATE
# (req/s, default 200), LAT_SECS (s per latency run, 5), TP_SECS (s per throughput run, 5),
# ROUNDS (6), UPSTREAM_ARGS (extra bench-upstream arguments).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE="${RATE:-200}"
LAT_SECS="${LAT_SECS:-5}"
TP_SECS="${TP_SECS:-5}"
ROUNDS="${ROUNDS:-6}"
A_BIN="${A_BIN:-$ROOT/target/release/lattice-sidecar}"
B_BIN="${B_BIN:-}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$ROOT/target/release/bench-upstream}"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints RATE LAT_SECS TP_SECS ROUNDS
[[ -n "$B_BIN" ]] || { echo "set B_BIN to the sidecar binary to compare with A_BIN ($A_BIN)" >&2; exit 64; }
require_tools "apt-get install -y nghttp2-client wrk curl gawk iproute2" \
  h2load wrk curl awk ss getconf
require_executables "build it with the commands at the top of this script" \
  "$A_BIN" "$B_BIN" "$UPSTREAM_BIN"

BENCH_NAME=ab-sidecar
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

declare -A BIN=([A]="$A_BIN" [B]="$B_BIN") URL PID P50 RPS CPU
P50_SAVED=() RPS_RATIO=() CPU_RATIO=()
start_upstream

# start_sidecars SIDE...: stop the running sidecars and start fresh ones, in the order
# given. Each round gets new processes: a process keeps whatever it drew at start for all
# its life, and with the same two sidecars for a whole run one binary once won all six
# rounds of a run and lost all ten of the next (2026-11-23).
start_sidecars() {
  local side pid kept=()
  for side in A B; do
    [[ -z "${PID[$side]:-}" ]] || { kill "${PID[$side]}"; wait "${PID[$side]}" 2>/dev/null || true; }
  done
  # Forget the stopped ones, so cleanup never signals a PID the system has handed out again.
  for pid in "${PIDS[@]}"; do
    [[ "$pid" == "${PID[A]:-}" || "$pid" == "${PID[B]:-}" ]] || kept+=("$pid")
  done
  PIDS=("${kept[@]}")
  for side in "$@"; do
    SIDECAR_BIN="${BIN[$side]}"
    start_sidecar "$UP_TLS" "$WORK/ca.pem" "sidecar-$side"
    URL[$side]="http://127.0.0.1:$SC_PORT/"
    PID[$side]="$SC_PID"
  done
}
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rps URL PID -> "REQ_PER_S CPU_US_PER_REQUEST": wrk at c=64, and the CPU time (user +
# system) the sidecar PID spent per request; fails on any socket error or non-2xx.
rps() {
  local t0 t1
  t0="$(cpu_ticks "$2")"
  run_load "$WORK/wrk.out" wrk -t2 -c64 -d"${TP_SECS}s" --timeout 10s "$1"
  t1="$(cpu_ticks "$2")"
  ! grep -q -e "Non-2xx" -e "Socket errors" "$WORK/wrk.out" || { cat "$WORK/wrk.out" >&2; return 1; }
  awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" '/^Requests\/sec/ {rps = $2}
    /requests in/ {n = $1} END {printf "%d %.1f", rps, t / hz / n * 1e6}' "$WORK/wrk.out"
}

echo "A: $A_BIN"
echo "B: $B_BIN"
echo
echo "| round | direct p50 | A p50 (added) | B p50 (added) | A req/s (CPU µs/req) | B req/s (CPU µs/req) | B/A req/s |"
echo "|---|---|---|---|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS"
  # Alternate which binary goes first, so neither always runs right after the direct run.
  order=(A B)
  ((round % 2)) || order=(B A)
  start_sidecars "${order[@]}"
  direct="$(low_rate_p50 "https://$UP_TLS/")"
  for side in "${order[@]}"; do
    P50[$side]="$(low_rate_p50 "${URL[$side]}")"
  done
  for side in "${order[@]}"; do
    out="$(rps "${URL[$side]}" "${PID[$side]}")"
    read -r "RPS[$side]" "CPU[$side]" <<<"$out"
  done
  echo "| $round | $direct µs | ${P50[A]} µs (+$((P50[A] - direct))) | ${P50[B]} µs (+$((P50[B] - direct))) | ${RPS[A]} (${CPU[A]}) | ${RPS[B]} (${CPU[B]}) | $(ratio "${RPS[B]}" "${RPS[A]}") |"
  # Four decimals, so that a round counts as won or lost by its unrounded values.
  P50_SAVED+=($((P50[A] - P50[B])))
  RPS_RATIO+=("$(ratio "${RPS[B]}" "${RPS[A]}" 4)")
  CPU_RATIO+=("$(ratio "${CPU[B]}" "${CPU[A]}" 4)")
done

echo
echo "B against A over $ROUNDS rounds (medians of the per-round values; the upper one of an even count):"
echo "- added p50: B lower in $(count '> 0' "${P50_SAVED[@]}") rounds; A minus B $(median "${P50_SAVED[@]}") µs"
echo "- req/s: B higher in $(count '> 1' "${RPS_RATIO[@]}") rounds; B/A $(median "${RPS_RATIO[@]}")"
echo "- CPU per request: B lower in $(count '< 1' "${CPU_RATIO[@]}") rounds; B/A $(median "${CPU_RATIO[@]}")"
