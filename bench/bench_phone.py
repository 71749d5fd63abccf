"""Phone normalization: `phonenumbers` (parse + is_valid_number + format_number E164) against
`lead2inbound._core.normalize`, side by side in one process.

Writes bench/out/phone.json and prints a table. Usage: python bench/bench_phone.py [--quick]
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import phonenumbers

from lead2inbound import _core

OUT = Path(__file__).resolve().parent / "out"

US = [
    "(512) 555-0143",
    "512.555.0143",
    "+1 512-555-0143",
    "5125550143",
    "1-650-253-0000",
    "(212) 736-5000",
    "+1 (415) 555-2671",
    "305 555 0199",
]
INTL = [
    "+44 20 7031 3000",
    "+49 30 123456",
    "+33 1 42 68 53 00",
    "+91 98765 43210",
    "+55 11 91234-5678",
    "+81 3-1234-5678",
    "+61 2 9876 5432",
    "+86 10 1234 5678",
]


def oracle_normalize(raw: str) -> str:
    p = phonenumbers.parse(raw, "US")
    phonenumbers.is_valid_number(p)
    return phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)


def per_call_us(fn, inputs: list[str], loops: int, repeats: int) -> float:
    """Median over `repeats` of the mean time per input, in microseconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            for raw in inputs:
                fn(raw)
        times.append((time.perf_counter() - t) / (loops * len(inputs)))
    return statistics.median(times) * 1e6


def per_item_many_us(inputs: list[str], loops: int, repeats: int) -> float:
    batch = inputs * 128
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            _core.normalize_many(batch)
        times.append((time.perf_counter() - t) / (loops * len(batch)))
    return statistics.median(times) * 1e6


RSS_CHILD = """
import json
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
a = rss()
from lead2inbound import _core
for raw in %r:
    _core.normalize(raw)
print(json.dumps((rss() - a) / 1024))
"""


def main() -> None:
    quick = "--quick" in sys.argv
    loops, repeats = (200, 5) if quick else (2000, 7)
    ora_loops = max(loops // 20, 10)
    for raw in US + INTL:  # agree before timing anything
        assert _core.normalize(raw).e164 == oracle_normalize(raw), raw
    rows = {
        "us": {
            "phonenumbers_us": per_call_us(oracle_normalize, US, ora_loops, repeats),
            "core_us": per_call_us(_core.normalize, US, loops, repeats),
        },
        "international": {
            "phonenumbers_us": per_call_us(oracle_normalize, INTL, ora_loops, repeats),
            "core_us": per_call_us(_core.normalize, INTL, loops, repeats),
        },
        "us_normalize_many_per_item": {
            "phonenumbers_us": None,
            "core_us": per_item_many_us(US, max(loops // 50, 5), repeats),
        },
    }
    rows["us_normalize_many_per_item"]["phonenumbers_us"] = rows["us"]["phonenumbers_us"]
    for row in rows.values():
        row["speedup"] = row["phonenumbers_us"] / row["core_us"]
    rss = json.loads(
        subprocess.run(
            [sys.executable, "-c", RSS_CHILD % (US + INTL)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    result = {
        "phonenumbers_version": phonenumbers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "loops": loops,
        "repeats": repeats,
        "rows": rows,
        "rss_increase_mb_import_and_normalize": rss,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "phone.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'case':32} {'phonenumbers µs':>16} {'_core µs':>10} {'speedup':>9}")
    for name, row in rows.items():
        print(
            f"{name:32} {row['phonenumbers_us']:16.2f} {row['core_us']:10.3f} "
            f"{row['speedup']:8.1f}x"
        )
    print(f"RSS increase after import + normalize: {rss:.1f} MB")
    print(f"wrote {OUT / 'phone.json'}")


if __name__ == "__main__":
    main()
