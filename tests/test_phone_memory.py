"""Resident memory of the phone core: a fresh process normalizing numbers of every region."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import phonenumbers

try:  # tests/ is a rootdir-style test directory (no __init__.py)...
    from phone_corpus import ALL_REGIONS, NON_GEO, TYPES
except ImportError:  # ...or a package, once someone adds an __init__.py
    from tests.phone_corpus import ALL_REGIONS, NON_GEO, TYPES

LIMIT_MB = 30.0

CHILD = textwrap.dedent(
    """
    import json, sys

    def rss_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    inputs = json.load(sys.stdin)
    before = rss_kb()
    from lead2inbound import _core
    for _ in range(3):
        for raw, region in inputs:
            try:
                _core.normalize(raw, region)
            except _core.InvalidPhone:
                pass
        _core.normalize_many([raw for raw, _ in inputs], "US")
    after = rss_kb()
    print(json.dumps({"before_kb": before, "after_kb": after, "inputs": len(inputs)}))
    """
)


def every_region_inputs() -> list[tuple[str, str]]:
    inputs: list[tuple[str, str]] = []
    fmt = phonenumbers.PhoneNumberFormat
    for region in ALL_REGIONS:
        for t in TYPES:
            ex = phonenumbers.example_number_for_type(region, t)
            if ex is None:
                continue
            e164 = phonenumbers.format_number(ex, fmt.E164)
            inputs.append((e164, "US"))
            inputs.append((phonenumbers.format_number(ex, fmt.NATIONAL), region))
            inputs.append((e164[:-1] + "9" + "1", region))  # usually invalid: every desc tested
        inputs.append(("0" + "9" * 8, region))
    for cc in NON_GEO:
        ex = phonenumbers.example_number_for_non_geo_entity(cc)
        if ex is not None:
            inputs.append((phonenumbers.format_number(ex, fmt.E164), "US"))
    return inputs


def measure() -> dict[str, int]:
    inputs = every_region_inputs()
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_phone_memory_every_region_under_limit() -> None:
    m = measure()
    increase_mb = (m["after_kb"] - m["before_kb"]) / 1024
    print(f"\nphone RSS increase: {increase_mb:.1f} MB over {m['inputs']} inputs of every region")
    assert m["inputs"] > 1000
    assert increase_mb <= LIMIT_MB
