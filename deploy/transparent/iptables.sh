#!/bin/sh
# Transparent mode: send this network namespace's plain-HTTP calls to Amazon VPC Lattice
# (TCP to the link-local range 169.254.171.0/24, port 80) to lattice-sidecar, for apps that
# honour no proxy variable (Java, Node's fetch). The app keeps calling
# http://<service>.on.aws/ unchanged; the sidecar reads the name from the Host header,
# signs the request and sends it over TLS to https://<service>.on.aws/.
#
#   deploy/transparent/iptables.sh           # add the rules (idempotent)
#   deploy/transparent/iptables.sh --delete  # remove them
#
# Run it as root (or with CAP_NET_ADMIN and CAP_NET_RAW) in the app's network namespace
# before the app starts: a Kubernetes init container, an ECS container the app depends on,
# or by hand on a host. The sidecar's own connections (its uid) are never redirected, so it
# cannot loop; run the app under any other uid. Only connections made inside this namespace
# are redirected (the nat table's OUTPUT chain); nothing else on the host changes.
#
# Environment: LATTICE_SIDECAR_UID (65532, the images' user), LATTICE_SIDECAR_PORT (8080,
# the sidecar's --listen port on 127.0.0.1), LATTICE_CIDR (169.254.171.0/24),
# LATTICE_PORT (80). Needs: iptables (nft or legacy).
set -eu

SIDECAR_UID="${LATTICE_SIDECAR_UID:-65532}"
SIDECAR_PORT="${LATTICE_SIDECAR_PORT:-8080}"
CIDR="${LATTICE_CIDR:-169.254.171.0/24}"
PORT="${LATTICE_PORT:-80}"
CHAIN=LATTICE_SIDECAR

command -v iptables >/dev/null 2>&1 || {
  echo "iptables.sh: iptables not found (Debian: apt-get install iptables)" >&2
  exit 69
}

jump() { iptables -t nat "$1" OUTPUT -p tcp -d "$CIDR" --dport "$PORT" -j "$CHAIN"; }

if [ "${1:-}" = --delete ]; then
  while jump -C 2>/dev/null; do jump -D; done
  iptables -t nat -F "$CHAIN" 2>/dev/null || true
  iptables -t nat -X "$CHAIN" 2>/dev/null || true
  exit 0
fi

iptables -t nat -N "$CHAIN" 2>/dev/null || iptables -t nat -F "$CHAIN"
# The sidecar's own traffic goes out as it is. A locally made packet that REDIRECT sends to
# a port goes to 127.0.0.1, where the sidecar listens by default.
iptables -t nat -A "$CHAIN" -m owner --uid-owner "$SIDECAR_UID" -j RETURN
iptables -t nat -A "$CHAIN" -p tcp -j REDIRECT --to-ports "$SIDECAR_PORT"
jump -C 2>/dev/null || jump -A
