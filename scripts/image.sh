#!/usr/bin/env bash
# Builds the container images lattice-sidecar:<version> and lattice-emulator:<version>
# (both also tagged :dev) FROM scratch, and prints their references.
#
#   scripts/image.sh
#
# No base image is pulled: each image holds the stripped release binary, exactly the shared
# libraries `ldd` says it links (glibc and friends, from this machine) and, for the sidecar,
# the system CA bundle. Needs: cargo, docker with a running daemon, ldd (libc-bin) and
# /etc/ssl/certs/ca-certificates.crt (ca-certificates). A missing one exits 69 with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

EX_UNAVAILABLE=69
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

fail() {
  echo "scripts/image.sh: $1" >&2
  exit "${2:-1}"
}

command -v docker >/dev/null ||
  fail "docker not found: apt-get install docker.io" "$EX_UNAVAILABLE"
docker info >/dev/null 2>&1 ||
  fail "the Docker daemon is not reachable: start it (dockerd &) and retry" "$EX_UNAVAILABLE"
command -v ldd >/dev/null || fail "ldd not found: apt-get install libc-bin" "$EX_UNAVAILABLE"
[ -r "$CA_BUNDLE" ] ||
  fail "no CA bundle at $CA_BUNDLE: apt-get install ca-certificates" "$EX_UNAVAILABLE"

VERSION="$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "lattice-sidecar"))')"
REVISION="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$REVISION" != unknown ] && ! git diff --quiet HEAD 2>/dev/null; then
  REVISION="$REVISION-dirty"
fi

echo "== building release binaries (lattice-sidecar, lattice-emulator)" >&2
cargo build --release --locked -p lattice-sidecar -p lattice-emulator >&2

# Copy `binary` and every shared library it loads into `rootfs`, at the same paths.
assemble() {
  local binary="$1" rootfs="$2"
  install -D -m 0755 "$binary" "$rootfs/usr/local/bin/$(basename "$binary")"
  # Lines look like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or
  # `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
  ldd "$binary" | awk '/=> \// { print $3; next } /^\t\// { print $1 }' |
    while read -r library; do
      mkdir -p "$rootfs$(dirname "$library")"
      cp -L "$library" "$rootfs$library"
    done
}

STAGING="$(mktemp -d)"
trap 'rm -rf "$STAGING"' EXIT

build_image() {
  local name="$1" stage="$STAGING/$1"
  assemble "target/release/$name" "$stage/rootfs"
  if [ "$name" = lattice-sidecar ]; then
    install -D -m 0644 "$CA_BUNDLE" "$stage/rootfs$CA_BUNDLE"
  fi
  echo "== building image $name:$VERSION" >&2
  docker build --quiet \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    --tag "$name:$VERSION" --tag "$name:dev" \
    --file "$name/Dockerfile" "$stage" >/dev/null
  echo "$name:$VERSION"
  echo "$name:dev"
}

build_image lattice-sidecar
build_image lattice-emulator
