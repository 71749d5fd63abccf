"""The writer sheds load: a lead no flusher has taken within `queue_timeout_s` is answered
StoreUnavailable (503, nothing stored) and skipped; a lead already in a transaction is waited
for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from lead2inbound.store.writer import LeadWriter, StoreUnavailable


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
