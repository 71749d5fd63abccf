"""The writer decides its units' rate-limit charges (POST /v1/leads without an idempotency key
or a DNC provider): every charge of a batch in one Redis round trip, in arrival order, just
before the batch's transaction; a refused unit is answered RateLimited and never written. Real
Postgres, real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from lead2inbound.access.limits import RateLimiter
from lead2inbound.intake.writer import Charge, LeadWriter, RateLimited
from lead2inbound.ops.config import Config

from .support.queue import phones, prepared
from .support.stack import fetch, make_org


class _HeldLimiter(RateLimiter):
    """The real limiter, but each batch's decision waits for `release` (a request can go away
    meanwhile)."""

    def __init__(self, client: Any, config: Config) -> None:
        super().__init__(client, config)
        self.deciding = asyncio.Event()
        self.release = asyncio.Event()

    async def check_many(self, checks: Any) -> Any:
        self.deciding.set()
        await self.release.wait()
        return await super().check_many(checks)


@contextlib.asynccontextmanager
async def _writer(
    database_url: str, redis_url: str, config: Config, limiter_class: type = RateLimiter
) -> AsyncIterator[Any]:
    """A one-flusher writer with a limiter; yields (writer, limiter, Redis client)."""
    client = aioredis.from_url(redis_url, socket_connect_timeout=0.2)
    limiter = limiter_class(client, config)
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False)
    await pool.open()
    writer = LeadWriter(pool, flushers=1, limiter=limiter)
    await writer.start()
    try:
        yield writer, limiter, client
    finally:
        await writer.stop()
        await pool.close()
        await limiter.aclose()
        await client.aclose()


async def _evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_batchs_charges_are_decided_in_order_in_one_round_trip(database_url, redis_url):
    org = make_org(database_url)
    key_id = uuid.uuid4().hex[:12]
    async with _writer(database_url, redis_url, Config(redis_timeout_ms=2000)) as (
        writer,
        limiter,
        client,
    ):
        leads = [prepared(org.org_id, p) for p in phones(7)]
        charges = [Charge(key_id, 4) for _ in range(6)]
        await limiter.check_many([(uuid.uuid4().hex[:12], 1, 0)])  # the script is loaded
        calls = await _evalsha_calls(client)
        # queued in one loop turn, so the one flusher takes them as one batch
        outcomes = await asyncio.gather(
            *(writer.write(lead, charge=c) for lead, c in zip(leads, charges, strict=False)),
            writer.write(leads[6]),  # no charge (a batch post's unit): written regardless
            return_exceptions=True,
        )
        assert await _evalsha_calls(client) == calls + 1, "one script run for the whole batch"
        assert [type(o).__name__ for o in outcomes] == ["WriteResult"] * 4 + ["RateLimited"] * 2 + [
            "WriteResult"
        ]
        decisions = [c.decision for c in charges]
        assert all(d is not None and not d.degraded for d in decisions)
        assert [d.remaining for d in decisions if d and d.allowed] == [3, 2, 1, 0]
        for refused in outcomes[4:6]:
            assert isinstance(refused, RateLimited)
            assert not refused.decision.allowed and refused.decision.retry_after >= 1
        stored = {row[0] for row in fetch(database_url, "SELECT phone FROM leads")}
        assert stored == {lead.number.e164 for lead in leads[:4] + leads[6:]}


async def test_without_redis_the_fallback_decides_and_nothing_is_lost(database_url):
    org = make_org(database_url)
    key_id = uuid.uuid4().hex[:12]
    nothing = "redis://127.0.0.1:9/0"  # no Redis there
    config = Config(redis_timeout_ms=200, fallback_divisor=2)
    async with _writer(database_url, nothing, config) as (writer, limiter, _):
        leads = [prepared(org.org_id, p) for p in phones(3, start=100)]
        charges = [Charge(key_id, 4) for _ in leads]
        outcomes = await asyncio.gather(
            *(writer.write(lead, charge=c) for lead, c in zip(leads, charges, strict=True)),
            return_exceptions=True,
        )
        assert limiter.degraded
        # the in-process fallback at 4 // 2 = 2 per minute: two written, the third refused
        assert [type(o).__name__ for o in outcomes] == ["WriteResult"] * 2 + ["RateLimited"]
        assert all(c.decision is not None and c.decision.degraded for c in charges)
        stored = {row[0] for row in fetch(database_url, "SELECT phone FROM leads")}
        assert stored == {lead.number.e164 for lead in leads[:2]}


async def test_a_request_gone_while_its_charge_is_decided_does_not_stop_the_writer(
    database_url, redis_url
):
    org = make_org(database_url)
    key_id = uuid.uuid4().hex[:12]
    config = Config(redis_timeout_ms=2000)
    async with _writer(database_url, redis_url, config, _HeldLimiter) as (writer, limiter, _):
        first, gone, later = (prepared(org.org_id, p) for p in phones(3, start=200))
        kept = asyncio.create_task(writer.write(first, charge=Charge(key_id, 1)))
        refused = asyncio.create_task(writer.write(gone, charge=Charge(key_id, 1)))
        await limiter.deciding.wait()  # both in one batch, the charges being decided
        refused.cancel()  # the client hung up; its charge is refused (limit 1)
        limiter.release.set()
        assert (await kept).created
        with pytest.raises(asyncio.CancelledError):
            await refused
        # the flusher lives on: the next lead is written
        again = await asyncio.wait_for(writer.write(later, charge=Charge(key_id + "x", 1)), 10)
        assert again.created
        stored = {row[0] for row in fetch(database_url, "SELECT phone FROM leads")}
        assert stored == {first.number.e164, later.number.e164}


async def test_a_charge_needs_a_writer_with_a_limiter(database_url):
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=1, open=False)
    writer = LeadWriter(pool)
    with pytest.raises(ValueError, match="no rate limiter"):
        await writer.write(prepared(str(uuid.uuid4()), "5125550100"), charge=Charge("k", 1))
