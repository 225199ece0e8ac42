#!/usr/bin/env bash
# Runs every test: unit, SigV4 suite vectors, end-to-end against the local Lattice
# emulator, peer cross-checks (curl, botocore, awscrt) and sidecar process tests.
# Needs: python3 with `pip install -r tests/requirements.txt`, curl, a running Docker
# daemon (the container images are built and run last), and for the deploy checks kubectl
# (kustomize v5), systemd-analyze, jq, iptables, iproute2 and root (transparent mode's
# network namespace); .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Sidecar tests run the real binary, so build it (same profile as the tests) first.
cargo build --workspace --bins --all-features
cargo test --workspace --all-features --no-fail-fast "$@"
# The signing bench once per case, in criterion's test mode: keeps it running, and checks
# at setup that its floor hashes exactly what the signer signs; and the interleaved ratio
# bench in two small rounds, which checks that aws-sigv4 and lattice-client sign alike.
cargo test -p lattice-client --all-features --bench sign --bench ratio
# Every file under deploy/ against its engine's schema or tool, and transparent mode.
scripts/check-deploy.sh
# The container images, built from release binaries and run as one pod would.
scripts/image.sh
scripts/test-images.sh
# README.md's auth-policy walk-through, run as written against those images.
scripts/test-policy-walkthrough.sh
