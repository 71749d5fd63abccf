"""Differential test: `_core.normalize` against the `phonenumbers` oracle, field by field.

The default (CI) run checks `L2I_DIFF_INPUTS` inputs (50,000 unless set); `make
differential-full` runs the slow test with a million.
"""

from __future__ import annotations

import os
import time

import pytest

from lead2inbound import _core
from tests.phone_corpus import corpus, describe, oracle

CI_INPUTS = 50_000


def run_differential(n: int, seed: int) -> None:
    inputs = list(corpus(n, seed))
    started = time.perf_counter()
    disagreements = []
    by_region: dict[str, list[str]] = {}
    for raw, region in inputs:
        expected = oracle(raw, region)
        try:
            got = describe(_core.normalize(raw, region))
        except _core.InvalidPhone as e:
            got = describe(e)
        if got != expected:
            disagreements.append((raw, region, expected, got))
        by_region.setdefault(region, []).append(raw)
    # normalize_many must agree with normalize item by item.
    many_mismatch = 0
    for region, raws in by_region.items():
        for raw, item in zip(raws, _core.normalize_many(raws, region), strict=True):
            try:
                single = describe(_core.normalize(raw, region))
            except _core.InvalidPhone as e:
                single = describe(e)
            if describe(item) != single:
                many_mismatch += 1
    elapsed = time.perf_counter() - started
    print(
        f"\nphone differential: {len(inputs)} inputs (seed {seed}), "
        f"{len(disagreements)} disagreements, {many_mismatch} normalize_many mismatches, "
        f"{elapsed:.1f} s"
    )
    shown = "\n".join(
        f"  {raw!r} region={region!r}\n    oracle: {exp}\n    _core:  {got}"
        for raw, region, exp, got in disagreements[:10]
    )
    assert not disagreements, f"{len(disagreements)} disagreements, first ones:\n{shown}"
    assert many_mismatch == 0


def test_differential_ci_chunk() -> None:
    run_differential(int(os.environ.get("L2I_DIFF_INPUTS", CI_INPUTS)), seed=1)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_differential_full() -> None:
    run_differential(int(os.environ.get("L2I_DIFF_INPUTS", 1_000_000)), seed=2)
