"""The dial queue hand-off: claims with leases, attempts, completions, releases, callbacks.

A claim is one transaction (docs/dial-queue.md): expired leases go back to the queue
(`claim_sweep`); then the lanes are read in order, each with its own partial index
(`claim_select`): callbacks due, new leads (newest first, or oldest first with
`L2I_QUEUE_ORDER=fifo`), retries due (oldest due first); rows are locked `FOR UPDATE SKIP LOCKED`,
so concurrent claimers on any number of nodes never get the same lead. Numbers under a state
attempt limit are then locked one by one (`claim_number_locks`) and counted again
(`claim_number_counts`), so racing claims cannot together exceed a limit. The locked entries go
through the pre-dial `rescrub` hook (the app wires `dnc.rescrub_due`: leads whose last scrub is
older than 31 days are scrubbed again) and only the ids it returns are leased (`claim_lease`).

An attempt (or a completion) is one transaction too: the holder's entry is locked
(`dial_holder`), the attempt stored, and the lead either rescheduled by the org's retry policy
(and any state-limit hold) or taken out of the queue.

Every statement takes `now` from the injected clock, so tests can set the time (calling hours,
lease expiry, retries, limits) without waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dialing import attempt_limits, attempts, calling_hours
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


class BadAttempt(Exception):
    """The attempt or completion cannot be recorded as given (422): (field, message)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# How far an attempt's `at` may lie from the clock: a little ahead (clock skew), and back no
# further than the longest limit window (older attempts would not count anyway).
AT_SKEW = timedelta(minutes=5)
AT_MAX_AGE = timedelta(hours=24)
CALLBACK_MAX_AHEAD = timedelta(days=90)

# The claim lanes: (filter, order) for claim_select. Fixed text, never input.
_LANES = {
    "callback": (b"q.callback AND q.due_at <= %(now)s::timestamptz", b"q.due_at, q.lead_id"),
    "new": (b"q.due_at IS NULL", b"q.queued_at DESC, q.lead_id DESC"),
    "new_fifo": (b"q.due_at IS NULL", b"q.queued_at, q.lead_id"),
    "retry": (b"NOT q.callback AND q.due_at <= %(now)s::timestamptz", b"q.due_at, q.lead_id"),
}


def _lane_sql(lane: str) -> bytes:
    where, order = _LANES[lane]
    return sql("claim_select").replace(b"LANE_FILTER", where).replace(b"LANE_ORDER", order)


_LANE_SQL = {lane: _lane_sql(lane) for lane in _LANES}


@dataclass
class Attempt:
    """One call attempt as reported: `result`, when, how long, by whom (free text)."""

    result: str
    at: datetime | None = None
    duration_s: int | None = None
    dialer: str | None = None


