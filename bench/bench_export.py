"""Memory of GET /v1/leads/export: a worker's resident memory while it streams N leads.

Starts its own embedded Postgres (not durable) and Redis and one Granian worker, stores `--leads`
leads with one SQL statement (generate_series: names, email, consent, attribution, two custom
fields), then streams the export (CSV, then NDJSON) and reads it away in 64 KiB pieces, while a
thread samples the worker's RSS every 0.1 s. Prints rows, seconds and the RSS growth above the
worker's RSS before the export (the issue's bound: 20 MB at 1,000,000 leads).

    .venv/bin/python bench/bench_export.py --leads 1000000

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from bench.support import seeded_stack, store_leads  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

WARM = "2000-01-01T00:00:00Z"
LEADS = """
INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, phone_valid,
                   first_name, last_name, email, state, consent, attribution, custom_fields,
                   status, eligible, reasons, checks, created_at)
SELECT %s, gen_random_uuid(), false, 'k', '+1512' || lpad(g::text, 7, '0'),
       '(512) ' || lpad(g::text, 7, '0'), true, 'Jane ' || g, 'Doe', 'j' || g || '@example.com',
       'TX', '{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v2"}',
       '{"utm_source": "google", "utm_campaign": "spring"}',
       jsonb_build_object('plan', 'gold', 'n', g),
       'new', true, '{}', '{"duplicate": "none"}',
       CASE WHEN g <= 10000 THEN timestamptz '1999-01-01' + make_interval(secs => g)
            ELSE now() - make_interval(secs => g) END
FROM generate_series(1, %s) AS g
"""


def export(port: int, key: str, fmt: str, pid: int) -> tuple[int, float, int]:
    """(bytes read, seconds, peak RSS growth in bytes) of one export."""
    proc = psutil.Process(pid)
    base = proc.memory_info().rss
    peak = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    started = time.perf_counter()
    conn.request(
        "GET", f"/v1/leads/export?format={fmt}", headers={"Authorization": f"Bearer {key}"}
    )
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()[:500]
    total = 0
    while piece := resp.read(65536):
        total += len(piece)
    took = time.perf_counter() - started
    stop.set()
    sampler.join()
    return total, took, peak - base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    args = ap.parse_args()
    with seeded_stack(["read"]) as seeded:
        took = store_leads(seeded, LEADS, args.leads)
        print(f"stored {args.leads:,} leads in {took:.1f} s")
        key = seeded.key
        env = seeded.env(L2I_WORKERS="1")
        with ServerProcess(env=env, log_path=seeded.tmp / "server.log") as server:
            (pid,) = server.worker_pids()
            for fmt in ("csv", "ndjson"):
                # a warm-up export of 10,000 leads first, so the worker's first-request
                # allocations (imports, pool connections, caches) do not count as growth
                export(server.port, key, fmt + "&created_before=" + WARM, pid)
                size, took, grew = export(server.port, key, fmt, pid)
                lines = args.leads + (1 if fmt == "csv" else 0)
                print(
                    f"{fmt}: {lines:,} lines, {size / 1e6:,.0f} MB in {took:.1f} s "
                    f"({args.leads / took:,.0f} leads/s); worker RSS grew {grew / 1e6:.1f} MB"
                )


if __name__ == "__main__":
    main()
