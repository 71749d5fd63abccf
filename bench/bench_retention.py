"""POST /v1/leads latency with and without the retention purge running (docs/privacy.md).

Starts its own embedded Postgres (not durable) and Redis, stores `--old` leads created 400
days ago (one SQL statement), then runs the same load twice against a fresh Granian server:
`--posts` single-lead posts from `--concurrency` clients (after 200 untimed warm-up posts),
alternately with retention off and with L2I_LEAD_RETENTION_DAYS=365 so the purge reduces the old
leads while the posts run, `--rounds` times each (interleaved, so the machine's other load falls
on both alike). Prints p50/p90/p99/max per run and how many old leads the purge reduced.

    .venv/bin/python bench/bench_retention.py --old 1000000 --posts 3000

On a shared 2-core machine keep it short; compare the two runs of one invocation, not runs of
different invocations. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from bench.support import seeded_stack, store_leads  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

OLD = """
INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, phone_valid,
                   first_name, email, consent, status, eligible, reasons, checks, created_at)
SELECT %s, gen_random_uuid(), false, 'k', '+1512' || lpad(g::text, 7, '0'),
       '512' || lpad(g::text, 7, '0'), true, 'Old', 'old@example.com',
       '{"consent_timestamp": "2025-01-01T00:00:00Z", "ip_address": "203.0.113.9"}',
       'qualified', true, '{}', '{}', now() - interval '400 days' + make_interval(secs => g)
FROM generate_series(1, %s) AS g
"""
LEFT = "SELECT count(*) FROM leads WHERE erased_at IS NULL AND first_name = 'Old'"


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


async def load(url: str, key: str, posts: int, concurrency: int, base: int) -> list[float]:
    took: list[float] = []
    todo = iter(range(posts))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:

        async def one() -> None:
            for i in todo:
                body = {
                    "phone": f"+1737{base + i:07d}",
                    "first_name": "New",
                    "consent": {"consent_timestamp": "2026-07-05T12:00:00Z"},
                }
                started = time.perf_counter()
                resp = await client.post(f"{url}/v1/leads", json=body)
                took.append(time.perf_counter() - started)
                if resp.status_code != 201:
                    raise SystemExit(f"HTTP {resp.status_code}: {resp.text[:300]}")

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return took


def report(name: str, took: list[float]) -> None:
    ms = [t * 1000 for t in took]
    print(
        f"{name}: {len(ms)} posts, p50 {pct(ms, 50):.1f} ms, p90 {pct(ms, 90):.1f} ms, "
        f"p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=int, default=1_000_000)
    ap.add_argument("--posts", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch", type=int, default=500, help="L2I_RETENTION_BATCH")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with seeded_stack(["write"]) as seeded:
        took = store_leads(seeded, OLD, args.old)
        print(f"stored {args.old:,} old leads in {took:.1f} s")
        stack, tmp, key = seeded.stack, seeded.tmp, seeded.key
        env = seeded.env(L2I_CALLING_HOURS="off")
        runs = (
            ("without purge", {}),
            (
                "with purge",
                {
                    "L2I_LEAD_RETENTION_DAYS": "365",
                    "L2I_RETENTION_BATCH": str(args.batch),
                    "L2I_RETENTION_INTERVAL_S": "1",
                },
            ),
        )
        for n, (name, extra) in enumerate(runs * args.rounds):
            with ServerProcess(env={**env, **extra}, log_path=tmp / f"s{n}.log") as server:
                asyncio.run(load(server.url, key, 200, args.concurrency, n * 10**6 + 900_000))
                with psycopg.connect(stack.database_url, autocommit=True) as conn:
                    before = conn.execute(LEFT).fetchone()[0]
                started = time.perf_counter()
                took = asyncio.run(load(server.url, key, args.posts, args.concurrency, n * 10**6))
                elapsed = time.perf_counter() - started
                with psycopg.connect(stack.database_url, autocommit=True) as conn:
                    after = conn.execute(LEFT).fetchone()[0]
                report(name, took)
                if extra:
                    print(
                        f"  purge reduced {before - after:,} old leads while the posts ran "
                        f"({elapsed:.1f} s, {(before - after) / elapsed:,.0f} leads/s); "
                        f"{after:,} left"
                    )


if __name__ == "__main__":
    main()
