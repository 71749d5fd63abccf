"""The batched lead writer: one per worker, one transaction per batch, answers after commit.

Requests hand their prepared lead (or, for batch posts and CSV chunks, their list of leads: one
*unit*, never split across transactions) to `LeadWriter.write` / `write_many` and wait. Flusher
tasks take whatever is pending (up to `max_batch` leads, whole units), write it with one
statement over arrays, commit, then wake each request with its own result. At low load a
flusher is idle, so a lead is written alone at once; under load leads pile up while a
transaction runs and share the next one. Nothing is answered before its transaction commits;
a failed transaction fails every request in it (503), never half of one.

A unit may carry its request's rate-limit charge: the flusher that takes the unit decides it,
with every other charge of its batch in one Redis round trip, just before the transaction, and
a refused unit is answered `RateLimited` and not written. The request then waits once (for its
write) instead of twice (for the limiter, then for the write), and a busy writer's batch is
also the limiter's batch.

A unit may carry an idempotency claim and a `render` function: the writer renders the unit's
answer from its results and stores it (`idempotency.store_answers`) in the same transaction as
the leads, before the commit. So an answer is replayable only if it was committed, and a committed
lead's request always has its record.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from lead2inbound.access.limits import Decision, RateLimiter
from lead2inbound.intake.idempotency import Answer, Claim, store_answers
from lead2inbound.intake.pipeline import PreparedLead, batch_json
from lead2inbound.store import events
from lead2inbound.store.errors import StoreUnavailable
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.writer")

BATCH_SIZE = Histogram(
    "l2i_writer_batch_size",
    "Leads per writer transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
COMMIT_SECONDS = Histogram(
    "l2i_writer_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
BATCH_FAILURES = Counter("l2i_writer_batch_failures_total", "Writer transactions that failed")
QUEUE_TIMEOUTS = Counter(
    "l2i_writer_queue_timeouts_total",
    "Leads answered 503 because no writer transaction took them in time (overload)",
)

# A flusher keeps its pooled connection between batches while it is busy: a batch then costs no
# pool hand-over and no health-check round trip of its own. After an idle spell the connection
# goes back to the pool, and the next batch takes one through the pool's check again.
_HELD_IDLE_S = 1.0


@dataclass(slots=True)
class _Held:
    conn: Any = None
    used: float = 0.0


_held: ContextVar[_Held | None] = ContextVar("l2i_writer_held", default=None)

# Errors worth one more try with the same batch (a lock-order or serialization conflict).
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class RateLimited(Exception):
    """The unit's charge was refused: nothing of it was written."""

    def __init__(self, decision: Decision):
        super().__init__("rate limited")
        self.decision = decision


@dataclass(slots=True)
class Charge:
    """A request's rate-limit charge, decided by the flusher that takes its unit."""

    key_id: str
    limit: int  # per minute
    cost: int = 1
    decision: Decision | None = None  # set once decided (allowed or not)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one lead: created, or a duplicate of an existing lead."""

    created: bool
    lead_id: str
    status: str
    eligible: bool
    reasons: list[str]
    phone_valid: bool
    checks: dict[str, str]


# Renders a unit's answer from its results (in order), before commit, for its idempotency record.
Render = Callable[[list[WriteResult]], Answer]


@dataclass(slots=True)
class _Pending:
    """One unit of work: the leads of one request, written in one transaction together."""

    leads: list[PreparedLead]
    future: asyncio.Future[list[WriteResult]]
    claim: Claim | None = None
    render: Render | None = None
    charge: Charge | None = None
    taken: bool = False  # a flusher has put it in a transaction
    deadline: float = 0.0  # loop time after which an untaken unit is shed (queue_timeout_s)


def _lead_key(lead: PreparedLead) -> tuple[str, bool, str]:
    return (lead.org_id, lead.sandbox, lead.number.e164)


