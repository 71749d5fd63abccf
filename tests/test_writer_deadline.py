"""The writer sheds load: a lead no flusher has taken within `queue_timeout_s` is answered
StoreUnavailable (503, nothing stored) and skipped; a lead already in a transaction is waited
for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from lead2inbound.intake.writer import LeadWriter, StoreUnavailable


class _BlockingPool:
    """Every transaction waits for `release`; records how many leads each one saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.batches: list[int] = []

    async def getconn(self) -> Any:  # a flusher holds its connection between batches
        await self.release.wait()
        raise OSError("no database in this test")

    async def putconn(self, conn: Any) -> None:
        return None

    def connection(self) -> Any:
        pool = self

        class _Ctx:
            async def __aenter__(self) -> Any:
                await pool.release.wait()
                raise OSError("no database in this test")

            async def __aexit__(self, *a: object) -> None:
                return None

        return _Ctx()


def _lead(n: int) -> Any:
    return SimpleNamespace(
        org_id="o",
        sandbox=False,
        number=SimpleNamespace(e164=f"+1512555{n:04d}"),
        lead_id=str(n),
        row=lambda: (str(n),),
    )


async def test_untaken_leads_time_out_and_are_skipped():
    pool = _BlockingPool()
    writer = LeadWriter(pool, flushers=1, queue_timeout_s=0.2)  # type: ignore[arg-type]
    await writer.start()
    try:
        first = asyncio.create_task(writer.write(_lead(1)))  # taken, then stuck in its transaction
        await asyncio.sleep(0.05)
        second = asyncio.create_task(writer.write(_lead(2)))  # waits in the queue
        with pytest.raises(StoreUnavailable, match="overloaded"):
            await second
        assert not first.done(), "a lead in a transaction is waited for past the deadline"
        pool.release.set()
        with pytest.raises(StoreUnavailable):  # the (fake) transaction fails: 503, not a hang
            await first
    finally:
        pool.release.set()
        await writer.stop()


async def test_taken_units_leave_the_shedders_queue_at_once():
    """The shedder's deque holds only units still waiting: one a flusher has taken (or one
    already shed) is not kept until its deadline, with its leads and results (memory)."""
    pool = _BlockingPool()
    writer = LeadWriter(pool, flushers=1, queue_timeout_s=30.0)  # type: ignore[arg-type]
    await writer.start()
    try:
        first = asyncio.create_task(writer.write(_lead(1)))
        await asyncio.sleep(0.05)  # taken by the one flusher, stuck in its transaction
        rest = [asyncio.create_task(writer.write(_lead(n))) for n in range(2, 12)]
        await asyncio.sleep(0.05)
        assert [u.leads[0].lead_id for u in writer._waiting] == [str(n) for n in range(2, 12)]
        pool.release.set()  # the flusher fails its batch, then takes the ten others
        for task in [first, *rest]:
            with pytest.raises(StoreUnavailable):
                await task
        assert not writer._waiting, "answered units must not wait for their deadline"
    finally:
        pool.release.set()
        await writer.stop()
