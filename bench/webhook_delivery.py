"""Webhook delivery benchmark: events delivered per second to 1 and to 20 local receivers, and
the lag from an event's commit to the receiver's 2xx at a steady rate (default 100 events/s).

    .venv/bin/python bench/webhook_delivery.py [--events 2000] [--rate 100] [--seconds 10]

Uses the Postgres at L2I_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
to create a scratch database (dropped at the end), one delivery worker (webhooks/delivery.py,
woken by the LISTEN connection) in this process, and threaded receivers on 127.0.0.1
(tests/fakes/receiver.py). Each event is its own lead (no per-lead ordering waits).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.receiver import Receiver  # noqa: E402

from lead2inbound.access.keystore import create_org  # noqa: E402
from lead2inbound.dnc.crypto import SecretBox  # noqa: E402
from lead2inbound.ops.config import Config  # noqa: E402
from lead2inbound.store import events  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402
from lead2inbound.webhooks import endpoints  # noqa: E402
from lead2inbound.webhooks.delivery import Deliverer  # noqa: E402
from lead2inbound.webhooks.listener import EventListener  # noqa: E402

KEY = "bench-secret-key-" + "k" * 32


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run(url: str, receivers: int, n_events: int, rate: float, seconds: float) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        org = create_org(conn, "bench")
    cfg = Config(secret_key=KEY, webhooks_allow_http=True, webhooks_allow_private=True,
                 webhook_concurrency=64)  # fmt: skip
    box = SecretBox(KEY)
    sinks = [Receiver().start() for _ in range(receivers)]
    async with AsyncConnectionPool(url, min_size=2, max_size=8, open=False) as pool:
        async with pool.connection() as conn, conn.transaction():
            for sink in sinks:
                await endpoints.create(conn, box, org_id=org, sandbox=False, url=sink.url,
                                       types=["*"], description=None)  # fmt: skip
        # 1. throughput: a backlog of events, drained by one worker
        async with pool.connection() as conn, conn.transaction():
            await events.record_many(conn, [
                events.Event(org, "lead.created", {"n": i}, lead_id=str(uuid.uuid4()))
                for i in range(n_events)
            ])  # fmt: skip
        worker = Deliverer(pool, box, cfg)
        started = time.perf_counter()
        want = n_events * receivers
        print(f"{receivers} receiver(s): draining {want} deliveries", flush=True)
        while sum(len(s.deliveries) for s in sinks) < want:
            if await worker.round() == 0:
                await asyncio.sleep(0.01)
        drained = time.perf_counter() - started
        for s in sinks:
            s.deliveries.clear()
        # 2. lag at a steady rate, the worker running as in service (LISTEN wakes it)
        listener = EventListener(url)
        listener.subscribe(lambda orgs: worker.poke())
        listener.start()
        await asyncio.wait_for(listener.connected.wait(), 10)
        worker.start()
        committed: dict[str, float] = {}
        t0 = time.perf_counter()
        i = 0
        while time.perf_counter() - t0 < seconds:
            async with pool.connection() as conn, conn.transaction():
                eid = await events.record(conn, org_id=org, type="lead.created",
                                          data={"i": i}, lead_id=str(uuid.uuid4()))  # fmt: skip
            committed[eid] = time.time()
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        deadline = time.monotonic() + 30
        # the receivers are threads: poll their counts
        while time.monotonic() < deadline and sum(len(s.deliveries) for s in sinks) < i * receivers:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await worker.stop()
        await listener.stop()
    lags = [d.at - committed[d.id] for s in sinks for d in s.deliveries if d.id in committed]
    for s in sinks:
        s.stop()
    return {
        "receivers": receivers,
        "delivered_per_s": round(want / drained, 1),
        "lag_events": i,
        "lag_p50_ms": round(percentile(lags, 0.5) * 1000, 1),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "lag_mean_ms": round(statistics.mean(lags) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--receivers", default="1,20")
    args = ap.parse_args()
    admin = os.environ.get(
        "L2I_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    for count in (int(x) for x in args.receivers.split(",")):
        name = "l2i_bench_wh_" + secrets.token_hex(4)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        url = admin.rsplit("/", 1)[0] + "/" + name
        try:
            migrate(url)
            events_n = max(100, args.events // count)
            print(asyncio.run(run(url, count, events_n, args.rate, args.seconds)), flush=True)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
