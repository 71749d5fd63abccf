"""The batched writer alone: leads/s and CPU per lead (this process, and Postgres) for N
concurrent writers, against a durable embedded Postgres with bench/postgres.conf.

    .venv/bin/python bench/bench_writer.py [--concurrency 32] [--seconds 5] [--flushers 2]
                                           [--suppressions N]

CPU time per lead is the noise-robust figure on a shared machine: throughput moves with the
neighbours' load, the CPU a lead costs much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import Stack

from lead2inbound.intake.pipeline import OrgPolicy, prepare
from lead2inbound.intake.validation import lead_from_json
from lead2inbound.intake.writer import LeadWriter


def pg_cpu(pg_pid: int) -> float:
    total = 0.0
    for p in [psutil.Process(pg_pid), *psutil.Process(pg_pid).children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


async def run(url: str, org: str, pg_pid: int, conc: int, seconds: float, flushers: int,
              max_batch: int, base: int) -> dict:  # fmt: skip
    pool = AsyncConnectionPool(url, min_size=2, max_size=8, open=False,
                               check=AsyncConnectionPool.check_connection)  # fmt: skip
    await pool.open(wait=True)
    writer = LeadWriter(pool, max_batch=max_batch, flushers=flushers)
    await writer.start()
    policy = OrgPolicy(org)
    done = 0
    seq = base
    stop_at = 0.0

    async def client() -> None:
        nonlocal done, seq
        while time.monotonic() < stop_at:
            seq += 1
            body = (b'{"phone":"%d","source":"w","consent":{"consent_timestamp":'
                    b'"2026-07-05T12:00:00Z"}}' % seq)  # fmt: skip
            lead = prepare(lead_from_json(body), policy=policy, key_id="benchbench01",
                           sandbox=False)  # fmt: skip
            r = await writer.write(lead)
            assert r.created
            done += 1

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    p0 = pg_cpu(pg_pid)
    t0 = time.monotonic()
    stop_at = t0 + seconds
    await asyncio.gather(*(client() for _ in range(conc)))
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    p1 = pg_cpu(pg_pid)
    await writer.stop()
    await pool.close()
    py = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return {
        "leads": done,
        "leads_per_s": done / wall,
        "python_us_per_lead": 1e6 * py / done,
        "postgres_us_per_lead": 1e6 * (p1 - p0) / done,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--flushers", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--suppressions", type=int, default=0, help="numbers on the org's suppression list"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="l2i-bw-"))
    stack = Stack(tmp)
    stack.start()
    try:
        org, _ = stack.new_org("writer-bench")
        with psycopg.connect(stack.pg.url, autocommit=True) as conn:
            if args.suppressions:  # numbers the benchmark never posts (prefix +1555)
                conn.execute("INSERT INTO suppressions (org_id, phone, reason) SELECT %s, "
                             "'+1555' || lpad(g::text, 7, '0'), 'bench' "
                             "FROM generate_series(1, %s) g", (org, args.suppressions))  # fmt: skip
                conn.execute("ANALYZE suppressions")
        runs = []
        for i in range(args.repeats):
            res = asyncio.run(
                run(
                    stack.pg.url,
                    org,
                    stack.pg.pid,
                    args.concurrency,
                    args.seconds,
                    args.flushers,
                    args.max_batch,
                    2_000_000_000 + i * 10_000_000,
                )
            )
            runs.append(res)
            print(json.dumps({k: round(v, 1) for k, v in res.items()}), flush=True)
        med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
        print("median", json.dumps({k: round(v, 1) for k, v in med.items()}))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
