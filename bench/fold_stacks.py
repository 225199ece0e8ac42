#!/usr/bin/env python3
"""Shorten and merge folded stacks (inferno-collapse-perf output) for a readable flamegraph.

Rust frames carry their full generic arguments, often hundreds of characters; this drops
them, keeping the `<Type as Trait>` of trait methods. `--root FRAME` re-roots every stack
at its first FRAME (and files stacks without it under one `outside FRAME` box), so a
benchmark's graph starts at the code measured rather than at criterion's loop.

    perf script | inferno-collapse-perf | bench/fold_stacks.py [--root FRAME] | inferno-flamegraph
"""

import argparse
import sys


def shorten(frame: str) -> str:
    keep_depth = 1 if frame.startswith("<") else 0
    out, depth = [], 0
    for ch in frame:
        if ch == "<":
            depth += 1
            if depth <= keep_depth:
                out.append(ch)
        elif ch == ">":
            if depth <= keep_depth:
                out.append(ch)
            depth = max(0, depth - 1)
        elif depth <= keep_depth:
            out.append(ch)
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="re-root stacks at their first frame with this name")
    args = parser.parse_args()
    merged: dict[str, int] = {}
    for line in sys.stdin:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [shorten(f) for f in stack.split(";")]
        if args.root:
            if args.root in frames:
                frames = frames[frames.index(args.root):]
            else:
                frames = [f"outside {args.root}", frames[-1]]
        key = ";".join(frames)
        merged[key] = merged.get(key, 0) + int(count)
    for key, count in merged.items():
        print(key, count)


if __name__ == "__main__":
    main()
