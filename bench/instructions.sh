#!/usr/bin/env bash
# Instructions per signature, counted by callgrind: lattice-client, aws-sigv4 and the
# floor on the ratio bench's cases (lattice-client/benches/instructions.rs). Timings on
# this noisy machine drift between runs; instruction counts do not.
#
#   bench/instructions.sh        # ~3 minutes, most of it building the bench
#
# Callgrind counts the whole process, start-up and set-up included, so each signer runs
# N and 11 N signatures and the difference is divided by 10 N.
#
# Valgrind runs the code on a virtual CPU without SHA-NI, so SHA-256 takes its portable
# path here: the counts compare signers with each other, not with the native timings.
#
# Environment: N (SigV4 signatures in the short run, default 1000; SigV4A runs N / 10);
# BIN, an instructions bench binary built elsewhere (e.g. from another commit, to compare)
# instead of building this tree's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-1000}"

# shellcheck source=bench/checks.sh
source "$ROOT/bench/checks.sh"
require_positive_ints N
require_tools "sudo apt-get install -y valgrind" valgrind cargo awk

if [[ -z "${BIN:-}" ]]; then
  BIN="$(cd "$ROOT" && cargo bench -p lattice-client --bench instructions --no-run 2>&1 |
    awk '/Executable benches\/instructions.rs/ {gsub(/[()]/, "", $NF); print $NF}')"
  # Cargo prints the path relative to the workspace unless CARGO_TARGET_DIR is absolute.
  [[ "$BIN" == /* ]] || BIN="$ROOT/$BIN"
fi
require_executables "build it with: cargo bench -p lattice-client --bench instructions --no-run" "$BIN"

# instructions SIGNER CASE COUNT -> the instructions callgrind counted in the whole run
instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 |
    awk '/Collected :/ {print $NF}'
}

# per_signature SIGNER CASE N -> instructions per signature, start-up cancelled
per_signature() {
  local short long
  short="$(instructions "$1" "$2" "$3")"
  long="$(instructions "$1" "$2" $((11 * $3)))"
  [[ -n "$short" && -n "$long" ]] || { echo "callgrind printed no count for $1 $2" >&2; exit 1; }
  awk -v s="$short" -v l="$long" -v n="$3" 'BEGIN {printf "%.0f", (l - s) / (10 * n)}'
}

printf '%-17s %15s %15s %15s %18s %14s\n' case lattice-client aws-sigv4 floor \
  "aws-sigv4/lattice" "lattice/floor"
for case in sigv4 sigv4a; do
  n="$N"
  [[ "$case" == sigv4a ]] && n=$(((N + 9) / 10))
  ours="$(per_signature lattice-client "$case" "$n")"
  theirs="$(per_signature aws-sigv4 "$case" "$n")"
  floor="$(per_signature floor "$case" "$n")"
  printf '%-17s %15s %15s %15s %17.2fx %14.2f\n' "$case/get+token" "$ours" "$theirs" "$floor" \
    "$(awk -v a="$theirs" -v b="$ours" 'BEGIN {print a / b}')" \
    "$(awk -v a="$ours" -v b="$floor" 'BEGIN {print a / b}')"
done
