#!/usr/bin/env bash
# How much of the sidecar's added latency is the VM moving work between its vCPUs: p50 at a
# fixed low rate, direct, through the sidecar and through nginx (the reference proxy of
# bench/sidecar.sh, when installed), with the load tool, the upstream and the proxies free
# to run on every vCPU (as bench/sidecar.sh runs them), then all pinned to one vCPU, in
# alternating rounds. Loopback only; every load run is bounded.
#
#   cargo build --release -p lattice-sidecar -p bench-upstream
#   bench/one_cpu.sh                 # 3 rounds x 2 placements x 3 paths x 10 s, about 3 minutes
#
# Environment: RATE (req/s, default 200), LAT_SECS (s per run, 10), ROUNDS (3), PIN_CPU (the
# vCPU to pin to, 0), NGINX (as in bench/sidecar.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE="${RATE:-200}"
LAT_SECS="${LAT_SECS:-10}"
ROUNDS="${ROUNDS:-3}"
PIN_CPU="${PIN_CPU:-0}"
SIDECAR_BIN="${SIDECAR_BIN:-$ROOT/target/release/lattice-sidecar}"
UPSTREAM_BIN="${UPSTREAM_BIN:-$ROOT/target/release/bench-upstream}"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints RATE LAT_SECS ROUNDS
if ! [[ "$PIN_CPU" =~ ^[0-9]+$ ]] || ((PIN_CPU >= $(nproc))); then
  echo "PIN_CPU must be a vCPU number below $(nproc)" >&2
  exit 64
fi
require_tools "apt-get install -y nghttp2-client curl gawk iproute2 util-linux" \
  h2load curl awk ss taskset
require_executables "build it with the cargo command at the top of this script" \
  "$SIDECAR_BIN" "$UPSTREAM_BIN"

BENCH_NAME=one-cpu
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

start_upstream_and_sidecar
start_nginx
ALL_CPUS="0-$(($(nproc) - 1))"
# Every thread of the upstream, the sidecar, nginx's processes and this shell (whose
# children run the load).
place() {
  local pid procs=()
  if [[ -n "$NGX" ]]; then
    mapfile -t procs < <(pgrep -P "$NGX_PID")
    procs+=("$NGX_PID")
  fi
  for pid in "$UPSTREAM_PID" "$SC_PID" "${procs[@]}"; do taskset -apc "$1" "$pid" >/dev/null; done
  taskset -pc "$1" $$ >/dev/null
}

echo "| round | vCPUs | direct p50 | sidecar p50 | added | nginx p50 | nginx added |"
echo "|---|---|---|---|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
  for cpus in "$ALL_CPUS" "$PIN_CPU"; do
    log "round $round/$ROUNDS, vCPUs $cpus: ${RATE} req/s x ${LAT_SECS}s, direct, sidecar, nginx"
    place "$cpus"
    direct="$(low_rate_p50 "https://$UP_TLS/")"
    sidecar="$(low_rate_p50 "http://127.0.0.1:$SC_PORT/")"
    nginx="-" nginx_added="-"
    if [[ -n "$NGX" ]]; then
      nginx="$(low_rate_p50 "$NGX/")"
      nginx_added="+$((nginx - direct)) µs"
      nginx+=" µs"
    fi
    echo "| $round | $cpus | $direct µs | $sidecar µs | +$((sidecar - direct)) µs | $nginx | $nginx_added |"
  done
done
place "$ALL_CPUS"
