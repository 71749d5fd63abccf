"""abi3 or not: the hot path's `_core` calls timed from two wheels, A against B, interleaved.

    .venv/bin/python bench/bench_abi3.py WHEEL_A WHEEL_B [--rounds 5]

Each wheel's `lead2inbound/_core*.so` is extracted to a temporary folder and loaded as
`lead2inbound._core` in a child process of its own (one child per wheel per round, alternating
A, B, A, B, ... so that the machine's drift hits both alike). Every child times the calls the
request path makes: `normalize` (one phone, the POST path), `normalize_many` (a batch of 100),
`parse_key` + `verify_key` (every authenticated request), `WindowedBloom.contains` (the duplicate
pre-check). Prints the median nanoseconds per call for each wheel and the ratio B/A.

Used to decide whether the stable-ABI (`abi3`) wheel costs the hot path anything against a wheel
built for one CPython version (docs/operations.md, "The binary wheel").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHILD = r"""
import importlib.machinery, importlib.util, json, sys, time
path = sys.argv[1]
loader = importlib.machinery.ExtensionFileLoader("lead2inbound._core", path)
spec = importlib.util.spec_from_file_location("lead2inbound._core", path, loader=loader)
core = importlib.util.module_from_spec(spec)
loader.exec_module(core)
pepper = b"bench-pepper-0123456789abcdef0123"
key, _ = core.mint_key("live")
digest = core.key_digest(pepper, key)
phones = [f"512555{i:04d}" for i in range(100)]
bloom = core.WindowedBloom(100_000, 0.001, 3600.0)
for i in range(1000):
    bloom.insert(f"dup-{i}")

def per_call(fn, n):
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - t) / n)
    return best

def normalize(n):
    f = core.normalize
    for i in range(n):
        f("(512) 555-0199")

def normalize_many(n):
    f = core.normalize_many
    for i in range(n):
        f(phones)

def key_check(n):
    p, v = core.parse_key, core.verify_key
    for i in range(n):
        p(key)
        v(pepper, key, digest)

def bloom_contains(n):
    c = bloom.contains
    for i in range(n):
        c("dup-7")

print(json.dumps({
    "normalize": per_call(normalize, 50_000),
    "normalize_many(100)": per_call(normalize_many, 500),
    "parse_key+verify_key": per_call(key_check, 50_000),
    "bloom.contains": per_call(bloom_contains, 100_000),
}))
"""


def extract_core(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.startswith("lead2inbound/_core") and ".so" in n)
        target = into / Path(name).name
        target.write_bytes(zf.read(name))
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel_a", type=Path)
    ap.add_argument("wheel_b", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        a = extract_core(args.wheel_a, Path(tmp) / "a")
        b = extract_core(args.wheel_b, Path(tmp) / "b")
        runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for _ in range(args.rounds):
            for label, so in (("A", a), ("B", b)):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(so)],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=300,
                ).stdout
                runs[label].append(json.loads(out))
    print(f"A: {args.wheel_a.name}\nB: {args.wheel_b.name}  ({args.rounds} rounds, interleaved)")
    print(f"{'call':24} {'A ns':>9} {'B ns':>9} {'B/A':>6}   B/A per round")
    for name in runs["A"][0]:
        med_a = statistics.median(r[name] for r in runs["A"])
        med_b = statistics.median(r[name] for r in runs["B"])
        per_round = " ".join(
            f"{rb[name] / ra[name]:.2f}" for ra, rb in zip(runs["A"], runs["B"], strict=True)
        )
        print(f"{name:24} {med_a:9.0f} {med_b:9.0f} {med_b / med_a:6.2f}   {per_round}")


if __name__ == "__main__":
    main()
