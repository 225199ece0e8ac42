#!/usr/bin/env bash
# Checks that the published crates are fit to publish:
#   1. each of lattice-client's features builds alone, warning-free (no feature silently
#      needs another);
#   2. each published crate's rust-version is at least the highest rust-version among the
#      locked dependencies it builds with;
#   3. `cargo publish --dry-run` packages and builds all three.
# Needs cargo, clippy, python3 (standard library only) and access to crates.io's index.
# Exits non-zero on the first failure, saying what failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLISHED=(lattice-client lattice-sidecar lattice-emulator)

fail() {
  echo "check-crates: FAILED: $*" >&2
  exit 1
}

metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
cargo metadata --format-version 1 --locked --all-features >"$metadata" ||
  fail "cargo metadata --locked: is Cargo.lock missing or out of date?"

echo "-- lattice-client: each feature alone (clippy -D warnings on the library)"
features="$(python3 - "$metadata" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
client = next(p for p in meta["packages"] if p["name"] == "lattice-client" and p["source"] is None)
# `default` and `full` are sets of the others; each of the others is checked alone.
print(" ".join(sorted(f for f in client["features"] if f not in ("default", "full"))))
EOF
)"
[ -n "$features" ] || fail "found no lattice-client features in cargo metadata"
for feature in "" $features; do
  only="${feature:+only the $feature feature}"
  echo "lattice-client with ${only:-no features}"
  cargo clippy --locked --quiet -p lattice-client --lib --no-default-features \
    ${feature:+--features "$feature"} -- -D warnings ||
    fail "lattice-client does not build warning-free with ${only:-no features}: does it need a feature it does not enable?"
done

echo "-- rust-version against the locked dependencies of ${PUBLISHED[*]}"
python3 - "$metadata" "${PUBLISHED[@]}" <<'EOF' || fail "rust-version or publish settings (see above)"
import json, subprocess, sys
from collections import deque

meta = json.load(open(sys.argv[1]))
published = sys.argv[2:]
packages = {p["id"]: p for p in meta["packages"]}
by_name_version = {(p["name"], p["version"]): p["id"] for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
members = set(meta["workspace_members"])


def version(text):
    parts = [int(x) for x in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def label(package_id):
    return f"{packages[package_id]['name']} {packages[package_id]['version']}"


ok = True
for member in sorted(members):
    package = packages[member]
    publishable = package["publish"] != []
    if publishable != (package["name"] in published):
        print(f"{package['name']}: publish is {'on' if publishable else 'off'}, but this script "
              f"{'does not dry-run it' if publishable else 'expects to publish it'}")
        ok = False

for name in published:
    root = next(m for m in members if packages[m]["name"] == name)
    declared = packages[root]["rust_version"]
    if declared is None:
        print(f"{name}: no rust-version")
        ok = False
        continue
    # What building or installing the crate compiles: normal and build dependencies (not
    # dev-dependencies), with all its features on, for every target platform. cargo tree
    # resolves features for this crate alone; cargo metadata's graph unifies the whole
    # workspace (other members and their dev-dependencies), which would overstate it.
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-p", name, "-e", "normal,build", "--all-features",
         "--target", "all", "--prefix", "none", "--format", "{p}"],
        check=True, capture_output=True, text=True,
    ).stdout
    needed = set()
    for line in tree.splitlines():
        if line.strip():
            crate, crate_version = line.split()[:2]
            needed.add(by_name_version[(crate, crate_version.lstrip("v"))])
    # A path to each dependency, for the report: the metadata graph within that set.
    parent = {root: None}
    queue = deque([root])
    while queue:
        current = queue.popleft()
        for dep in nodes[current]["deps"]:
            if dep["pkg"] in needed and dep["pkg"] not in parent and any(
                kind["kind"] in (None, "build") for kind in dep["dep_kinds"]
            ):
                parent[dep["pkg"]] = current
                queue.append(dep["pkg"])
    if set(parent) != needed:
        print(f"{name}: cargo tree and cargo metadata disagree on its dependencies: "
              f"{sorted(label(p) for p in needed ^ set(parent))}")
        ok = False
        continue
    needs = sorted(
        ((version(packages[p]["rust_version"]), p) for p in needed
         if p != root and packages[p]["rust_version"]),
        reverse=True,
    )
    highest = needs[0][0] if needs else (0, 0, 0)

    def chain(package_id):
        names = []
        while package_id is not None:
            names.append(label(package_id))
            package_id = parent[package_id]
        return " <- ".join(names)

    if version(declared) < highest:
        ok = False
        print(f"{name}: rust-version {declared} is lower than its locked dependencies need (dependency <- what pulls it in):")
        for need, package_id in needs:
            if need <= version(declared):
                break
            print(f"  {packages[package_id]['rust_version']:>8}  {chain(package_id)}")
    else:
        top = sorted(label(p) for v, p in needs if v == highest)
        more = f" and {len(top) - 3} more" if len(top) > 3 else ""
        print(f"{name}: rust-version {declared} ok; the highest among its {len(needed) - 1} "
              f"dependencies is {'.'.join(map(str, highest))} ({', '.join(top[:3])}{more})")
sys.exit(0 if ok else 1)
EOF

echo "-- cargo publish --dry-run ${PUBLISHED[*]}"
# One invocation, so lattice-sidecar's verify build resolves the lattice-client packaged
# here (cargo >= 1.90). --allow-dirty checks the tree as it is; CI's checkout is clean.
packages=()
for name in "${PUBLISHED[@]}"; do packages+=(-p "$name"); done
# The verify build is thrown away, so it skips debug info (less to generate and link).
CARGO_PROFILE_DEV_DEBUG=0 cargo publish --dry-run --locked --allow-dirty "${packages[@]}" ||
  fail "cargo publish --dry-run ${packages[*]}"

echo "check-crates: ok"
