#!/usr/bin/env bash
# What the upstream protocol costs the sidecar's added latency: two upstreams side by side,
# one offering h2 and http/1.1 by ALPN (the sidecar then picks h2) and one offering only
# http/1.1, each with its own sidecar. Each round measures p50 at a fixed low rate on all
# four paths, back to back. Loopback only; every load run is bounded.
#
#   cargo build --release -p lattice-sidecar -p lattice-tests --bin lattice-sidecar --bin bench-upstream
#   bench/upstream_protocol.sh       # 3 rounds x 4 paths x 5 s, about 1 minute
#
# Environment: RATE (req/s, default 200), LAT_SECS (s per run, 5), ROUNDS (3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE="${RATE:-200}"
LAT_SECS="${LAT_SECS:-5}"
ROUNDS="${ROUNDS:-3}"
SIDECAR_BIN="${SIDECAR_BIN:-$ROOT/target/release/lattice-sidecar}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$ROOT/target/release/bench-upstream}"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

for n in RATE LAT_SECS ROUNDS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer" >&2; exit 64; }
done
for tool in h2load curl awk ss; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nghttp2-client curl gawk iproute2)" >&2; exit 69; }
done
for bin in "$SIDECAR_BIN" "$UPSTREAM_BIN"; do
  [[ -x "$bin" ]] || { echo "missing $bin; build it with the cargo command at the top of this script" >&2; exit 69; }
done

BENCH_NAME=upstream-protocol
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

# The h2-capable upstream and its sidecar, as in bench/sidecar.sh.
start_upstream_and_sidecar
# The http/1.1-only upstream and a second sidecar pointed at it.
"$UPSTREAM_BIN" --listen 127.0.0.1:0 --host "$HOST" --http1-only --write-ca "$WORK/ca-h1.pem" \
  >"$WORK/upstream-h1.out" 2>"$WORK/upstream-h1.err" &
PIDS+=("$!")
wait_for "bench-upstream --http1-only" 20 grep -qx ready "$WORK/upstream-h1.out"
UP_H1="$(awk '$1 == "https" {print $2}' "$WORK/upstream-h1.out")"
SC_H2_PORT="$SC_PORT"
start_sidecar "$UP_H1" "$WORK/ca-h1.pem" sidecar-h1
SC_H1_PORT="$SC_PORT"

# p50 URL -> the median duration (µs) of RATE * LAT_SECS HTTP/1.1 requests, one in flight;
# fails unless every request got 200.
p50() {
  local n=$((RATE * LAT_SECS))
  rm -f "$WORK/lat.tsv"
  run_load "$WORK/load.out" h2load -t1 -c1 -m1 --h1 --rps="$RATE" -n"$n" --log-file="$WORK/lat.tsv" "$1"
  awk -v n="$n" '$2 != 200 {bad++} {print $3} END {if (bad || NR != n) exit 1}' "$WORK/lat.tsv" |
    sort -n | awk '{v[NR] = $1} END {print v[int(NR * 0.5 + 0.5)]}'
}

echo "| round | h2 upstream: direct / sidecar p50 (added) | HTTP/1.1-only upstream: direct / sidecar p50 (added) |"
echo "|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: ${RATE} req/s x ${LAT_SECS}s on each of four paths"
  d2="$(p50 "https://$UP_TLS/")"
  s2="$(p50 "http://127.0.0.1:$SC_H2_PORT/")"
  d1="$(p50 "https://$UP_H1/")"
  s1="$(p50 "http://127.0.0.1:$SC_H1_PORT/")"
  echo "| $round | $d2 / $s2 µs (+$((s2 - d2))) | $d1 / $s1 µs (+$((s1 - d1))) |"
done
