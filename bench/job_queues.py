"""Job queues tried for webhook delivery (issue 23): the project's own delivery worker against
procrastinate and pgqueuer, the same workload side by side in one run.

    .venv/bin/python bench/job_queues.py [--events 500] [--seconds 5] [--rate 100] [--repeat 1]

Three implementations (four workers: pgqueuer on two drivers), each on its own scratch
database (made on the Postgres at L2I_BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/postgres, migrated, dropped at the end), each delivering to
threaded receivers on 127.0.0.1 (tests/fakes/receiver.py):

- `deliverer`: webhooks/delivery.py's `Deliverer` in service mode, as bench/webhook_delivery.py
  runs it for its lag (woken by the LISTEN connection; events recorded, the worker fans them out
  to delivery rows, claims, sends, settles);
- `procrastinate`: one task per (event, endpoint) delivery, deferred on the writer's connection
  inside the transaction that records the event (`configure(connection=...)`), `lock=<lead id>`
  so one lead's deliveries run one at a time in order, a `BaseRetryStrategy` giving the
  service's retry schedule; its async psycopg connector and worker (LISTEN/NOTIFY on);
- `pgqueuer`: one entrypoint that sends one delivery, jobs enqueued with `Queries.enqueue` over a
  `PsycopgDriver` on the writer's connection inside the same transaction, `RetryRequested`
  with the service's schedule; its `QueueManager` (LISTEN/NOTIFY on).

The job bodies of the two libraries do what a delivery does: read the event and the endpoint
(one query), build the body (`delivery.body_of`), open the endpoint's sealed secrets, sign with
Standard Webhooks (webhooks/signing.py) and send through the outbound guard (ops/outbound.py);
a non-2xx or a failed send raises, which the library turns into a retry.

Measured per implementation (each event its own lead, as bench/webhook_delivery.py):
- a backlog of `--events` events drained to 1 receiver and `max(100, events // 20)` events to
  20 receivers: deliveries/s from worker start to the last receiver's arrival, and the writer's
  cost of recording that backlog (events plus, for the libraries, their job rows);
- lag at `--rate` events/s for `--seconds` to 1 receiver: the event's commit to its arrival at
  the receiver, p50 / p99, and the writer's commit time (record + enqueue + commit) p50;
- per-lead order: 5 leads x 10 events in one transaction, the receiver failing its first 3
  answers with 503 (retries on a short schedule); says whether every lead's successful
  deliveries arrived in log order.

`--repeat N` runs the implementations interleaved N times and reports medians. `--sigkill S`
then kills (SIGKILL) each implementation's worker in a child process while the receiver holds
its answer to a delivery, starts a new worker with the library's defaults, and waits up to S
seconds for the delivery to be sent again (75 covers our 60 s lease). Writes JSON to
bench/out/job_queues-<time>.json. Bench only: not part of the tests.

pgqueuer-asyncpg: `pgqueuer` with its worker on pgqueuer's asyncpg driver (see
`PgqueuerAsyncpgImpl`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pgqueuer  # noqa: E402
import procrastinate  # noqa: E402
from pgqueuer.adapters.drivers.psycopg import PsycopgDriver  # noqa: E402
from pgqueuer.adapters.persistence.queries import Queries  # noqa: E402
from pgqueuer.core.qm import QueueManager  # noqa: E402
from pgqueuer.db import AsyncpgDriver  # noqa: E402
from pgqueuer.domain.models import Job as PgqJob  # noqa: E402
from procrastinate.retry import BaseRetryStrategy, RetryDecision  # noqa: E402
from tests.fakes.receiver import Receiver  # noqa: E402

from lead2inbound.access.keystore import create_org  # noqa: E402
from lead2inbound.dnc.crypto import SecretBox  # noqa: E402
from lead2inbound.ops.background import backoff  # noqa: E402
from lead2inbound.ops.config import Config  # noqa: E402
from lead2inbound.ops.outbound import send  # noqa: E402
from lead2inbound.store import events  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402
from lead2inbound.webhooks import endpoints, signing  # noqa: E402
from lead2inbound.webhooks.delivery import Deliverer, body_of, policy_of  # noqa: E402
from lead2inbound.webhooks.endpoints import live_secrets  # noqa: E402
from lead2inbound.webhooks.listener import EventListener  # noqa: E402

KEY = "bench-secret-key-" + "k" * 32
CONCURRENCY = 64  # deliveries in flight per worker, the same for all three
POOL_MAX = 8  # connections of the worker's pool (the libraries' job bodies get another 8)
ORDER_SCHEDULE = "0,0.2,0.5,1,2,4"  # a short retry schedule for the order check
IMPLS = ("deliverer", "procrastinate", "pgqueuer", "pgqueuer-asyncpg")

# What a delivery needs: the event and the endpoint (what webhook_claim.sql returns).
EVENT_SQL = """
SELECT e.org_id, e.event_id, e.type, e.sandbox, e.lead_id, e.request_id, e.data, e.created_at,
       w.url, w.secrets, w.key_id
