#!/bin/sh
# Transparent mode: send this network namespace's plain-HTTP calls to Amazon VPC Lattice
# (TCP to the link-local range 169.254.171.0/24 and, with ip6tables, the IPv6 range
# fd00:ec2:80::/64, port 80) to lattice-sidecar, for apps that honour no proxy variable
# (Java, Node's fetch). The app keeps calling http://<service>.on.aws/ unchanged; the
# sidecar reads the name from the Host header, signs the request and sends it over TLS to
# https://<service>.on.aws/.
#
#   deploy/transparent/iptables.sh               # add the rules (idempotent)
#   deploy/transparent/iptables.sh --ipv4-only   # add only the IPv4 ones (no ip6tables)
#   deploy/transparent/iptables.sh --delete      # remove them
#
# Run it as root (or with CAP_NET_ADMIN and CAP_NET_RAW) in the app's network namespace
# before the app starts: a Kubernetes init container, an ECS container the app depends on,
# or by hand on a host. The sidecar's own connections (its uid) are never redirected, so it
# cannot loop; run the app under any other uid. Only connections made inside this namespace
# are redirected (the nat table's OUTPUT chain); nothing else on the host changes.
#
# REDIRECT sends a locally made packet to the loopback address of its family: run the
# sidecar with --listen 127.0.0.1:8080,[::1]:8080. Without a usable ip6tables (binary and
# nat table) the script adds nothing and fails, since an app that resolves a Lattice name's
# AAAA record would otherwise go around the sidecar, unsigned; --ipv4-only accepts that.
#
# Environment: LATTICE_SIDECAR_UID (65532, the images' user), LATTICE_SIDECAR_PORT (8080,
# the sidecar's --listen port), LATTICE_CIDR (169.254.171.0/24), LATTICE_CIDR6
# (fd00:ec2:80::/64), LATTICE_PORT (80). Needs: iptables and ip6tables (nft or legacy).
set -eu

SIDECAR_UID="${LATTICE_SIDECAR_UID:-65532}"
SIDECAR_PORT="${LATTICE_SIDECAR_PORT:-8080}"
CIDR="${LATTICE_CIDR:-169.254.171.0/24}"
CIDR6="${LATTICE_CIDR6:-fd00:ec2:80::/64}"
PORT="${LATTICE_PORT:-80}"
CHAIN=LATTICE_SIDECAR

delete=false
ipv4_only=false
for arg in "$@"; do
  case "$arg" in
    --delete) delete=true ;;
    --ipv4-only) ipv4_only=true ;;
    *)
      echo "iptables.sh: unknown argument \`$arg\` (use --delete or --ipv4-only)" >&2
      exit 64
      ;;
  esac
done

command -v iptables >/dev/null 2>&1 || {
  echo "iptables.sh: iptables not found (Debian: apt-get install iptables)" >&2
  exit 69
}
# ip6tables with a nat table (the kernel's ip6table_nat, or nft's).
ipv6=false
if command -v ip6tables >/dev/null 2>&1 && ip6tables -t nat -S >/dev/null 2>&1; then
  ipv6=true
fi
if [ "$ipv6" = false ] && [ "$delete" = false ] && [ "$ipv4_only" = false ]; then
  echo "iptables.sh: ip6tables or its nat table is missing, so calls to Lattice's IPv6 range" \
    "$CIDR6 would not be redirected and would reach Lattice unsigned; install ip6tables" \
    "(Debian: apt-get install iptables) or pass --ipv4-only if the app never uses IPv6" >&2
  exit 69
fi

# `jump TOOL ACTION CIDR`: the OUTPUT rule that sends the range's port to the chain.
jump() { "$1" -t nat "$2" OUTPUT -p tcp -d "$3" --dport "$PORT" -j "$CHAIN"; }

remove() {
  while jump "$1" -C "$2" 2>/dev/null; do jump "$1" -D "$2"; done
  "$1" -t nat -F "$CHAIN" 2>/dev/null || true
  "$1" -t nat -X "$CHAIN" 2>/dev/null || true
}

add() {
  "$1" -t nat -N "$CHAIN" 2>/dev/null || "$1" -t nat -F "$CHAIN"
  # The sidecar's own traffic goes out as it is. REDIRECT sends a locally made packet to
  # the family's loopback address (127.0.0.1 or ::1), where the sidecar listens.
  "$1" -t nat -A "$CHAIN" -m owner --uid-owner "$SIDECAR_UID" -j RETURN
  "$1" -t nat -A "$CHAIN" -p tcp -j REDIRECT --to-ports "$SIDECAR_PORT"
  jump "$1" -C "$2" 2>/dev/null || jump "$1" -A "$2"
}

if [ "$delete" = true ]; then
  remove iptables "$CIDR"
  # Without ip6tables' nat table there can be no IPv6 rules to remove.
  if [ "$ipv6" = true ]; then remove ip6tables "$CIDR6"; fi
  exit 0
fi

add iptables "$CIDR"
if [ "$ipv4_only" = false ]; then add ip6tables "$CIDR6"; fi
