"""Claim latency on a big dial queue: a claim of 10 from 1,000,000 waiting leads, 100,000 of them
retries and 10,000 numbers at their state attempt limit (issue 26: p99 < 20 ms), and 8 concurrent
dialers that must never get one lead twice.

    .venv/bin/python bench/bench_claim.py \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        [--leads 1000000] [--retries 100000] [--at-limit 10000] [--claims 1000]

Creates (and afterwards drops) its own database `l2i_bench_claim` next to the given URL's, applies
the migrations and generates the queue with SQL (generate_series), as the service would have left
it: new leads (10 % of them in Florida), retries with 1-5 attempts (60 % due, the rest later), and
Florida numbers with 3 attempts in the last 24 hours, held until their first attempt leaves the
window. Then it claims through `DialQueue.claim` (the same code and SQL as POST
/v1/dial-queue/claim, without HTTP) with the clock fixed on a Wednesday 14:00 Eastern (every zone's
calling window open), and reports p50/p99 of a claim of 10: one dialer alone, then 8 dialers at
once, each recording a `no_answer` attempt for every lead it got (not timed), as a dialer does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dialing.queue import Attempt, DialQueue
from lead2inbound.store.migrate import migrate

DB = "l2i_bench_claim"
NOW = datetime(2026, 7, 8, 18, 0, tzinfo=UTC)  # Wednesday 14:00 Eastern
ORG = "00000000-0000-4000-8000-000000000026"

# Every lead: an E.164 number of its own (numbers at their limit have one lead each), where it is
# and its rules, and its queue entry. `kind`: 0 new, 1 retry, 2 at the Florida limit.
GENERATE = """
INSERT INTO orgs (org_id, name) VALUES (%(org)s, 'bench');
CREATE TEMP TABLE g AS
SELECT i,
       CASE WHEN i < %(at_limit)s THEN 2
            WHEN i < %(at_limit)s + %(retries)s THEN 1 ELSE 0 END AS kind,
       '+1' || (2002000000 + i)::text AS phone,
       CASE WHEN i < %(at_limit)s OR i %% 10 = 0 THEN 'FL'
            WHEN i %% 10 < 5 THEN 'NY' WHEN i %% 10 < 8 THEN 'TX' ELSE 'CA' END AS state
FROM generate_series(0, %(leads)s - 1) AS i;
INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, phone_valid, status,
                   eligible, reasons, checks, state, timezone, timezones, calling_rules,
                   attempts, next_attempt_at, created_at, updated_at)
SELECT %(org)s, uuid_in(md5('lead' || i)::cstring), false, 'benchbenchbe', phone, phone, true,
       'new', true, '{}', '{}', state,
       z.zones[1], z.zones, z.rules,
       CASE kind WHEN 0 THEN 0 WHEN 1 THEN 1 + i %% 5 ELSE 3 END,
       NULL, %(now)s::timestamptz - make_interval(secs => %(leads)s - i), now()
FROM g, LATERAL (SELECT CASE state
        WHEN 'FL' THEN ARRAY['America/New_York', 'America/Chicago']
        WHEN 'NY' THEN ARRAY['America/New_York']
        WHEN 'TX' THEN ARRAY['America/Chicago', 'America/Denver']
        ELSE ARRAY['America/Los_Angeles'] END AS zones,
     CASE WHEN state IN ('FL', 'TX') THEN ARRAY['US', state] ELSE ARRAY['US'] END AS rules) AS z;
INSERT INTO dial_queue (org_id, lead_id, phone, queued_at, attempts, due_at, callback)
SELECT %(org)s, uuid_in(md5('lead' || i)::cstring), phone,
       %(now)s::timestamptz - make_interval(secs => %(leads)s - i),
       CASE kind WHEN 0 THEN 0 WHEN 1 THEN 1 + i %% 5 ELSE 3 END,
       CASE kind
           WHEN 0 THEN NULL
           -- retries: 60 %% due (up to 2 days ago), 40 %% later today
           WHEN 1 THEN %(now)s::timestamptz + make_interval(secs =>
                CASE WHEN i %% 10 < 6 THEN -(i %% 172800) ELSE 60 + i %% 36000 END)
           -- at the limit: held until the first of its 3 attempts leaves the 24 h window
           ELSE %(now)s::timestamptz - interval '20 hours' + make_interval(secs => i %% 3600)
                + interval '24 hours'
       END,
       false
