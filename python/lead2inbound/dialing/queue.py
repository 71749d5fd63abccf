"""The dial queue hand-off: claims with leases, completions, releases, the 31-day re-scrub hook.

A claim is one transaction of two statements: `claim_select` picks the org's oldest claimable
entries (FIFO by queued_at) and locks them `FOR UPDATE SKIP LOCKED`, so concurrent claimers on any
number of nodes never get the same lead; `claim_lease` leases them, marks them `dialing` and
sweeps other expired leases back to `new`. Between the two, the locked entries go through the
pre-dial `rescrub` hook (the app wires `dnc.rescrub_due`: leads whose last scrub is older than 31
days are scrubbed again) and only the ids it returns are leased.

Every statement takes `now` from the injected clock, so tests can set the time (calling hours,
lease expiry) without waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dialing import calling_hours
from lead2inbound.store import events, suppressions
from lead2inbound.store.events import LeadEvent
from lead2inbound.store.queries import sql

OUTCOMES = (
    "qualified",
    "transferred",
    "not_qualified",
    "unreachable",
    "voicemail",
    "callback_requested",
    "wrong_number",
    "do_not_call",
)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


# The pre-dial re-scrub hook: given the claim's connection (inside its transaction, rows locked),
# the org and the candidate lead ids in FIFO order, return the ids that may be handed out. The
# hook itself takes refused leads out of the queue (see dnc.rescrub_due).
Rescrub = Callable[[AsyncConnection[Any], str, list[str]], Awaitable[list[str]]]


class NotLeased(Exception):
    """The lead exists but is not currently leased to this caller (409)."""


class NoSuchLead(Exception):
    """No such lead in the caller's org (404)."""


class DialQueue:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        enforce_hours: bool = True,
        clock: Clock = system_clock,
        rescrub: Rescrub | None = None,
    ):
        self._pool = pool
        self.enforce_hours = enforce_hours
        self.clock = clock
        self.rescrub = rescrub
        w_rule, w_dow, w_start, w_end = calling_hours.windows_sql_params()
        self._windows = {
            "w_rule": w_rule,
            "w_dow": w_dow,
            "w_start": w_start,
            "w_end": w_end,
            "any_zones": list(calling_hours.ANY_US),
        }

    async def claim(
        self, org_id: str, owner: str, limit: int, lease_seconds: int
    ) -> list[dict[str, Any]]:
        """Lease up to `limit` leads to `owner` (the claiming key); rows with their lease."""
        now = self.clock()
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                sql("claim_select"),
                {
                    "org": org_id,
                    "now": now,
                    "enforce": self.enforce_hours,
                    "limit": limit,
                    **self._windows,
                },
            )
            picked = await cur.fetchall()
            # a lease that expired and is let again: its end is recorded before the new claim
            lapsed = [
                LeadEvent(org_id, str(r["lead_id"]), {"reason": "lease_expired"})
                for r in picked
                if r["lease_expires_at"] is not None
            ]
            await events.record_leads(conn, "lead.released", lapsed)
            ids = [r["lead_id"] for r in picked]
            if self.rescrub is not None and ids:
                keep = set(await self.rescrub(conn, org_id, [str(i) for i in ids]))
                ids = [i for i in ids if str(i) in keep]
            await cur.execute(
                sql("claim_lease"),
                {"org": org_id, "owner": owner, "now": now, "lease": lease_seconds, "ids": ids},
            )
            rows = await cur.fetchall()
            claimed = [LeadEvent(org_id, str(r["lead_id"]), {"claimed_by": owner}) for r in rows]
            await events.record_leads(conn, "lead.claimed", claimed)
            return rows

    async def complete(
        self, org_id: str, owner: str, lead_id: str, outcome: str, lease_id: str | None
    ) -> tuple[dict[str, Any], list[str]]:
        """(the lead, its phone if it was added to the suppression list by `do_not_call`)."""
        now = self.clock()
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            params = {"org": org_id, "lead": lead_id, "now": now, "owner": owner,
                      "lease_id": lease_id, "outcome": outcome}  # fmt: skip
            await cur.execute(sql("dial_complete"), params)
            row = await cur.fetchone()
            if row is None:
                await self._why_not(conn, org_id, lead_id)
            assert row is not None
            await events.record_leads(
                conn, "lead.completed", [LeadEvent(org_id, lead_id, {"outcome": outcome})]
            )
            added: list[str] = []
            if outcome == "do_not_call":
                added = await suppressions.add(conn, org_id, [row["phone"]], "do_not_call", now=now)
            return row, added

    async def release(
        self, org_id: str, owner: str, lead_id: str, lease_id: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            params = {"org": org_id, "lead": lead_id, "now": now, "owner": owner,
                      "lease_id": lease_id}  # fmt: skip
            await cur.execute(sql("dial_release"), params)
            row = await cur.fetchone()
            if row is None:
                await self._why_not(conn, org_id, lead_id)
            assert row is not None
            await events.record_leads(
                conn, "lead.released", [LeadEvent(org_id, lead_id, {"reason": "released"})]
            )
            # A number suppressed while its lead was leased: back in the queue means out of it.
            gone = await suppressions.dequeue(conn, org_id, [row["phone"]], now=now)
            if gone:
                await cur.execute(sql("lead_get"), {"org": org_id, "lead": lead_id})
                row = await cur.fetchone()
                assert row is not None
            return row

    @staticmethod
    async def _why_not(conn: AsyncConnection, org_id: str, lead_id: str) -> None:
        cur = await conn.execute(sql("lead_position"), {"org": org_id, "lead": lead_id})
        if await cur.fetchone() is None:
            raise NoSuchLead(lead_id)
        raise NotLeased(lead_id)
