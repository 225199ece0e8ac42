#!/usr/bin/env bash
# Profile-guided build of lattice-sidecar (rustc's PGO), into target/pgo/lattice-sidecar.
#
#   rustup component add llvm-tools                 # llvm-profdata for rustc's own LLVM
#   apt-get install -y wrk nghttp2-client curl      # the training load (bench/sidecar.sh)
#   scripts/build-pgo.sh                            # about 10 minutes on 2 cores
#
# Why: a proxy's per-request path is long and, at low request rates, runs cold (see
# bench/README.md). PGO lays out and inlines the code by measured use, which the compiler
# cannot guess. On the bench machine, over 24 alternating rounds against the regular build
# (fresh processes each round), it raised the sidecar's throughput at c=64 in 17 (by 7% at
# the median) and lowered its CPU per request in 20 (by 11%); latency at 200 req/s
# did not change measurably (bench/ab_sidecar.sh, 2026-11-23).
#
# Steps: an instrumented build; a training run, which is the benchmark's quick mode
# (HTTP/1.1 and h2c load, one request at a time at 200 req/s, a streamed response, a 100 MiB
# upload and download; loopback only, against bench-upstream); merging the profile; the
# optimized build. The profile fits that traffic; a deployment with very different traffic
# can train on its own by running its load against target/pgo/instrumented's binary and
# repeating the last two steps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/pgo"
PROFILES="$OUT/profiles"
TRIPLE="$(rustc -vV | awk '$1 == "host:" {print $2}')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$TRIPLE/bin/llvm-profdata"

[[ -x "$PROFDATA" ]] || {
  echo "missing $PROFDATA: run \`rustup component add llvm-tools\` (it must match rustc's LLVM)" >&2
  exit 69
}
for tool in wrk h2load curl; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool for the training load: apt-get install -y wrk nghttp2-client curl" >&2
    exit 69
  }
done

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --target keeps RUSTFLAGS off build scripts and proc macros, so only the binary's code is
# instrumented; separate target directories keep the two builds' caches apart.
build() {
  CARGO_TARGET_DIR="$OUT/$1" RUSTFLAGS="$2" \
    cargo build --release --target "$TRIPLE" -p lattice-sidecar --bin lattice-sidecar
}

rm -rf "$PROFILES"
log "1/4 instrumented build"
build instrumented "-Cprofile-generate=$PROFILES"
cargo build --release -p bench-upstream

log "2/4 training: bench/sidecar.sh quick mode (its output: $OUT/training.md)"
SIDECAR_BIN="$OUT/instrumented/$TRIPLE/release/lattice-sidecar" NGINX=none \
  DURATION=3 LAT_SECS=3 ROUNDS=1 TTFB_RUNS=2 STREAM_BYTES=104857600 \
  bench/sidecar.sh >"$OUT/training.md"
# The sidecar writes its profile when it exits, which the bench's cleanup makes it do.
compgen -G "$PROFILES/*.profraw" >/dev/null || {
  echo "the training run left no profile in $PROFILES" >&2
  exit 70
}

log "3/4 merging the profile"
"$PROFDATA" merge -o "$OUT/merged.profdata" "$PROFILES"

log "4/4 optimized build"
build optimized "-Cprofile-use=$OUT/merged.profdata"
cp "$OUT/optimized/$TRIPLE/release/lattice-sidecar" "$OUT/lattice-sidecar"
log "done: $OUT/lattice-sidecar"
