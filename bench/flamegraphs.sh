#!/usr/bin/env bash
# Flamegraphs of where the CPU goes, for the bars bench/sidecar.sh and the sign bench
# report: the sidecar at saturation and at a fixed low rate (the cold path), and one warm
# SigV4 signature. Loopback only; every load run is bounded.
#
#   bench/flamegraphs.sh             # writes bench/flamegraphs/*.svg, ~10 minutes
#
# Needs perf (apt-get install -y linux-perf), inferno (cargo install inferno), wrk and
# h2load (apt-get install -y wrk nghttp2-client), python3, and permission to profile
# (root, or kernel.perf_event_paranoid <= 1).
#
# Builds its own profiling binaries (frame pointers, line tables) into target/profiling,
# so the release binaries bench/sidecar.sh measures are left alone.
#
# Environment: SECS (s recorded per graph, default 8), RATE (req/s for the cold path, 200),
# OUT_DIR (default bench/flamegraphs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${SECS:-8}"
RATE="${RATE:-200}"
OUT_DIR="${OUT_DIR:-$ROOT/bench/flamegraphs}"
PROFILING_TARGET="$ROOT/target/profiling"
SIDECAR_BIN="$PROFILING_TARGET/release/lattice-sidecar"
UPSTREAM_BIN="$PROFILING_TARGET/release/bench-upstream"
HOST="bench-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints SECS RATE
require_tools "sudo apt-get install -y linux-perf wrk nghttp2-client curl python3 iproute2; cargo install inferno" \
  perf inferno-collapse-perf inferno-flamegraph wrk h2load curl python3 ss

BENCH_NAME=flamegraphs
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

# Frame pointers give whole stacks at a low cost per sample (DWARF unwinding loses most of
# the sidecar's deep async stacks); line tables name the inlined frames; and the symbols
# the shipped release profile strips are kept.
profiling_build() {
  RUSTFLAGS="-C force-frame-pointers=yes" CARGO_TARGET_DIR="$PROFILING_TARGET" \
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_BENCH_DEBUG=line-tables-only \
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_BENCH_STRIP=false \
    cargo "$@"
}
log "building profiling binaries into $PROFILING_TARGET"
profiling_build build --release -p lattice-sidecar -p bench-upstream
SIGN_BENCH="$(profiling_build bench -p lattice-client --bench sign --no-run 2>&1 |
  awk '/Executable benches\/sign.rs/ {gsub(/[()]/, "", $NF); print $NF}')"
[[ -x "$SIGN_BENCH" ]] || { echo "could not find the sign bench executable" >&2; exit 1; }

mkdir -p "$OUT_DIR"
# svg NAME TITLE [fold_stacks.py args]: fold $WORK/NAME.perf into $OUT_DIR/NAME.svg.
svg() {
  local name="$1" title="$2"
  shift 2
  perf script -i "$WORK/$name.perf" 2>/dev/null | inferno-collapse-perf |
    python3 "$ROOT/bench/fold_stacks.py" "$@" |
    inferno-flamegraph --title "$title" --width 1600 --minwidth 1 >"$OUT_DIR/$name.svg"
  log "wrote $OUT_DIR/$name.svg"
}

start_upstream_and_sidecar
SC="http://127.0.0.1:$SC_PORT"
curl -fsS -o /dev/null "$SC/" || { echo "the sidecar does not answer 200" >&2; exit 1; }

log "sidecar at saturation: wrk -t2 -c64, recording $SECS s"
wrk -t2 -c64 -d"$((SECS + 4))s" "$SC/" >"$WORK/wrk.out" 2>&1 &
LOAD_PID=$!
sleep 2
perf record -q -F 999 -g -o "$WORK/sidecar-saturation.perf" -p "$SC_PID" -- sleep "$SECS"
wait "$LOAD_PID"
LOAD_PID=""
svg sidecar-saturation "lattice-sidecar at saturation: wrk -t2 -c64, plain HTTP/1.1 in, h2 over TLS out ($(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out") req/s; perf -g, 999 Hz, $SECS s)"

log "sidecar at $RATE req/s (cold path), recording $SECS s"
h2load -t1 -c1 -m1 --h1 --rps="$RATE" -n "$((RATE * (SECS + 3)))" "$SC/" >"$WORK/h2load.out" 2>&1 &
LOAD_PID=$!
sleep 1
perf record -q -F 20000 -g -o "$WORK/sidecar-${RATE}rps.perf" -p "$SC_PID" -- sleep "$SECS"
wait "$LOAD_PID"
LOAD_PID=""
svg "sidecar-${RATE}rps" "lattice-sidecar at $RATE req/s, one connection (the cold path): h2load --h1 --rps=$RATE, h2 over TLS out (perf -g, 20 kHz, $SECS s)"

log "one warm SigV4 signature (GET, session token), recording $SECS s"
perf record -q -F 2999 --call-graph dwarf,16384 -o "$WORK/signing-sigv4-get-token.perf" \
  "$SIGN_BENCH" --bench 'sign/lattice-client/sigv4/get\+token$' --profile-time "$SECS" >/dev/null 2>&1
svg signing-sigv4-get-token "SigV4 GET with a session token, warm: the sign bench's lattice-client/sigv4/get+token (perf --call-graph dwarf, 3 kHz, $SECS s)" \
  --root 'lattice_client::signer::SigningConfig::sign'