FROM events e JOIN webhook_endpoints w ON w.org_id = e.org_id AND w.endpoint_id = %s
WHERE e.org_id = %s AND e.event_id = %s
"""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class NotDelivered(Exception):
    """A send answered with something other than a 2xx: the library retries it."""


class Delivery:
    """One delivery as the libraries' job bodies run it."""

    def __init__(self, pool: AsyncConnectionPool, box: SecretBox, cfg: Config):
        self.pool, self.box, self.policy = pool, box, policy_of(cfg)

    async def __call__(self, org_id: str, event_id: str, endpoint_id: str) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(EVENT_SQL, (endpoint_id, org_id, event_id))
            names = [c.name for c in cur.description or ()]
            found = await cur.fetchone()
        if found is None:
            raise NotDelivered(f"event {event_id} or endpoint {endpoint_id} gone")
        row = dict(zip(names, found, strict=True))
        body = body_of(row)
        keys = live_secrets(self.box, org_id, endpoint_id, row["secrets"], row["key_id"])
        headers = signing.headers(keys, event_id, int(time.time()), body)
        answer = await send("POST", row["url"], policy=self.policy, headers=headers,
                            content=body)  # fmt: skip
        if not 200 <= answer.status < 300:
            raise NotDelivered(f"HTTP {answer.status}")