class DialQueue:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        enforce_hours: bool = True,
        enforce_limits: bool = True,
        order: str = "newest",
        clock: Clock = system_clock,
        rescrub: Rescrub | None = None,
    ):
        self._pool = pool
        self.enforce_hours = enforce_hours
        self.enforce_limits = enforce_limits
        self.order = order  # "newest" (speed to lead) or "fifo"
        self.clock = clock
        self.rescrub = rescrub
        w_rule, w_dow, w_start, w_end = calling_hours.windows_sql_params()
        l_state, l_max, l_window = attempt_limits.sql_params()
        self._params = {
            "w_rule": w_rule,
            "w_dow": w_dow,
            "w_start": w_start,
            "w_end": w_end,
            "any_zones": list(calling_hours.ANY_US),
            "l_state": l_state,
            "l_max": l_max,
            "l_window": l_window,
        }

    # --- claims ---------------------------------------------------------------------------------

    async def claim(
        self, org_id: str, owner: str, limit: int, lease_seconds: int
    ) -> list[dict[str, Any]]:
        """Lease up to `limit` leads to `owner` (the claiming key); rows with their lease."""
        now = self.clock()
        # Pipeline mode: statements whose results are not read yet travel with the next one that
        # is read: BEGIN, the sweep and the first lanes go as one round trip, the number locks
        # with their count, the lease with COMMIT (its rows are read after the commit).
        async with self._pool.connection() as conn, conn.pipeline():
            cur = conn.cursor(row_factory=dict_row)
            async with conn.transaction():
                await cur.execute(sql("claim_sweep"), {"org": org_id, "now": now})
                picked = await self._pick(conn, org_id, now, limit)
                if self.enforce_limits:
                    picked = await self._within_limits(cur, org_id, now, picked)
                ids = [r["lead_id"] for r in picked]
                if self.rescrub is not None and ids:
                    keep = set(await self.rescrub(conn, org_id, [str(i) for i in ids]))
                    ids = [i for i in ids if str(i) in keep]
                if not ids:
                    return []
                await cur.execute(
                    sql("claim_lease"),
                    {"org": org_id, "owner": owner, "now": now, "lease": lease_seconds,
                     "ids": ids},
                )  # fmt: skip
                # every id picked is leased (its row is locked by this claim)
                claimed = [LeadEvent(org_id, str(i), {"claimed_by": owner}) for i in ids]
                await events.record_leads(conn, "lead.claimed", claimed)
            return await cur.fetchall()

    async def _pick(
        self, conn: AsyncConnection[Any], org_id: str, now: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The claimable entries, locked, in claim order: callbacks due, then new leads and
        retries due (new first, newest first; or, `fifo`, both by when they became due).

        The lanes that are always needed are sent together (one round trip), each asking for
        `limit` rows; rows one of them locked beyond what the answer takes stay locked until
        the claim commits, which only makes a concurrent claimer skip them."""
        params = {"org": org_id, "now": now, "enforce": self.enforce_hours,
                  "limits": self.enforce_limits, **self._params}  # fmt: skip

        async def send(*names: str) -> list[Any]:
            curs = []
            for name in names:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(_LANE_SQL[name], {**params, "limit": limit})
                curs.append(cur)
            return [list(await cur.fetchall()) for cur in curs]

        if self.order == "fifo":
            # new leads and retries by their own indexes, merged by when each became due (a new
            # lead when it was queued)
            callbacks, new, retries = await send("callback", "new_fifo", "retry")
            more = sorted(
                new + retries, key=lambda r: (r["due_at"] or r["queued_at"], r["lead_id"])
            )
            return (callbacks + more)[:limit]
        callbacks, new = await send("callback", "new")
        picked = (callbacks + new)[:limit]
        if len(picked) < limit:
            (retries,) = await send("retry")
            picked += retries[: limit - len(picked)]
        return picked

    async def _within_limits(
        self, cur: Any, org_id: str, now: datetime, picked: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Drop the candidates whose number would go over a state attempt limit, counting under
        a lock per number (the snapshot test in claim_select cannot see a racing claim)."""
        limited = [r for r in picked if attempt_limits.applicable(r["calling_rules"])]
        phones = sorted({r["phone"] for r in limited})
        if not phones:
            return picked
        await cur.execute(sql("claim_number_locks"), {"org": org_id, "phones": phones})
        await cur.execute(
            sql("claim_number_counts"),
            {"org": org_id, "now": now, "phones": phones, **self._params},
        )
        used = {(r["phone"], r["state"]): [r["used"], r["n"]] for r in await cur.fetchall()}
        keep = []
        for row in picked:
            states = [s for s in row["calling_rules"] or () if s in attempt_limits.LIMITS]
            counts = [used[(row["phone"], s)] for s in states]
            if all(c[0] < c[1] for c in counts):
                keep.append(row)
                for (phone, _state), c in used.items():
                    if phone == row["phone"]:
                        c[0] += 1  # this lease is a call about to happen on the number
        return keep

    # --- attempts, completions, releases --------------------------------------------------------

    async def attempt(
        self, org_id: str, owner: str, lead_id: str, attempt: Attempt, lease_id: str | None
    ) -> dict[str, Any]:
        """Record a non-final attempt: the lease ends and the lead is rescheduled by the org's
        retry policy, or, after its last allowed attempt, ends `unreachable`."""
        now = self.clock()
        at = self._check_at(attempt.at, now)
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            held = await self._holder(conn, cur, org_id, owner, lead_id, lease_id, now)
            n = held["attempts"] + 1
            await self._store_attempt(cur, org_id, owner, held, n, attempt, at, None, now)
            policy, _ = await attempts.load(conn, org_id)
            due = policy.next_try(n, at)
            hold = await self._hold(cur, org_id, lead_id, held, now)
            if due is None:
                row = await self._finish(cur, org_id, lead_id, "unreachable", n, at)
                await self._record(
                    conn, org_id, lead_id, n, attempt, at, "unreachable", reason="max_attempts"
                )
                return row
            if hold is not None:
                due = max(due, hold)
            row = await self._reschedule(cur, org_id, lead_id, n, at, due, None)
            await self._record(conn, org_id, lead_id, n, attempt, at, None)
            return row

    @staticmethod
    async def _record(
        conn: AsyncConnection[Any],
        org_id: str,
        lead_id: str,
        n: int,
        attempt: Attempt,
        at: datetime,
        outcome: str | None,
        callback_at: datetime | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        """lead.attempted for the attempt, then lead.completed when it ended the lead (or set
        a callback), in the attempt's transaction (store/events.py)."""
        detail = {"attempt_no": n, "result": attempt.result, "at": at.isoformat(),
                  "duration_s": attempt.duration_s, "dialer": attempt.dialer}  # fmt: skip
        await events.record_leads(conn, "lead.attempted", [LeadEvent(org_id, lead_id, detail)])
        if outcome is not None:
            extra: dict[str, Any] = {"outcome": outcome}
            if callback_at is not None:
                extra["callback_at"] = callback_at.isoformat()
            if reason is not None:
                extra["reason"] = reason
            await events.record_leads(conn, "lead.completed", [LeadEvent(org_id, lead_id, extra)])

    async def complete(
        self,
        org_id: str,
        owner: str,
        lead_id: str,
        outcome: str,
        lease_id: str | None,
        *,
        callback_at: datetime | None = None,
        attempt: Attempt | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """(the lead, its phone if it was added to the suppression list by `do_not_call`).

        Records the call that reached the outcome as the lead's last attempt. A
        `callback_requested` with `callback_at` keeps the lead queued as a callback, claimable
        from that moment or, outside the calling window, from the window's next opening."""
        now = self.clock()
        if callback_at is not None and outcome != "callback_requested":
            raise BadAttempt("callback_at", "callback_at goes with outcome callback_requested")
        if callback_at is not None and callback_at > now + CALLBACK_MAX_AHEAD:
            raise BadAttempt("callback_at", "callback_at must be within 90 days")
        attempt = attempt or Attempt(attempts.COMPLETE_RESULT.get(outcome, "answered"))
        at = self._check_at(attempt.at, now)
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            held = await self._holder(conn, cur, org_id, owner, lead_id, lease_id, now)
            n = held["attempts"] + 1
            await self._store_attempt(cur, org_id, owner, held, n, attempt, at, outcome, now)
            hold = await self._hold(cur, org_id, lead_id, held, now)
            if callback_at is not None:
                due = max(callback_at, now)
                if self.enforce_hours:
                    zones = held["timezones"] or calling_hours.ANY_US
                    rules = held["calling_rules"] or (calling_hours.FEDERAL,)
                    due = calling_hours.next_callable(zones, rules, due) or due
                if hold is not None:
                    due = max(due, hold)
                row = await self._reschedule(cur, org_id, lead_id, n, at, due, callback_at)
                await self._record(conn, org_id, lead_id, n, attempt, at, outcome, callback_at)
                return row, []
            row = await self._finish(cur, org_id, lead_id, outcome, n, at)
            await self._record(conn, org_id, lead_id, n, attempt, at, outcome)
            added: list[str] = []
            if outcome == "do_not_call":
                added = await suppressions.add(conn, org_id, [row["phone"]], "do_not_call", now=now)
            return row, added

    @staticmethod
    def _check_at(at: datetime | None, now: datetime) -> datetime:
        if at is None:
            return now
        if at > now + AT_SKEW:
            raise BadAttempt("at", "at must not be in the future")
        if at < now - AT_MAX_AGE:
            raise BadAttempt("at", "at must be within the last 24 hours")
        return at

    async def _holder(
        self,
        conn: AsyncConnection[Any],
        cur: Any,
        org_id: str,
        owner: str,
        lead_id: str,
        lease_id: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        params = {"org": org_id, "lead": lead_id, "now": now, "owner": owner,
                  "lease_id": lease_id}  # fmt: skip
        await cur.execute(sql("dial_holder"), params)
        held = await cur.fetchone()
        if held is None:
            await self._why_not(conn, org_id, lead_id)
        assert held is not None
        return dict(held)

    @staticmethod
    async def _store_attempt(
        cur: Any,
        org_id: str,
        owner: str,
        held: dict[str, Any],
        n: int,
        attempt: Attempt,
        at: datetime,
        outcome: str | None,
        now: datetime,
    ) -> None:
        await cur.execute(
            sql("dial_attempt_insert"),
            {"org": org_id, "lead": held["lead_id"], "attempts": n, "phone": held["phone"],
             "result": attempt.result, "at": at, "duration": attempt.duration_s,
             "dialer": attempt.dialer, "outcome": outcome, "owner": owner, "now": now},
        )  # fmt: skip

    async def _hold(
        self, cur: Any, org_id: str, lead_id: str, held: dict[str, Any], now: datetime
    ) -> datetime | None:
        """When the number (now with this attempt) may next be called under its state's limit;
        the org's other queued leads for it are held until then too. None: not limited now."""
        limits = attempt_limits.applicable(held["calling_rules"])
        if not self.enforce_limits or not limits:
            return None
        window = max(w for _, w in limits)
        params = {"org": org_id, "phone": held["phone"], "now": now, "window": window}
        await cur.execute(sql("dial_number_attempts"), params)
        ats = [r["at"] for r in await cur.fetchall()]
        hold = attempt_limits.hold_until(ats, limits, now)
        if hold is not None:
            await cur.execute(
                sql("dial_number_hold"),
                {"org": org_id, "phone": held["phone"], "lead": lead_id, "hold": hold},
            )
        return hold

    @staticmethod
    async def _finish(
        cur: Any, org_id: str, lead_id: str, outcome: str, n: int, at: datetime
    ) -> dict[str, Any]:
        params = {"org": org_id, "lead": lead_id, "outcome": outcome, "attempts": n, "at": at}
        await cur.execute(sql("dial_complete"), params)
        row = await cur.fetchone()
        assert row is not None
        return dict(row)

    @staticmethod
    async def _reschedule(
        cur: Any,
        org_id: str,
        lead_id: str,
        n: int,
        at: datetime,
        due: datetime,
        callback_at: datetime | None,
    ) -> dict[str, Any]:
        await cur.execute(
            sql("dial_reschedule"),
            {"org": org_id, "lead": lead_id, "attempts": n, "at": at, "due": due,
             "callback": callback_at is not None, "callback_at": callback_at,
             "status": "callback_requested" if callback_at is not None else "new"},
        )  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        return dict(row)

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
