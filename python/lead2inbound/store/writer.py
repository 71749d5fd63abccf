"""The batched lead writer: one per worker, one transaction per batch, answers after commit.

Requests hand their prepared lead to `LeadWriter.write` and wait. Flusher tasks take whatever is
pending (up to `max_batch`), write it with one statement over arrays, commit, then wake each
request with its own result. At low load a flusher is idle, so a lead is written alone at once;
under load leads pile up while a transaction runs and share the next one. Nothing is answered
before its transaction commits; a failed transaction fails every request in it (503), never
half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..pipeline import PreparedLead
from .queries import sql

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

# A flusher keeps its pooled connection between batches while it is busy, so a batch costs one
# round trip (the statement, committed in autocommit) instead of four (the pool's health check,
# BEGIN, the statement, COMMIT). After an idle spell the connection goes back to the pool and
# the next batch takes one through the pool's check again.
_HELD_IDLE_S = 1.0


@dataclass(slots=True)
class _Held:
    conn: psycopg.AsyncConnection[Any] | None = None
    used: float = 0.0


_held: ContextVar[_Held | None] = ContextVar("l2i_writer_held", default=None)

# Errors worth one more try with the same batch (a lock-order or serialization conflict).
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class StoreUnavailable(Exception):
    """Postgres could not take the write; nothing of the batch was committed."""


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


@dataclass(slots=True)
class _Pending:
    lead: PreparedLead
    future: asyncio.Future[WriteResult]


def _columns(batch: list[PreparedLead]) -> list[list[Any]]:
    rows = [lead.row() for lead in batch]
    return [list(col) for col in zip(*rows, strict=True)]


class LeadWriter:
    def __init__(self, pool: AsyncConnectionPool, *, max_batch: int = 256, flushers: int = 2):
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._flushers = flushers
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._flush_forever(), name=f"l2i-writer-{i}")
            for i in range(self._flushers)
        ]

    async def stop(self) -> None:
        """Stop taking new leads, write what is pending, then end the flushers."""
        self._closing = True
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def write(self, lead: PreparedLead) -> WriteResult:
        if self._closing:
            raise StoreUnavailable("the service is shutting down")
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(lead, future))
        return await future

    async def write_many(self, leads: list[PreparedLead]) -> list[WriteResult | Exception]:
        """Write several leads (batch posts, CSV); each result or its own error, in order."""
        if self._closing:
            raise StoreUnavailable("the service is shutting down")
        loop = asyncio.get_running_loop()
        futures = []
        for lead in leads:
            future: asyncio.Future[WriteResult] = loop.create_future()
            self._queue.put_nowait(_Pending(lead, future))
            futures.append(future)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def _flush_forever(self) -> None:
        held = _Held()
        _held.set(held)  # this task's own (tasks copy the context when created)
        try:
            await self._flush_loop()
        finally:
            await self._release(held)

    async def _release(self, held: _Held) -> None:
        conn, held.conn = held.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                if not conn.closed:
                    await conn.set_autocommit(False)
            await self._pool.putconn(conn)  # the pool discards it when broken

    async def _flush_loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._flush(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _flush(self, batch: list[_Pending]) -> None:
        # A phone twice in one batch: the first takes the claim, the rest are its duplicates.
        firsts: dict[tuple[str, bool, str], _Pending] = {}
        repeats: list[tuple[_Pending, _Pending]] = []
        for item in batch:
            key = (item.lead.org_id, item.lead.sandbox, item.lead.number.e164)
            if key in firsts:
                repeats.append((item, firsts[key]))
            else:
                firsts[key] = item
        unique = list(firsts.values())
        BATCH_SIZE.observe(len(unique))
        started = time.perf_counter()
        try:
            results = await self._write_with_retry([p.lead for p in unique])
        except Exception as exc:
            BATCH_FAILURES.inc()
            if len(unique) > 1 and not isinstance(exc, StoreUnavailable):
                # A data error in one lead must not fail the others: write them one by one.
                log.warning("batch of %d failed (%s); writing leads singly", len(unique), exc)
                for item in unique:
                    await self._flush_single(item)
                self._settle_repeats(repeats)
                return
            err = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(err)
            return
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        for item, result in zip(unique, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
        self._settle_repeats(repeats)

    async def _flush_single(self, item: _Pending) -> None:
        try:
            (result,) = await self._write_with_retry([item.lead])
        except Exception as exc:
            log.error("lead %s could not be written: %s", item.lead.lead_id, exc)
            err = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
            if not item.future.done():
                item.future.set_exception(err)
            return
        if not item.future.done():
            item.future.set_result(result)

    @staticmethod
    def _settle_repeats(repeats: list[tuple[_Pending, _Pending]]) -> None:
        for item, first in repeats:
            if item.future.done():
                continue
            if first.future.cancelled() or first.future.exception() is not None:
                exc = first.future.exception() if not first.future.cancelled() else None
                item.future.set_exception(exc or StoreUnavailable("write cancelled"))
                continue
            held = first.future.result()
            item.future.set_result(_as_duplicate(held))

    async def _write_with_retry(self, leads: list[PreparedLead]) -> list[WriteResult]:
        for attempt in range(3):
            try:
                return await self._write(leads)
            except _RETRYABLE:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _write(self, leads: list[PreparedLead]) -> list[WriteResult]:
        held = _held.get()
        if held is None:  # not on a flusher task
            async with self._pool.connection() as conn:
                await conn.set_autocommit(True)
                try:
                    return await self._write_on(conn, leads)
                finally:
                    if not conn.closed:
                        await conn.set_autocommit(False)
        now = time.monotonic()
        if held.conn is not None and (held.conn.closed or now - held.used > _HELD_IDLE_S):
            await self._release(held)
        if held.conn is None:
            try:
                conn = await self._pool.getconn()
                await conn.set_autocommit(True)
            except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
                raise StoreUnavailable(str(exc)) from exc
            held.conn = conn
        try:
            results = await self._write_on(held.conn, leads)
        except BaseException:
            await self._release(held)
            raise
        held.used = time.monotonic()
        return results

    async def _write_on(
        self, conn: psycopg.AsyncConnection[Any], leads: list[PreparedLead]
    ) -> list[WriteResult]:
        # One statement is its own transaction: in autocommit it is committed (durably) before
        # `execute` returns. The claim look-up below only reads, so it needs no transaction.
        try:
            cur = await conn.execute(sql("insert_leads"), _columns(leads))
            inserted = {str(row[0]): row for row in await cur.fetchall()}
            lost = [lead for lead in leads if lead.lead_id not in inserted]
            held: dict[tuple[str, bool, str], Any] = {}
            if lost:
                cur = await conn.execute(
                    sql("existing_claims"),
                    (
                        [lead.org_id for lead in lost],
                        [lead.sandbox for lead in lost],
                        [lead.number.e164 for lead in lost],
                    ),
                )
                for row in await cur.fetchall():
                    held[(str(row[0]), row[1], row[2])] = row
        except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        results = []
        for lead in leads:
            row = inserted.get(lead.lead_id)
            if row is not None:
                _, status, eligible, reasons, checks, _ = row
                results.append(
                    WriteResult(True, lead.lead_id, status, eligible, list(reasons),
                                lead.number.valid, checks)
                )
                continue
            h = held.get((lead.org_id, lead.sandbox, lead.number.e164))
            if h is None:  # the holder vanished between the statements: answer unavailable
                raise StoreUnavailable("duplicate holder not found; retry")
            results.append(
                WriteResult(False, str(h[3]), h[4], h[5], list(h[6]), h[7], _dup_checks())
            )
        return results


def _dup_checks() -> dict[str, str]:
    return {"duplicate": "hit", "suppression": "skipped", "dnc": "skipped", "consent": "skipped"}


def _as_duplicate(held: WriteResult) -> WriteResult:
    return WriteResult(False, held.lead_id, held.status, held.eligible, held.reasons,
                       held.phone_valid, _dup_checks())
