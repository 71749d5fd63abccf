"""Webhook delivery benchmark: events delivered per second to 1 and to 20 local receivers, and
the lag from an event's commit to the receiver's 2xx at a steady rate (default 100 events/s).

    .venv/bin/python bench/webhook_delivery.py [--events 2000] [--rate 100] [--seconds 10]
        [--receivers 1,20] [--receivers-in-process]

Uses the Postgres at L2I_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
to create a scratch database (dropped at the end), one delivery worker (webhooks/delivery.py,
woken by the LISTEN connection) in this process, and threaded HTTP/1.1 receivers on 127.0.0.1
(tests/fakes/receiver.py) in a child process (with `--receivers-in-process`, in this one: their
threads then take the worker's interpreter lock and the figures measure both). Each event is
its own lead (no per-lead ordering waits). The worker's CPU time per delivery (this process's
main thread while it drains the backlog) is steadier than the rates on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

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


class Sinks:
    """`n` receivers in a child process (or in this one): their URLs, how many deliveries they
    have, and (event id, arrival time) of each."""

    def __init__(self, n: int, in_process: bool):
        self._local = [Receiver().start() for _ in range(n)] if in_process else None
        if self._local is None:
            self._pipe, child = multiprocessing.Pipe()
            self._proc = multiprocessing.get_context("spawn").Process(
                target=_serve_sinks, args=(n, child), daemon=True
            )
            self._proc.start()
            self.urls: list[str] = self._pipe.recv()
        else:
            self.urls = [r.url for r in self._local]

    def _ask(self, what: str) -> Any:
        self._pipe.send(what)
        return self._pipe.recv()

    def count(self) -> int:
        if self._local is not None:
            return sum(len(r.deliveries) for r in self._local)
        return self._ask("count")

    def arrivals(self) -> list[tuple[str, float]]:
        if self._local is not None:
            return [(d.id, d.at) for r in self._local for d in r.deliveries]
        return self._ask("arrivals")

    def clear(self) -> None:
        if self._local is not None:
            for r in self._local:
                r.deliveries.clear()
        else:
            self._ask("clear")

    def stop(self) -> None:
        if self._local is not None:
            for r in self._local:
                r.stop()
        else:
            self._ask("stop")
            self._proc.join(10)


def _serve_sinks(n: int, pipe: Any) -> None:
    sinks = [Receiver().start() for _ in range(n)]
    pipe.send([s.url for s in sinks])
    while True:
        what = pipe.recv()
        if what == "count":
            pipe.send(sum(len(s.deliveries) for s in sinks))
        elif what == "arrivals":
            pipe.send([(d.id, d.at) for s in sinks for d in list(s.deliveries)])
        elif what == "clear":
            for s in sinks:
                s.deliveries.clear()
            pipe.send(None)
        else:
            for s in sinks:
                s.stop()
            pipe.send(None)
            return


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run(
    url: str, receivers: int, n_events: int, rate: float, seconds: float, in_process: bool
) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        org = create_org(conn, "bench")
    cfg = Config(secret_key=KEY, webhooks_allow_http=True, webhooks_allow_private=True,
                 webhook_concurrency=64)  # fmt: skip
    box = SecretBox(KEY)
    sinks = Sinks(receivers, in_process)
    async with AsyncConnectionPool(url, min_size=2, max_size=8, open=False) as pool:
        async with pool.connection() as conn, conn.transaction():
            for sink_url in sinks.urls:
                await endpoints.create(conn, box, org_id=org, sandbox=False, url=sink_url,
                                       types=["*"], description=None)  # fmt: skip
        # 1. throughput: a backlog of events, drained by one worker
        async with pool.connection() as conn, conn.transaction():
            await events.record_many(conn, [
                events.Event(org, "lead.created", {"n": i}, lead_id=str(uuid.uuid4()))
                for i in range(n_events)
            ])  # fmt: skip
        worker = Deliverer(pool, box, cfg)
        started, cpu0 = time.perf_counter(), time.thread_time()
        want = n_events * receivers
        print(f"{receivers} receiver(s): draining {want} deliveries", flush=True)
        while sinks.count() < want:
            if await worker.round() == 0:
                await asyncio.sleep(0.01)
        drained = time.perf_counter() - started
        cpu_ms = (time.thread_time() - cpu0) * 1000 / want
        sinks.clear()
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
        while time.monotonic() < deadline and sinks.count() < i * receivers:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await worker.stop()
        await listener.stop()
    lags = [at - committed[eid] for eid, at in sinks.arrivals() if eid in committed]
    sinks.stop()
    return {
        "receivers": receivers,
        "delivered_per_s": round(want / drained, 1),
        "worker_cpu_ms_per_delivery": round(cpu_ms, 3),
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
    ap.add_argument("--receivers-in-process", action="store_true")
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
            result = asyncio.run(
                run(url, count, events_n, args.rate, args.seconds, args.receivers_in_process)
            )
            print(result, flush=True)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