class Impl:
    """One implementation: set up on its database, record events (and enqueue their deliveries)
    in the writer's transaction, run its worker."""

    name = ""

    def __init__(self, url: str, cfg: Config, box: SecretBox):
        self.url, self.cfg, self.box = url, cfg, box
        self.writer: AsyncConnectionPool | None = None

    async def open(self, install: bool = True) -> None:
        self.writer = AsyncConnectionPool(self.url, min_size=1, max_size=2, open=False,
                                          kwargs=self.writer_kwargs())  # fmt: skip
        await self.writer.open(wait=True)

    def writer_kwargs(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()

    async def record(self, conn: Any, org: str, items: list[tuple[str, Any]],
                     eps: list[str]) -> list[str]:  # fmt: skip
        """Record one event per (lead id, data) in the caller's transaction; returns ids."""
        return [
            await events.record(conn, org_id=org, type="lead.created", data=data, lead_id=lead)
            for lead, data in items
        ]

    async def write(self, org: str, items: list[tuple[str, Any]], eps: list[str]) -> list[str]:
        assert self.writer is not None
        async with self.writer.connection() as conn, conn.transaction():
            return await self.record(conn, org, items, eps)

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class DelivererImpl(Impl):
    name = "deliverer"

    async def open(self, install: bool = True) -> None:
        await super().open()
        self.pool = AsyncConnectionPool(self.url, min_size=2, max_size=POOL_MAX, open=False)
        await self.pool.open(wait=True)
        self.listener: EventListener | None = None

    async def close(self) -> None:
        await self.pool.close()
        await super().close()

    async def start(self) -> None:
        self.worker = Deliverer(self.pool, self.box, self.cfg)
        self.listener = EventListener(self.url)
        self.listener.subscribe(lambda orgs: self.worker.poke())
        self.listener.start()
        await asyncio.wait_for(self.listener.connected.wait(), 10)
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None


class ScheduleRetry(BaseRetryStrategy):
    """procrastinate's extension point for a retry schedule: the service's, jittered."""

    def __init__(self, schedule: tuple[float, ...]):
        self.schedule = schedule

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        tries = job.attempts + 1  # attempts counts the earlier tries
        if tries >= len(self.schedule):
            return None
        return RetryDecision(retry_in={"seconds": backoff(tries, schedule=self.schedule)})


class ProcrastinateImpl(Impl):
    name = "procrastinate"

    async def open(self, install: bool = True) -> None:
        await super().open()
        self.bodies = AsyncConnectionPool(self.url, min_size=2, max_size=POOL_MAX, open=False)
        await self.bodies.open(wait=True)
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self.url, min_size=2, max_size=POOL_MAX
            )
        )
        deliver = Delivery(self.bodies, self.box, self.cfg)

        @self.app.task(name="deliver", retry=ScheduleRetry(self.cfg.retry_schedule()))
        async def deliver_task(org_id: str, event_id: str, endpoint_id: str) -> None:
            await deliver(org_id, event_id, endpoint_id)

        self.task = deliver_task
        await self.app.open_async()
        if install:  # its own tables, types, functions and triggers
            await self.app.schema_manager.apply_schema_async()
        self._worker: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self.app.close_async()
        await self.bodies.close()
        await super().close()

    async def record(self, conn: Any, org: str, items: list[tuple[str, Any]],
                     eps: list[str]) -> list[str]:  # fmt: skip
        ids = []
        for lead, data in items:
            eid = await events.record(conn, org_id=org, type="lead.created", data=data,
                                      lead_id=lead)  # fmt: skip
            # the deliveries' rows, in the event's transaction: the lead's lock orders them
            await self.task.configure(lock=lead, connection=conn).batch_defer_async(
                *({"org_id": org, "event_id": eid, "endpoint_id": ep} for ep in eps)
            )
            ids.append(eid)
        return ids

    async def start(self) -> None:
        self._worker = asyncio.create_task(
            self.app.run_worker_async(
                concurrency=CONCURRENCY,
                wait=True,
                listen_notify=True,
                install_signal_handlers=False,
                fetch_job_polling_interval=1.0,
            )
        )

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


class PgqueuerImpl(Impl):
    name = "pgqueuer"

    def writer_kwargs(self) -> dict[str, Any]:
        # PsycopgDriver refuses a connection without autocommit; `conn.transaction()` then
        # still opens an explicit BEGIN ... COMMIT around the event and its jobs
        return {"autocommit": True}

    async def open(self, install: bool = True) -> None:
        await super().open()
        self.bodies = AsyncConnectionPool(self.url, min_size=2, max_size=POOL_MAX, open=False)
        await self.bodies.open(wait=True)
        if install:  # its own tables, types, functions and triggers
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await Queries(PsycopgDriver(conn)).install()
        self._worker: asyncio.Task[None] | None = None
        self._conn: Any = None

    async def close(self) -> None:
        await self.bodies.close()
        await super().close()

    async def record(self, conn: Any, org: str, items: list[tuple[str, Any]],
                     eps: list[str]) -> list[str]:  # fmt: skip
        ids = await super().record(conn, org, items, eps)
        payloads: list[bytes | None] = [
            json.dumps({"org_id": org, "event_id": eid, "endpoint_id": ep}).encode()
            for eid in ids
            for ep in eps
        ]
        # the jobs, in the events' transaction (the writer's connection under the driver)
        await Queries(PsycopgDriver(conn)).enqueue(
            ["deliver"] * len(payloads), payloads, [0] * len(payloads)
        )
        return ids

    async def worker_driver(self) -> Any:
        self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        return PsycopgDriver(self._conn)

    async def start(self) -> None:
        self.qm = QueueManager(Queries(await self.worker_driver()))
        deliver = Delivery(self.bodies, self.box, self.cfg)
        schedule = self.cfg.retry_schedule()

        @self.qm.entrypoint("deliver", on_failure="hold")
        async def deliver_job(job: PgqJob) -> None:
            args = json.loads(job.payload or b"{}")
            try:
                await deliver(args["org_id"], args["event_id"], args["endpoint_id"])
            except Exception as exc:
                tries = job.attempts + 1
                if tries >= len(schedule):
                    raise
                delay = timedelta(seconds=backoff(tries, schedule=schedule))
                raise pgqueuer.RetryRequested(delay=delay, reason=str(exc)) from exc

        self._worker = asyncio.create_task(
            self.qm.run(
                dequeue_timeout=timedelta(seconds=1),
                batch_size=CONCURRENCY // 2,
                max_concurrent_tasks=CONCURRENCY,
            )
        )

    async def stop(self) -> None:
        if self._worker is not None:
            self.qm.shutdown.set()
            try:
                await asyncio.wait_for(self._worker, 30)
            finally:
                self._worker = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class PgqueuerAsyncpgImpl(PgqueuerImpl):
    """pgqueuer's worker on its asyncpg driver (the writer still enqueues on its psycopg
    connection, in the event's transaction). Its psycopg driver shares one connection between
    a `notifies()` watcher, which holds psycopg's connection lock while it waits (up to 1 s),
    and every dequeue, heartbeat and log query: those wait their turn."""

    name = "pgqueuer-asyncpg"

    async def worker_driver(self) -> Any:
        self._conn = await asyncpg.connect(self.url)
        return AsyncpgDriver(self._conn)


