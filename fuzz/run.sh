#!/usr/bin/env bash
# Fuzz smoke: run every target for SECONDS (default 30) each, starting from the seed
# corpus. Exits non-zero on the first crash; the reproducer lands in fuzz/artifacts/.
#
#   fuzz/run.sh            # 30 s per target
#   fuzz/run.sh 600        # 10 min per target
#   fuzz/run.sh 60 host_parser
#
# Works on stable: cargo-fuzz needs `-Z` flags, which RUSTC_BOOTSTRAP=1 unlocks.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-30}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
    TARGETS=(host_parser canonical_request request_mapping)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in "${TARGETS[@]}"; do
    # Run on a scratch copy so the checked-in seed corpus stays small.
    work="$(mktemp -d)"
    cp -r "corpus/$target/." "$work/"
    echo "== $target: ${SECONDS_PER_TARGET}s"
    cargo fuzz run "$target" "$work" -- -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1
    rm -rf "$work"
done
