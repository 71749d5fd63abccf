"""Registry import rate and lookup cost: a generated full list of N numbers (default 10 million,
`AAA,NNNNNNN` and `NNNNNNNNNN` lines mixed across files), imported as `l2i dnc import` does, then a
change list, then random lookups.

    .venv/bin/python bench/bench_registry.py [--numbers 10000000] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from lead2inbound._core import Registry
from lead2inbound.dnc.registry_import import import_files


def generate(dirpath: Path, total: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    area_codes = list(range(201, 990))[: max(1, total // 100_000)] or [512]
    per = total // len(area_codes)
    files = []
    for i, ac in enumerate(area_codes):
        nums = rng.sample(range(2_000_000, 10_000_000), per)
        path = dirpath / f"{ac}.txt"
        if i % 2:
            path.write_text("".join(f"{ac},{n:07d}\n" for n in nums))
        else:
            path.write_text("".join(f"{ac}{n:07d}\n" for n in nums))
        files.append(path)
    return files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        files = generate(d, args.numbers)
        size = sum(f.stat().st_size for f in files)
        print(
            f"generated {args.numbers:,} numbers in {len(files)} files "
            f"({size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
        out = d / "org.dnc"
        res = import_files(files, out)
        mb = out.stat().st_size / 1e6
        print(
            f"full import: {res.lines:,} lines -> {res.total:,} numbers in {res.seconds:.2f} s "
            f"({res.lines / res.seconds / 1e6:.2f} M lines/s); file {mb:,.0f} MB"
        )
        reg = Registry(str(out))
        sample = [
            f"+1{reg_n}"
            for reg_n in random.Random(2).sample(range(2012000000, 9899999999), 200_000)
        ]
        change = d / "changes.txt"
        change.write_text(
            "".join(
                f"{s[2:5]},{s[5:]},{'D' if i % 2 else 'A'}\n"
                for i, s in enumerate(sample[:100_000])
            )
        )
        res = import_files([change], out)
        print(
            f"change list: {res.lines:,} lines ({res.added:,} adds, {res.deleted:,} deletes) "
            f"applied to the file in {res.seconds:.2f} s -> {res.total:,} numbers"
        )
        reg = Registry(str(out))
        t = time.perf_counter()
        hits = sum(reg.contains(s) for s in sample)
        dt = time.perf_counter() - t
        print(
            f"lookups: {len(sample):,} in {dt:.3f} s ({dt / len(sample) * 1e6:.2f} us each, "
            f"{hits:,} hits)"
        )


if __name__ == "__main__":
    main()