FROM g;
INSERT INTO dial_attempts (org_id, lead_id, attempt_no, phone, result, at, api_key_id, recorded_at)
SELECT %(org)s, uuid_in(md5('lead' || i)::cstring), n, phone, 'no_answer',
       %(now)s::timestamptz - interval '20 hours' + make_interval(secs => i %% 3600)
           + make_interval(hours => 3 * (n - 1)),
       'benchbenchbe', %(now)s
FROM g, generate_series(1, 3) AS n
WHERE kind = 2;
UPDATE leads l SET next_attempt_at = q.due_at
FROM dial_queue q WHERE q.org_id = l.org_id AND q.lead_id = l.lead_id AND q.due_at IS NOT NULL;
"""


def with_db(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


def create(admin_url: str, args: argparse.Namespace) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(DB)))
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(DB)))
    url = with_db(admin_url, DB)
    migrate(url)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        params = {"org": ORG, "now": NOW, "leads": args.leads, "retries": args.retries,
                  "at_limit": args.at_limit}  # fmt: skip
        with conn.transaction():
            for statement in GENERATE.split(";\n"):
                if statement.strip():
                    conn.execute(statement.encode(), params)
        conn.execute("VACUUM ANALYZE leads")
        conn.execute("VACUUM ANALYZE dial_queue")
        conn.execute("VACUUM ANALYZE dial_attempts")
        counts = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE due_at IS NULL), "
            "count(*) FILTER (WHERE due_at <= %s), count(DISTINCT phone) FILTER (WHERE phone IN "
            "(SELECT phone FROM dial_attempts GROUP BY phone HAVING count(*) >= 3)) "
            "FROM dial_queue",
            (NOW,),
        ).fetchone()
    assert counts is not None
    print(f"generated in {time.perf_counter() - t0:.0f} s: {counts[0]} waiting, {counts[1]} new, "
          f"{counts[2]} retries due, {counts[3]} numbers at their limit")  # fmt: skip
    return url


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def dialer(
    claimer: DialQueue, settler: DialQueue, name: str, claims: int, times: list[float],
    handed: Counter,
) -> None:  # fmt: skip
    for _ in range(claims):
        t0 = time.perf_counter()
        rows = await claimer.claim(ORG, name, 10, 300)
        times.append((time.perf_counter() - t0) * 1000)
        for row in rows:
            handed[str(row["lead_id"])] += 1
            await settler.attempt(ORG, name, str(row["lead_id"]), Attempt("no_answer"), None)


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a local Postgres backend has used; None if not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, args: argparse.Namespace) -> None:
    async with (
        AsyncConnectionPool(url, min_size=9, max_size=9, open=False) as pool,
        AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as alone_pool,
    ):
        await pool.open(wait=True)
        await alone_pool.open(wait=True)
        queue = DialQueue(pool, clock=lambda: NOW)
        alone_queue = DialQueue(alone_pool, clock=lambda: NOW)
        async with alone_pool.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        handed: Counter = Counter()
        alone: list[float] = []
        await dialer(alone_queue, queue, "warmup", 20, [], handed)
        cpu0 = backend_cpu_s(row[0])
        await dialer(alone_queue, queue, "alone", args.claims, alone, handed)
        cpu1 = backend_cpu_s(row[0])
        together: list[float] = []
        await asyncio.gather(*(dialer(queue, queue, f"dialer-{i}", args.claims // 8, together,
                                      handed) for i in range(8)))  # fmt: skip
    twice = [lead for lead, n in handed.items() if n > 1]
    print(f"load average at the end: {os.getloadavg()}")
    for label, times in (("1 dialer", alone), ("8 dialers at once", together)):
        print(
            f"claim of 10, {label}: {len(times)} claims, p50 {statistics.median(times):.2f} ms, "
            f"p99 {pct(times, 99):.2f} ms, max {max(times):.2f} ms"
        )
    if cpu0 is not None and cpu1 is not None:
        print(f"Postgres CPU per claim (1 dialer, its backend's user+system time): "
              f"{(cpu1 - cpu0) / args.claims * 1000:.2f} ms")  # fmt: skip
    print(f"leads handed out: {sum(handed.values())}, handed out twice: {len(twice)}")
    assert not twice, twice[:5]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True, help="a Postgres the bench may create a db on")
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--retries", type=int, default=100_000)
    ap.add_argument("--at-limit", type=int, default=10_000)
    ap.add_argument("--claims", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    url = create(args.database_url, args)
    try:
        asyncio.run(run(url, args))
    finally:
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(DB)))  # fmt: skip


if __name__ == "__main__":
    main()
