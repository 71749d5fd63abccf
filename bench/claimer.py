"""A dial-queue claimer for the benchmark: records when each new lead became claimable.

    python bench/claimer.py --database-url URL --org ORG --out FILE [--mode listen|poll|http]

`listen` (default): LISTEN l2i_dial_queue on a dedicated connection; on each notification (and
at least every 100 ms) claim everything waiting with `FOR UPDATE SKIP LOCKED` and take it off
the queue. `poll`: claim every
`--interval` seconds without LISTEN. `http`: POST /v1/dial-queue/claim with a `dial` key (for when
that endpoint exists). Runs until SIGTERM/SIGINT, then writes {lead_id: epoch seconds seen}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import psycopg

CLAIM = """
WITH c AS (
    SELECT org_id, lead_id FROM dial_queue
    WHERE org_id = %(org)s AND lease_owner IS NULL
    ORDER BY queued_at, lead_id
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
DELETE FROM dial_queue d
USING c WHERE d.org_id = c.org_id AND d.lead_id = c.lead_id
RETURNING d.lead_id
"""
# Claimed and done at once (a dialer that completes what it takes): leases left standing at the
# head of the FIFO index would make every later claim step over all of them.


async def claim_all(conn: psycopg.AsyncConnection, org: str, seen: dict[str, float]) -> None:
    while True:
        cur = await conn.execute(CLAIM, {"org": org})
        rows = await cur.fetchall()
        now = time.time()
        for (lead_id,) in rows:
            seen[str(lead_id)] = now
        if len(rows) < 1000:
            return


async def run_db(args: argparse.Namespace, stop: asyncio.Event, seen: dict[str, float]) -> None:
    conn = await psycopg.AsyncConnection.connect(args.database_url, autocommit=True)
    listener = None
    wake = asyncio.Event()
    if args.mode == "listen":
        listener = await psycopg.AsyncConnection.connect(args.database_url, autocommit=True)
        await listener.execute("LISTEN l2i_dial_queue")

        async def listen() -> None:
            async for _ in listener.notifies():
                wake.set()

        listen_task = asyncio.create_task(listen())
    interval = args.interval if args.mode == "poll" else 0.1
    while not stop.is_set():
        # Clear before claiming: a notification that arrives during the claim wakes the next
        # wait at once (clearing after it lost that wake-up until the 100 ms fallback poll).
        wake.clear()
        await claim_all(conn, args.org, seen)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval)
    await claim_all(conn, args.org, seen)
    if listener is not None:
        listen_task.cancel()
        await listener.close()
    await conn.close()


async def run_http(args: argparse.Namespace, stop: asyncio.Event, seen: dict[str, float]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=args.url, timeout=5) as client:
        while not stop.is_set():
            resp = await client.post(
                "/v1/dial-queue/claim",
                json={"limit": 100, "lease_seconds": 300},
                headers={"Authorization": f"Bearer {args.key}"},
            )
            now = time.time()
            data = resp.json() if resp.status_code == 200 else {}
            items = data.get("data", data.get("leads", [])) if isinstance(data, dict) else data
            for item in items:
                seen[str(item["lead_id"])] = now
            if not items:
                await asyncio.sleep(args.interval)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--org")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=("listen", "poll", "http"), default="listen")
    ap.add_argument("--interval", type=float, default=0.001)
    ap.add_argument("--url", help="service URL (http mode)")
    ap.add_argument("--key", help="dial-scope key (http mode)")
    args = ap.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    seen: dict[str, float] = {}
    print("claimer ready", flush=True)
    if args.mode == "http":
        await run_http(args, stop, seen)
    else:
        await run_db(args, stop, seen)
    Path(args.out).write_text(json.dumps(seen))  # noqa: ASYNC240 (once, at exit)


if __name__ == "__main__":
    asyncio.run(main())