class LeadWriter:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        max_batch: int = 256,
        flushers: int = 2,
        queue_timeout_s: float | None = None,
        limiter: RateLimiter | None = None,
        event_log: bool = True,
    ):
        self._pool = pool
        # Off only for the benchmark's comparison (bench/run.py --no-event-log): the leads'
        # events are written by the leads' own statement (store/sql/insert_leads.sql).
        self._event_log = event_log
        self._limiter = limiter  # decides the units' charges
        # A lead that no flusher has taken within this many seconds is dropped from the queue
        # and its request answered 503 (nothing stored): overload sheds instead of queueing
        # without bound. A lead already in a transaction is always waited for.
        self._queue_timeout_s = queue_timeout_s
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # The same units in arrival order (= deadline order), for the shedder: one timer per
        # writer instead of a timeout and a shield per request.
        self._waiting: collections.deque[_Pending] = collections.deque()
        self._flushers = flushers
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._flush_forever(), name=f"l2i-writer-{i}")
            for i in range(self._flushers)
        ]
        if self._queue_timeout_s is not None:
            self._tasks.append(asyncio.create_task(self._shed_forever(), name="l2i-writer-shed"))

    async def _shed_forever(self) -> None:
        """Answer StoreUnavailable (503, nothing stored) for every unit no flusher has taken
        by its deadline; the flushers skip a unit whose future is done."""
        assert self._queue_timeout_s is not None
        tick = min(0.25, self._queue_timeout_s / 4)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            waiting = self._waiting
            while waiting and waiting[0].deadline <= now:  # arrival order is deadline order
                unit = waiting.popleft()
                if unit.taken or unit.future.done():
                    continue
                QUEUE_TIMEOUTS.inc(len(unit.leads))
                unit.future.set_exception(
                    StoreUnavailable("the lead writer is overloaded; nothing was stored")
                )

    async def stop(self) -> None:
        """Stop taking new leads, write what is pending, then end the flushers."""
        self._closing = True
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def write(
        self,
        lead: PreparedLead,
        *,
        claim: Claim | None = None,
        render: Render | None = None,
        charge: Charge | None = None,
    ) -> WriteResult:
        """Write one lead; with a claim, its answer (`render`) is stored in the same commit;
        with a charge, only if the rate limiter admits it (else `RateLimited`)."""
        (result,) = await self.write_many([lead], claim=claim, render=render, charge=charge)
        return result

    async def write_many(
        self,
        leads: list[PreparedLead],
        *,
        claim: Claim | None = None,
        render: Render | None = None,
        charge: Charge | None = None,
    ) -> list[WriteResult]:
        """Write several leads (batch posts, CSV chunks) in one transaction; results in order.

        A repeated phone resolves to its first occurrence. Raises StoreUnavailable when the
        transaction could not commit (then nothing of it was stored, the claim's answer neither).
        """
        if self._closing:
            raise StoreUnavailable("the service is shutting down")
        if claim is not None and render is None:
            raise ValueError("a claim needs a render function for its stored answer")
        if charge is not None and self._limiter is None:
            raise ValueError("this writer has no rate limiter to decide a charge")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[WriteResult]] = loop.create_future()
        request_id = events.REQUEST_ID.get()
        if request_id is not None:
            for lead in leads:
                lead.request_id = lead.request_id or request_id
        pending = _Pending(list(leads), future, claim, render, charge)
        self._queue.put_nowait(pending)
        if self._queue_timeout_s is not None:
            pending.deadline = loop.time() + self._queue_timeout_s
            self._waiting.append(pending)
        return await future

    async def _flush_forever(self) -> None:
        held = _Held()
        _held.set(held)  # this task's own: a task runs in a copy of the context
        try:
            await self._flush_loop()
        finally:
            await self._release(held)

    async def _release(self, held: _Held) -> None:
        conn, held.conn = held.conn, None
        if conn is not None:
            await self._pool.putconn(conn)  # the pool rolls back, or discards a broken one

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        held = _held.get()
        if held is None:  # not on a flusher task
            async with self._pool.connection() as conn:
                yield conn
            return
        if held.conn is not None and (
            held.conn.closed or time.monotonic() - held.used > _HELD_IDLE_S
        ):
            await self._release(held)
        if held.conn is None:
            held.conn = await self._pool.getconn()
        try:
            yield held.conn
        except BaseException:
            await self._release(held)
            raise
        held.used = time.monotonic()

    async def _flush_loop(self) -> None:
        while True:
            first = await self._queue.get()
            self._untrack(first)
            batch = [first]
            size = len(first.leads)
            while size < self._max_batch:
                try:
                    unit = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                self._untrack(unit)
                batch.append(unit)
                size += len(unit.leads)
            try:
                live = [item for item in batch if not item.future.done()]  # not given up on
                for item in live:
                    item.taken = True
                if any(item.charge is not None for item in live):
                    live = await self._admit(live)
                if live:
                    await self._flush(live)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _admit(self, batch: list[_Pending]) -> list[_Pending]:
        """Decide the batch's charges in one round trip and answer the refused units
        RateLimited; returns the units to write, in order."""
        assert self._limiter is not None
        charged = [(unit, unit.charge) for unit in batch if unit.charge is not None]
        try:
            decisions = await self._limiter.check_many(
                [(charge.key_id, charge.limit, charge.cost) for _, charge in charged]
            )
        except Exception as exc:  # Redis failing is decided locally, so this is a bug: 503
            log.error("rate limiter failed in the writer: %s", exc)
            decisions = None
        for i, (unit, charge) in enumerate(charged):
            charge.decision = decisions[i] if decisions is not None else None
            if unit.future.done():  # its request went away while the charges were decided
                continue
            if charge.decision is None:
                unit.future.set_exception(StoreUnavailable("the rate limiter failed"))
            elif not charge.decision.allowed:
                unit.future.set_exception(RateLimited(charge.decision))
        return [unit for unit in batch if not unit.future.done()]

    def _untrack(self, unit: _Pending) -> None:
        """A unit leaves the shedder's deque as soon as a flusher takes it: the deque holds only
        units still waiting (else it kept every answered unit, with its leads and results, for
        `queue_timeout_s`: tens of MB per worker at thousands of leads/s). Both the queue and the
        deque are in arrival order and the shedder pops expired units from the front, so a unit
        a flusher takes is at the deque's front unless the shedder already took it out."""
        waiting = self._waiting
        if waiting and waiting[0] is unit:
            waiting.popleft()

    async def _flush(self, batch: list[_Pending]) -> None:
        BATCH_SIZE.observe(sum(len(u.leads) for u in batch))
        started = time.perf_counter()
        try:
            answers = await self._write_with_retry(batch)
        except Exception as exc:
            BATCH_FAILURES.inc()
            if len(batch) > 1 and not isinstance(exc, StoreUnavailable):
                # A data error in one request must not fail the others: write them one by one.
                log.warning("batch of %d failed (%s); writing units singly", len(batch), exc)
                for unit in batch:
                    await self._flush([unit])
                return
            if not isinstance(exc, StoreUnavailable):
                log.error("writer transaction failed: %s", exc)
            err = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
            for unit in batch:
                if not unit.future.done():
                    unit.future.set_exception(err)
            return
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        for unit, results in zip(batch, answers, strict=True):
            if not unit.future.done():
                unit.future.set_result(results)

    async def _write_with_retry(self, batch: list[_Pending]) -> list[list[WriteResult]]:
        for attempt in range(3):
            try:
                return await self._write(batch)
            except _RETRYABLE:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _write(self, batch: list[_Pending]) -> list[list[WriteResult]]:
        """One transaction: the leads, then the answers of the units that carry a claim (a batch
        with no claim is a single statement, committed in autocommit)."""
        # A phone twice in one transaction: the first takes the claim, the rest are its
        # duplicates (in order: the first occurrence in the first unit).
        firsts: dict[tuple[str, bool, str], PreparedLead] = {}
        for unit in batch:
            for lead in unit.leads:
                firsts.setdefault(_lead_key(lead), lead)
        unique = list(firsts.values())
        try:
            async with self._connection() as conn:
                if any(unit.claim is not None for unit in batch):
                    async with conn.transaction():
                        return await self._write_on(conn, batch, firsts, unique)
                # No idempotency record to store with the leads: the batch is one statement,
                # its own transaction in autocommit, committed (durably) before execute()
                # returns, without a BEGIN and a COMMIT round trip of their own. The claim
                # look-up after it only reads.
                await conn.set_autocommit(True)
                try:
                    return await self._write_on(conn, batch, firsts, unique)
                finally:
                    if not conn.closed:
                        await conn.set_autocommit(False)
        except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def _write_on(
        self,
        conn: Any,
        batch: list[_Pending],
        firsts: dict[tuple[str, bool, str], PreparedLead],
        unique: list[PreparedLead],
    ) -> list[list[WriteResult]]:
        results = await self._insert(conn, unique) if unique else []
        by_key = dict(zip(firsts.keys(), results, strict=True))
        answers: list[list[WriteResult]] = []
        claims: list[Claim] = []
        duplicates: list[tuple[PreparedLead, WriteResult]] = []
        for unit in batch:
            out = []
            for lead in unit.leads:
                held = by_key[_lead_key(lead)]
                out.append(held if firsts[_lead_key(lead)] is lead else _as_duplicate(held))
                if not out[-1].created:
                    duplicates.append((lead, out[-1]))
            answers.append(out)
            if unit.claim is not None and unit.render is not None:
                claims.append(unit.claim.answered(unit.render(out)))
        if duplicates and self._event_log:
            await _record_duplicates(conn, duplicates)
        if claims:
            await store_answers(conn, claims)
        return answers

    async def _insert(self, conn: Any, leads: list[PreparedLead]) -> list[WriteResult]:
        cur = await conn.execute(sql("insert_leads"), (batch_json(leads), self._event_log))
        inserted = {str(row[0]): row for row in await cur.fetchall()}
        lost = [lead for lead in leads if lead.lead_id not in inserted]
        held: dict[tuple[str, bool, str], Any] = {}
        if lost:
            # Never prepared: a generic plan kept from when the tables were small joins a scan
            # of the org's leads to a scan of its claims, seconds per duplicate a few thousand
            # leads later (tests/test_plans.py). Planned each time, it is two index look-ups.
            cur = await conn.execute(
                sql("existing_claims"),
                (
                    [lead.org_id for lead in lost],
                    [lead.sandbox for lead in lost],
                    [lead.number.e164 for lead in lost],
                ),
                prepare=False,
            )
            for row in await cur.fetchall():
                held[(str(row[0]), row[1], row[2])] = row
        results = []
        for lead in leads:
            row = inserted.get(lead.lead_id)
            if row is not None:
                _, status, eligible, reasons, checks, _ = row
                results.append(
                    WriteResult(
                        True,
                        lead.lead_id,
                        status,
                        eligible,
                        list(reasons),
                        lead.number.valid,
                        checks,
                    )
                )
                continue
            h = held.get(_lead_key(lead))
            if h is None:  # the holder vanished between the statements: answer unavailable
                raise StoreUnavailable("duplicate holder not found; retry")
            results.append(
                WriteResult(False, str(h[3]), h[4], h[5], list(h[6]), h[7], _dup_checks())
            )
        return results


async def _record_duplicates(conn: Any, duplicates: list[tuple[PreparedLead, WriteResult]]) -> None:
    """lead.duplicate for each post that matched an existing lead: one statement for the batch
    (only batches with duplicates pay it; they already paid the holders' look-up). In autocommit
    it is its own transaction, after the leads': a duplicate changes no lead, so there is no
    change for it to be atomic with; a failure still fails the batch's requests (503)."""
    rows = []
    for lead, result in duplicates:
        post = {
            "api_key_id": lead.key_id,
            "source": lead.lead.source,
            "external_id": lead.lead.external_id,
            "phone_raw": lead.phone_raw,
        }
        rows.append(
            events.LeadEvent(lead.org_id, result.lead_id, {"duplicate": post}, lead.request_id)
        )
    await events.record_leads(conn, "lead.duplicate", rows)


def _dup_checks() -> dict[str, str]:
    return {"duplicate": "hit", "suppression": "skipped", "dnc": "skipped", "consent": "skipped"}


def _as_duplicate(held: WriteResult) -> WriteResult:
    return WriteResult(
        False,
        held.lead_id,
        held.status,
        held.eligible,
        held.reasons,
        held.phone_valid,
        _dup_checks(),
    )
