"""Scrubbing again: the background re-scrubber of `pending_scrub` leads, and the pre-dial hook.

The re-scrubber runs once per worker. Each round locks up to `L2I_DNC_RESCRUB_BATCH` due pending
leads with `FOR UPDATE SKIP LOCKED` (so workers and nodes never scrub one lead at once), scrubs
them concurrently under each org's timeout, and in the same transaction settles the answered ones
(`new` and queued with one NOTIFY, or `ineligible`) and reschedules the rest with exponential
backoff (1 s, 2 s, 4 s, ... up to `L2I_DNC_RESCRUB_MAX_BACKOFF_S`, with jitter).

`rescrub_due` is for the dial-queue claim: leads whose last scrub is older than 31 days (or that
were never scrubbed) are scrubbed again before they may be handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dnc.providers import ProviderUnavailable, ScrubResult
from lead2inbound.ops.background import RetryLoop, backoff
from lead2inbound.store import events
from lead2inbound.store.events import LeadEvent
from lead2inbound.store.queries import sql

if TYPE_CHECKING:
    from lead2inbound.dnc.gate import DncService

log = logging.getLogger("lead2inbound.dnc.rescrub")

RESCRUB_AFTER_DAYS = 31  # TSR: the registry must be checked no more than 31 days before a call


class Rescrubber(RetryLoop):
    TASK_NAME = "l2i-dnc-rescrub"

    def __init__(
        self,
        pool: AsyncConnectionPool,
        dnc: DncService,
        *,
        interval_s: float,
        batch: int,
        max_backoff_s: float,
    ):
        super().__init__()
        self._pool = pool
        self._dnc = dnc
        self.interval_s = interval_s
        self.batch = batch
        self._max_backoff_s = max_backoff_s

    def _backoff(self, attempts: int) -> float:
        return backoff(attempts, base=1.0, cap=self._max_backoff_s)

    async def round(self) -> int:
        """One round; returns how many pending leads it looked at."""
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(sql("dnc_pending_pick"), (self.batch,))
            rows = await cur.fetchall()
            if not rows:
                return 0
            answers = await asyncio.gather(*[self._scrub(str(r[0]), r[2]) for r in rows])
            settle: list[tuple[Any, ...]] = []
            retry: list[tuple[Any, ...]] = []
            for (org_id, lead_id, _, attempts), answer in zip(rows, answers, strict=True):
                if isinstance(answer, ProviderUnavailable):
                    retry.append(
                        (org_id, lead_id, self._backoff(attempts), _failure_evidence(answer))
                    )
                elif answer is None:
                    settle.append((org_id, lead_id, "not_connected", None, None))
                else:
                    settle.append(
                        (org_id, lead_id, answer.outcome, answer.checked_at, answer.evidence())
                    )
            if settle:
                cur = await conn.execute(sql("dnc_pending_settle"), _columns(settle, 5))
                await _record_settled(conn, await cur.fetchall())
            if retry:
                await conn.execute(sql("dnc_pending_retry"), _columns(retry, 4))
        if settle:
            log.info(
                "re-scrubbed %d pending lead(s); %d still unavailable", len(settle), len(retry)
            )
        return len(rows)

    async def _scrub(self, org_id: str, phone: str) -> ScrubResult | ProviderUnavailable | None:
        conn = await self._dnc.connection_for(org_id)
        if conn is None:
            return None  # the org disconnected its provider: the lead is decided without one
        try:
            return await self._dnc.scrub(conn, phone)
        except ProviderUnavailable as exc:
            return exc


def _failure_evidence(exc: ProviderUnavailable) -> str:
    import json
    from datetime import UTC, datetime

    return json.dumps(
        {
            "outcome": "unavailable",
            "error": exc.detail,
            "raw": exc.raw,
            "checked_at": datetime.now(UTC).isoformat(),
        }
    )


async def _record_settled(conn: AsyncConnection[Any], rows: list[Any]) -> None:
    """A re-scrub's result per lead (lead.dnc_scrubbed), then where it went: lead.queued (a
    live eligible lead) or lead.held (ineligible)."""
    scrubbed = [LeadEvent(str(r[3]), str(r[0])) for r in rows]
    await events.record_leads(conn, "lead.dnc_scrubbed", scrubbed)
    queued = [LeadEvent(str(r[3]), str(r[0])) for r in rows if r[4] and not r[5]]
    await events.record_leads(conn, "lead.queued", queued)
    held = [LeadEvent(str(r[3]), str(r[0])) for r in rows if r[1] == "ineligible"]
    await events.record_leads(conn, "lead.held", held)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


@contextlib.asynccontextmanager
async def _in_transaction(
    db: AsyncConnection[Any] | AsyncConnectionPool,
) -> AsyncIterator[AsyncConnection[Any]]:
    if isinstance(db, AsyncConnectionPool):
        async with db.connection() as conn, conn.transaction():
            yield conn
    else:
        yield db  # the caller's connection, inside the caller's transaction


async def rescrub_due(
    db: AsyncConnection[Any] | AsyncConnectionPool,
    dnc: DncService,
    org_id: str,
    lead_ids: Sequence[str],
    *,
    max_age_days: int = RESCRUB_AFTER_DAYS,
) -> list[str]:
    """Scrub again the leads among `lead_ids` whose last scrub is older than `max_age_days` (or
    that were never scrubbed), when the org has a provider connected. Returns the ids, in the
    given order, that may still be handed out: not due, or scrubbed clear just now.

    A hit makes the lead `ineligible` and an unanswered scrub makes it `pending_scrub`; either
    way it is deleted from `dial_queue` in the same statement. Call it with the claim's own
    connection, inside the claim's transaction, after the candidate rows are locked
    (`FOR UPDATE SKIP LOCKED`) and before their lease is written.
    """
    if not lead_ids:
        return []
    conn_info = await dnc.connection_for(org_id)
    if conn_info is None:
        return list(lead_ids)  # nothing connected: nothing to scrub (checks.dnc: not_connected)
    async with _in_transaction(db) as conn:
        cur = await conn.execute(sql("dnc_due"), (org_id, list(lead_ids), max_age_days))
        due = await cur.fetchall()
        if not due:
            return list(lead_ids)

        async def one(phone: str) -> ScrubResult | ProviderUnavailable:
            try:
                return await dnc.scrub(conn_info, phone)
            except ProviderUnavailable as exc:
                return exc

        answers = await asyncio.gather(*[one(phone) for _, phone in due])
        rows = []
        for (lead_id, _), answer in zip(due, answers, strict=True):
            if isinstance(answer, ProviderUnavailable):
                rows.append((org_id, lead_id, "unavailable", None, _failure_evidence(answer)))
            else:
                rows.append((org_id, lead_id, answer.outcome, answer.checked_at, answer.evidence()))
        cur = await conn.execute(sql("dnc_predial_record"), _columns(rows, 5))
        recorded = await cur.fetchall()
        await events.record_leads(
            conn, "lead.dnc_scrubbed", [LeadEvent(org_id, str(r[0])) for r in recorded]
        )
        hits = [r for r in recorded if r[1] not in ("clear", "unavailable")]
        held = [LeadEvent(org_id, str(r[0])) for r in hits]
        await events.record_leads(conn, "lead.held", held)
    removed = {str(r[1]) for r in rows if r[2] != "clear"}
    return [lead_id for lead_id in lead_ids if str(lead_id) not in removed]
