"""Summarize py-spy raw (collapsed) profiles: where the service workers spend their time.

.venv/bin/python bench/profile_summary.py bench/out/profile_service_w*.txt [--top 30]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for f in args.files:
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            total += count
            frames = [re.sub(r" \(([^)]*/)?([^/)]+)\)", r" (\2)", fr) for fr in stack.split(";")]
            own[frames[-1]] += count
            for fr in set(frames):
                incl[fr] += count
    print(f"{total} samples")
    print("\n-- self time --")
    for fr, n in own.most_common(args.top):
        print(f"{n / total:6.1%}  {fr}")
    print("\n-- inclusive time --")
    for fr, n in incl.most_common(args.top):
        print(f"{n / total:6.1%}  {fr}")


if __name__ == "__main__":
    main()
