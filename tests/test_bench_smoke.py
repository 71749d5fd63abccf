"""The benchmark suite in miniature (`bench/run.py --smoke`): every phase runs for a second or
two against the real stack, and every 201 must be a stored lead. Checks that nothing is lost, not
speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_bench_smoke_loses_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(out),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=230, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "smoke.json").read_text())
    assert {"service", "scenario", "peer"} <= set(results["verified"])  # + scenario_oha with oha
    assert set(results["verified"].values()) == {"ok"}
    for phase in ("service", "peer"):
        v = results[phase]["verify"]
        assert v["ok"] and v["answers_201"] == v["rows"] > 0
    scenario = results["scenario"]
    assert scenario["verify"]["ok"] and scenario["verify"]["rows"] > 0
    assert scenario["unexpected"] == 0
    assert scenario["claimed"] > 0  # the claimer saw the queued leads
    assert results["ceiling"]["rps"] > 0
    assert results["floor"]["locust_rate"] > 0  # the generators' floor against the ceiling
    assert 0 < results["floor"]["locust_ms"]["50"] <= results["floor"]["locust_ms"]["99"]