def received(sinks: list[Receiver]) -> int:
    return sum(len(s.deliveries) for s in sinks)


async def wait_for(sinks: list[Receiver], want: int, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while received(sinks) < want and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def new_org(impl: Impl, n_receivers: int) -> tuple[str, list[Receiver], list[str]]:
    with psycopg.connect(impl.url, autocommit=True) as conn:
        org = create_org(conn, f"bench-{secrets.token_hex(3)}")
    sinks = [Receiver().start() for _ in range(n_receivers)]
    async with await psycopg.AsyncConnection.connect(impl.url) as conn, conn.transaction():
        eps = [
            (await endpoints.create(conn, impl.box, org_id=org, sandbox=False, url=s.url,
                                    types=["*"], description=None))[0].endpoint_id
            for s in sinks
        ]  # fmt: skip
    return org, sinks, eps


async def drain(impl: Impl, n_receivers: int, n_events: int) -> dict[str, Any]:
    """A backlog committed at once while the worker idles (started and settled first, so its
    start-up is not counted): deliveries/s from the commit to the last arrival."""
    org, sinks, eps = await new_org(impl, n_receivers)
    items = [(str(uuid.uuid4()), {"n": i}) for i in range(n_events)]
    want = n_events * n_receivers
    await impl.start()
    try:
        await asyncio.sleep(1.0)
        t = time.perf_counter()
        await impl.write(org, items, eps)
        committed = time.perf_counter()
        await wait_for(sinks, want, 120)
        took = time.perf_counter() - committed
    finally:
        await impl.stop()
    got = received(sinks)
    for s in sinks:
        s.stop()
    return {
        "receivers": n_receivers,
        "deliveries": want,
        "delivered": got,
        "per_s": round(got / took, 1),
        "write_ms_per_event": round((committed - t) * 1000 / n_events, 2),
    }


async def lag(impl: Impl, rate: float, seconds: float) -> dict[str, Any]:
    org, sinks, eps = await new_org(impl, 1)
    await impl.start()
    committed: dict[str, float] = {}
    commit_ms: list[float] = []
    t0 = time.perf_counter()
    i = 0
    try:
        while time.perf_counter() - t0 < seconds:
            t = time.perf_counter()
            (eid,) = await impl.write(org, [(str(uuid.uuid4()), {"i": i})], eps)
            committed[eid] = time.time()
            commit_ms.append((time.perf_counter() - t) * 1000)
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        await wait_for(sinks, i, 30)
    finally:
        await impl.stop()
    lags = [d.at - committed[d.id] for d in sinks[0].deliveries if d.id in committed]
    sinks[0].stop()
    return {
        "events": i,
        "delivered": len(lags),
        "lag_p50_ms": round(percentile(lags, 0.5) * 1000, 1),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "commit_p50_ms": round(percentile(commit_ms, 0.5), 2),
    }


async def order(impl: Impl, leads: int = 5, per_lead: int = 10, fail: int = 3) -> dict[str, Any]:
    """Whether a lead's deliveries arrive in log order when the receiver fails some."""
    org, sinks, eps = await new_org(impl, 1)
    sinks[0].statuses = [503] * fail
    lead_ids = [str(uuid.uuid4()) for _ in range(leads)]
    items = [(lead, {"i": i}) for i in range(per_lead) for lead in lead_ids]
    await impl.write(org, items, eps)
    await impl.start()
    try:
        await wait_for(sinks, len(items) + fail, 60)
    finally:
        await impl.stop()
    seen: dict[str, list[int]] = {}
    for d in sinks[0].deliveries[fail:]:  # the first `fail` arrivals were answered 503
        body = json.loads(d.body)
        seen.setdefault(body["lead_id"], []).append(body["data"]["i"])
    sinks[0].stop()
    in_order = sum(1 for v in seen.values() if v == sorted(v))
    return {"leads": leads, "leads_in_order": in_order,
            "arrivals": len(sinks[0].deliveries)}  # fmt: skip


IMPL_CLASSES: dict[str, type[Impl]] = {
    "deliverer": DelivererImpl,
    "procrastinate": ProcrastinateImpl,
    "pgqueuer": PgqueuerImpl,
    "pgqueuer-asyncpg": PgqueuerAsyncpgImpl,
}


def settings() -> tuple[Config, SecretBox]:
    cfg = Config(secret_key=KEY, webhooks_allow_http=True, webhooks_allow_private=True,
                 webhook_concurrency=CONCURRENCY)  # fmt: skip
    return cfg, SecretBox(KEY)


async def run_one(name: str, url: str, args: argparse.Namespace, first: bool) -> dict[str, Any]:
    cfg, box = settings()
    impl = IMPL_CLASSES[name](url, cfg, box)
    await impl.open(install=first)
    try:
        out: dict[str, Any] = {"impl": name}
        out["drain_1"] = await drain(impl, 1, args.events)
        out["drain_20"] = await drain(impl, 20, max(100, args.events // 20))
        out["lag_1"] = await lag(impl, args.rate, args.seconds)
    finally:
        await impl.close()
    # the order check on a short retry schedule
    cfg = cfg.with_(webhook_retry_schedule=ORDER_SCHEDULE)
    impl = IMPL_CLASSES[name](url, cfg, box)
    await impl.open(install=False)
    try:
        out["order"] = await order(impl)
    finally:
        await impl.close()
    return out


async def child_worker(name: str, url: str) -> None:
    """`--worker`: one implementation's worker alone in this process, until killed."""
    cfg, box = settings()
    impl = IMPL_CLASSES[name](url, cfg, box)
    await impl.open(install=False)
    await impl.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def sigkill(name: str, url: str, wait_s: float) -> dict[str, Any]:
    """A worker in a child process is SIGKILLed while its receiver holds the answer to a
    delivery; a new worker (the library's defaults) starts here: is the delivery sent again, and
    after how long?"""
    cfg, box = settings()
    impl = IMPL_CLASSES[name](url, cfg, box)
    await impl.open(install=False)
    org, sinks, eps = await new_org(impl, 1)
    sinks[0].hang_s = 3.0
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", name, "--url", url, stdout=asyncio.subprocess.PIPE
    )
    started = False
    try:
        assert child.stdout is not None
        await asyncio.wait_for(child.stdout.readline(), 30)  # "ready"
        await impl.write(org, [(str(uuid.uuid4()), {"k": 1})], eps)
        await wait_for(sinks, 1, 30)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        sinks[0].hang_s = 0.0
        await impl.start()
        started = True
        await wait_for(sinks, 2, wait_s)
    finally:
        if started:
            await impl.stop()
        if child.returncode is None:
            child.kill()
            await child.wait()
        await impl.close()
    got = list(sinks[0].deliveries)
    sinks[0].stop()
    again = round(got[1].at - got[0].at, 1) if len(got) >= 2 else None
    return {"impl": name, "sent_before_kill": min(1, len(got)), "sent_again_after_s": again,
            "waited_s": wait_s}  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Medians per implementation over the repeats."""
    keys = {
        "drain_1_per_s": ("drain_1", "per_s"),
        "drain_20_per_s": ("drain_20", "per_s"),
        "write_1_ms_per_event": ("drain_1", "write_ms_per_event"),
        "write_20_ms_per_event": ("drain_20", "write_ms_per_event"),
        "lag_p50_ms": ("lag_1", "lag_p50_ms"),
        "lag_p99_ms": ("lag_1", "lag_p99_ms"),
        "commit_p50_ms": ("lag_1", "commit_p50_ms"),
        "leads_in_order": ("order", "leads_in_order"),
    }
    out: dict[str, dict[str, float]] = {}
    for name in IMPLS:
        mine = [r for r in runs if r["impl"] == name]
        if mine:
            out[name] = {k: statistics.median(r[a][b] for r in mine) for k, (a, b) in keys.items()}
    return out


def table(summary: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    rows = [
        ("backlog drained, 1 receiver (deliveries/s)", "drain_1_per_s", "{:,.0f}"),
        ("backlog drained, 20 receivers (deliveries/s)", "drain_20_per_s", "{:,.0f}"),
        (f"lag commit to 2xx at {args.rate:g} events/s, 1 receiver: p50 (ms)", "lag_p50_ms",
         "{:,.1f}"),
        ("... p99 (ms)", "lag_p99_ms", "{:,.1f}"),
        ("writer: record + enqueue + commit, 1 event, p50 (ms)", "commit_p50_ms", "{:.2f}"),
        ("writer: backlog write per event, 20 endpoints (ms)", "write_20_ms_per_event",
         "{:.2f}"),
        ("leads whose deliveries kept log order (of 5, 3 answers 503)", "leads_in_order",
         "{:.0f}"),
    ]  # fmt: skip
    names = [n for n in IMPLS if n in summary]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(summary[n][key]) for n in names)
                     + " |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument(
        "--sigkill",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also SIGKILL a worker mid-send and wait this long for the delivery "
        "to be sent again (off by default; 75 covers the 60 s lease)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:  # the child of the SIGKILL phase
        asyncio.run(child_worker(args.worker, args.url))
        return
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # retries log tracebacks
    logging.getLogger("pgqueuer").setLevel(logging.ERROR)
    admin = os.environ.get(
        "L2I_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    names = [n for n in args.impls.split(",") if n]
    dbs: dict[str, str] = {}
    runs: list[dict[str, Any]] = []
    kills: list[dict[str, Any]] = []
    try:
        for name in names:
            db = f"l2i_bench_jq_{name}_{secrets.token_hex(3)}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db}"'.encode())
            dbs[name] = admin.rsplit("/", 1)[0] + "/" + db
            migrate(dbs[name])
        for rep in range(args.repeat):
            for name in names:  # interleaved, so the machine's noise spreads over all of them
                result = asyncio.run(run_one(name, dbs[name], args, rep == 0))
                result["repeat"] = rep
                print(json.dumps(result), flush=True)
                runs.append(result)
        for name in names if args.sigkill > 0 else ():
            result = asyncio.run(sigkill(name, dbs[name], args.sigkill))
            print(json.dumps(result), flush=True)
            kills.append(result)
    finally:
        for url in dbs.values():
            with psycopg.connect(admin, autocommit=True) as conn:
                db = url.rsplit("/", 1)[1]
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())
    summary = summarise(runs)
    print(table(summary, args))
    for k in kills:
        again = k["sent_again_after_s"]
        print(f"SIGKILL mid-send, {k['impl']}: "
              + (f"sent again after {again} s" if again is not None
                 else f"not sent again within {k['waited_s']:g} s"))  # fmt: skip
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"job_queues-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    versions = {p: metadata.version(p) for p in ("procrastinate", "pgqueuer", "psycopg")}
    path.write_text(json.dumps({
        "args": vars(args), "versions": versions, "concurrency": CONCURRENCY,
        "pool_max": POOL_MAX, "load_avg": os.getloadavg(), "runs": runs, "median": summary,
        "sigkill": kills,
    }, indent=2))  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
