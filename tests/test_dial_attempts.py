"""Call attempts, retry schedules, callbacks, state attempt limits and claim order, on the dial
queue itself with an injected clock (real Postgres). The HTTP side is in test_dial_attempts_api.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dialing import attempt_limits, attempts, calling_hours
from lead2inbound.dialing.leads import lead_json
from lead2inbound.dialing.queue import Attempt, BadAttempt, DialQueue
from tests.support.queue import bulk_insert
from tests.support.stack import fetch, make_org

ET, CT = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture
async def pool(database_url):
    async with AsyncConnectionPool(database_url, min_size=1, max_size=10, open=False) as p:
        await p.open(wait=True)
        yield p


def same_number_lead(database_url: str, lead_id: str) -> str:
    """A second queued lead of the same org and number (as a lead after the duplicate window)."""
    new = str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("CREATE TEMP TABLE t ON COMMIT DROP AS SELECT * FROM leads WHERE lead_id = %s",
                     (lead_id,))  # fmt: skip
        conn.execute("UPDATE t SET lead_id = %s", (new,))
        conn.execute("INSERT INTO leads SELECT * FROM t")
        conn.execute(
            "INSERT INTO dial_queue (org_id, lead_id, phone) "
            "SELECT org_id, %s, phone FROM dial_queue WHERE lead_id = %s",
            (new, lead_id),
        )
    return new


async def claim_ids(queue: DialQueue, org: str, limit: int = 100, owner: str = "k") -> list[str]:
    return [str(r["lead_id"]) for r in await queue.claim(org, owner, limit, 60)]


async def no_answer(queue: DialQueue, org: str, lead: str, owner: str = "k") -> dict:
    return await queue.attempt(org, owner, lead, Attempt("no_answer"), None)


# --- attempts and the retry schedule ----------------------------------------------------------


async def test_retry_schedule_then_unreachable(pool, database_url):
    org = make_org(database_url)
    (lead,) = bulk_insert(database_url, org.org_id, ["+15125550101"], state="TX")
    clock = Clock(datetime(2026, 7, 8, 10, 0, tzinfo=CT))
    queue = DialQueue(pool, enforce_hours=False, clock=clock)
    expected = [timedelta(minutes=10), timedelta(hours=1), timedelta(hours=4),
                timedelta(days=1), timedelta(days=1)]  # fmt: skip
    for n, delay in enumerate(expected, start=1):
        assert await claim_ids(queue, org.org_id) == [lead]
        row = await queue.attempt(
            org.org_id, "k", lead, Attempt("no_answer", None, 12, "agent-1"), None
        )
        assert row["attempts"] == n and row["status"] == "new"
        assert row["last_attempt_at"] == clock()
        assert row["next_attempt_at"] == clock() + delay
        # not claimable a second early, claimable on the dot
        clock.at = row["next_attempt_at"] - timedelta(seconds=1)
        assert await claim_ids(queue, org.org_id) == []
        clock.at = row["next_attempt_at"]
    assert await claim_ids(queue, org.org_id) == [lead]
    last = await queue.attempt(org.org_id, "k", lead, Attempt("busy"), None)
    assert last["status"] == "unreachable" and last["attempts"] == 6
    assert last["next_attempt_at"] is None
    assert fetch(database_url, "SELECT count(*) FROM dial_queue") == [(0,)]
    stored = fetch(database_url, "SELECT attempt_no, result, duration_s, dialer FROM dial_attempts "
                   "ORDER BY attempt_no")  # fmt: skip
    assert stored[0] == (1, "no_answer", 12, "agent-1") and stored[-1] == (6, "busy", None, None)
    assert [r[0] for r in stored] == [1, 2, 3, 4, 5, 6]


async def test_org_policy_and_complete_records_last_attempt(pool, database_url):
    org = make_org(database_url)
    a, b = bulk_insert(database_url, org.org_id, ["+15125550111", "+15125550112"], state="TX")
    with psycopg.connect(database_url) as conn:
        attempts.store(conn, org.org_id, attempts.Policy((120, 300), 3))
    clock = Clock(datetime(2026, 7, 8, 10, 0, tzinfo=CT))
    queue = DialQueue(pool, enforce_hours=False, clock=clock)
    await claim_ids(queue, org.org_id)
    row = await no_answer(queue, org.org_id, a)
    assert row["next_attempt_at"] == clock() + timedelta(seconds=120)
    done, _ = await queue.complete(org.org_id, "k", b, "qualified", None)
    assert done["status"] == "qualified" and done["attempts"] == 1
    assert fetch(database_url, "SELECT result, outcome FROM dial_attempts WHERE lead_id = %s",
                 b) == [("answered", "qualified")]  # fmt: skip
    clock.at += timedelta(seconds=120)
    await claim_ids(queue, org.org_id)
    row = await no_answer(queue, org.org_id, a)
    assert row["next_attempt_at"] == clock() + timedelta(seconds=300)
    clock.at += timedelta(seconds=300)
    await claim_ids(queue, org.org_id)
    assert (await no_answer(queue, org.org_id, a))["status"] == "unreachable"


async def test_attempt_time_and_holder_rules(pool, database_url):
    org = make_org(database_url)
    (lead,) = bulk_insert(database_url, org.org_id, ["+15125550121"], state="TX")
    clock = Clock(datetime(2026, 7, 8, 10, 0, tzinfo=CT))
    queue = DialQueue(pool, enforce_hours=False, clock=clock)
    from lead2inbound.dialing.queue import NotLeased

    with pytest.raises(NotLeased):
        await no_answer(queue, org.org_id, lead)
    await claim_ids(queue, org.org_id)
    with pytest.raises(NotLeased):
        await no_answer(queue, org.org_id, lead, owner="someone-else")
    for at, field in ((clock() + timedelta(hours=1), "at"), (clock() - timedelta(days=2), "at")):
        with pytest.raises(BadAttempt) as err:
            await queue.attempt(org.org_id, "k", lead, Attempt("no_answer", at), None)
        assert err.value.field == field
    earlier = clock() - timedelta(minutes=30)
    row = await queue.attempt(org.org_id, "k", lead, Attempt("voicemail", earlier), None)
    assert row["last_attempt_at"] == earlier
    assert row["next_attempt_at"] == earlier + timedelta(minutes=10)  # from when the call was


@given(
    delays=st.lists(st.integers(60, 10**6), min_size=1, max_size=20),
    max_n=st.integers(1, 50),
    n=st.integers(1, 60),
)
def test_policy_next_try_property(delays, max_n, n):
    policy = attempts.Policy(tuple(delays), max_n)
    at = datetime(2026, 7, 8, tzinfo=UTC)
    due = policy.next_try(n, at)
    if n >= max_n:
        assert due is None
    else:
        assert due == at + timedelta(seconds=delays[min(n, len(delays)) - 1])


# --- state attempt limits ---------------------------------------------------------------------


def test_limits_table_is_shared_with_sql():
    states, maxes, windows = attempt_limits.sql_params()
    assert dict(zip(states, zip(maxes, windows, strict=True), strict=True)) == attempt_limits.LIMITS
    assert {s: attempt_limits.LIMITS[s] for s in ("FL", "OK", "MD")} == {
        s: (3, 86400) for s in ("FL", "OK", "MD")
    }
    assert "TX" not in attempt_limits.LIMITS
    assert all(s in calling_hours.WINDOWS for s in attempt_limits.LIMITS)


@settings(max_examples=200)
@given(offsets=st.lists(st.integers(0, 3 * 86400), max_size=8), probe=st.integers(0, 4 * 86400))
def test_hold_until_matches_counting(offsets, probe):
    """hold_until is the first moment the rolling count drops below the limit."""
    base = datetime(2026, 7, 8, tzinfo=UTC)
    ats = [base + timedelta(seconds=o) for o in offsets]
    now = base + timedelta(seconds=probe)
    past = [a for a in ats if a <= now]
    limits = [(3, 86400)]

    def count(t: datetime) -> int:
        return sum(1 for a in past if t - timedelta(days=1) < a)

    hold = attempt_limits.hold_until(past, limits, now)
    if hold is None:
        assert count(now) < 3
    else:
        assert hold > now and count(hold) < 3
        assert count(hold - timedelta(seconds=1)) >= 3


async def test_florida_three_attempts_in_24h_texas_not(pool, database_url):
    org = make_org(database_url)
    (fl,) = bulk_insert(database_url, org.org_id, ["+13055550131"], state="FL")
    (tx,) = bulk_insert(database_url, org.org_id, ["+15125550132"], state="TX")
    t0 = datetime(2026, 7, 8, 11, 0, tzinfo=ET)  # a Wednesday; FL and TX (and El Paso) open
    clock = Clock(t0)
    queue = DialQueue(pool, clock=clock)
    # three tries each, 10 min and 1 h apart (the default schedule)
    for step in (timedelta(0), timedelta(minutes=10), timedelta(hours=1)):
        clock.at += step
        assert sorted(await claim_ids(queue, org.org_id)) == sorted([fl, tx])
        await no_answer(queue, org.org_id, fl)
        await no_answer(queue, org.org_id, tx)
    first = t0
    # Texas: next by the schedule (4 h after the third attempt); Florida: held by the limit
    tx_due = clock.at + timedelta(hours=4)
    clock.at = tx_due
    assert await claim_ids(queue, org.org_id) == [tx]
    await queue.release(org.org_id, "k", tx, None)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT l.*, q.queued_at FROM leads l JOIN dial_queue q "
                                 "USING (org_id, lead_id) WHERE l.lead_id = %s", (fl,))  # fmt: skip
        names = [d.name for d in cur.description]
        row = dict(zip(names, await cur.fetchone(), strict=True))
    shown = lead_json(row, clock(), True)
    assert shown["attempts"] == 3
    assert shown["callable_at"] == (first + timedelta(days=1)).astimezone(UTC).isoformat()
    clock.at = first + timedelta(days=1) - timedelta(seconds=1)
    assert fl not in await claim_ids(queue, org.org_id)
    clock.at = first + timedelta(days=1)
    assert fl in await claim_ids(queue, org.org_id)


async def test_two_leads_of_one_florida_number_share_the_count(pool, database_url):
    org = make_org(database_url)
    (a,) = bulk_insert(database_url, org.org_id, ["+13055550141"], state="FL")
    b = same_number_lead(database_url, a)
    t0 = datetime(2026, 7, 8, 10, 0, tzinfo=ET)
    clock = Clock(t0)
    queue = DialQueue(pool, clock=clock)
    # both leased at once: two calls about to happen on the number
    assert sorted(await claim_ids(queue, org.org_id)) == sorted([a, b])
    await no_answer(queue, org.org_id, a)
    await no_answer(queue, org.org_id, b)
    clock.at += timedelta(minutes=10)
    got = await claim_ids(queue, org.org_id)
    assert len(got) == 1  # one more call allowed on the number, not two
    await no_answer(queue, org.org_id, got[0])
    clock.at += timedelta(hours=5)  # both due by the schedule, the number at its limit
    assert await claim_ids(queue, org.org_id) == []
    nxt = fetch(database_url, "SELECT next_attempt_at FROM leads ORDER BY lead_id")
    assert all(r[0] >= t0 + timedelta(days=1) for r in nxt)
    clock.at = t0 + timedelta(days=1)
    assert len(await claim_ids(queue, org.org_id)) == 2  # both first attempts left the window

    # the off switch: a dialer that enforces the limits itself
    queue_off = DialQueue(pool, clock=clock, enforce_limits=False)
    org2 = make_org(database_url, "other")
    (c,) = bulk_insert(database_url, org2.org_id, ["+13055550142"], state="FL")
    for _ in range(4):
        assert await claim_ids(queue_off, org2.org_id) == [c]
        await no_answer(queue_off, org2.org_id, c)
        clock.at += timedelta(days=2)


async def _claim_race(pools, org: str, clock: Clock) -> list[str]:
    queues = [DialQueue(p, clock=clock) for p in pools]
    start = asyncio.Event()

    async def one(i: int) -> list[str]:
        await start.wait()
        return await claim_ids(queues[i % len(queues)], org, 10, owner=f"dialer-{i}")

    tasks = [asyncio.create_task(one(i)) for i in range(8)]
    await asyncio.sleep(0.05)
    start.set()
    return [lead for got in await asyncio.gather(*tasks) for lead in got]


async def test_eight_concurrent_claimers_never_exceed_a_limit(pool, database_url):
    """Eight claimers on two pools (as two nodes) race for one Florida number's eight leads."""
    org = make_org(database_url)
    (first,) = bulk_insert(database_url, org.org_id, ["+13055550151"], state="FL")
    leads = [first] + [same_number_lead(database_url, first) for _ in range(7)]
    t0 = datetime(2026, 7, 8, 10, 0, tzinfo=ET)
    clock = Clock(t0)
    queue = DialQueue(pool, clock=clock)
    # two attempts on the number: one call left today
    for _ in range(2):
        got = await claim_ids(queue, org.org_id, 1)
        await no_answer(queue, org.org_id, got[0])
    clock.at = t0 + timedelta(hours=6)
    async with AsyncConnectionPool(database_url, min_size=4, max_size=8, open=False) as other:
        await other.open(wait=True)
        won = await _claim_race([pool, other], org.org_id, clock)
        assert len(won) == 1 and won[0] in leads
        await no_answer(queue, org.org_id, won[0], owner=next(
            f"dialer-{i}" for i in range(8)
            if fetch(database_url, "SELECT lease_owner FROM dial_queue WHERE lead_id = %s",
                     won[0]) == [(f"dialer-{i}",)]))  # fmt: skip
        # at its limit now: none of eight racing claimers gets it
        clock.at += timedelta(hours=6)
        assert await _claim_race([pool, other], org.org_id, clock) == []
    assert fetch(database_url, "SELECT count(*) FROM dial_attempts") == [(3,)]


# --- callbacks and order ----------------------------------------------------------------------


async def test_callback_before_opening_is_claimable_at_opening_ahead_of_retries(pool, database_url):
    org = make_org(database_url)
    # Miami area code, no state: Eastern only, Florida's rule (08:00-20:00)
    cb, retry = bulk_insert(database_url, org.org_id, ["+13055550161", "+13055550162"])
    clock = Clock(datetime(2026, 7, 8, 14, 0, tzinfo=ET))
    queue = DialQueue(pool, clock=clock)
    assert sorted(await claim_ids(queue, org.org_id)) == sorted([cb, retry])
    await queue.attempt(org.org_id, "k", retry, Attempt("no_answer", clock() - timedelta(
        minutes=5)), None)  # fmt: skip
    asked = datetime(2026, 7, 9, 7, 30, tzinfo=ET)
    with pytest.raises(BadAttempt):
        await queue.complete(org.org_id, "k", cb, "qualified", None, callback_at=asked)
    row, _ = await queue.complete(org.org_id, "k", cb, "callback_requested", None,
                                  callback_at=asked)  # fmt: skip
    assert row["status"] == "callback_requested" and row["callback_at"] == asked
    opening = datetime(2026, 7, 9, 8, 0, tzinfo=ET)
    assert row["next_attempt_at"] == opening  # the answer says when
    clock.at = datetime(2026, 7, 9, 7, 59, tzinfo=ET)
    assert await claim_ids(queue, org.org_id) == []
    clock.at = opening
    assert await claim_ids(queue, org.org_id, 1) == [cb]  # the retry (due yesterday) waits
    assert await claim_ids(queue, org.org_id, 1) == [retry]
    # a released callback keeps its place and status
    released = await queue.release(org.org_id, "k", cb, None)
    assert released["status"] == "callback_requested"
    assert await claim_ids(queue, org.org_id, 1) == [cb]


async def test_order_new_first_then_retries_and_fifo(pool, database_url):
    org = make_org(database_url)
    now = datetime.now(UTC)
    clock = Clock(now)
    newest = DialQueue(pool, enforce_hours=False, clock=clock)
    (old,) = bulk_insert(database_url, org.org_id, ["+15125550171"], state="TX")
    assert await claim_ids(newest, org.org_id) == [old]
    called = now - timedelta(minutes=70)  # due 10 min later: an hour ago
    row = await newest.attempt(org.org_id, "k", old, Attempt("no_answer", called), None)
    assert row["next_attempt_at"] == now - timedelta(hours=1)
    fresh = bulk_insert(database_url, org.org_id, ["+15125550172", "+15125550173"], state="TX")
    got = await claim_ids(newest, org.org_id, 3)
    assert got == [fresh[1], fresh[0], old]  # speed to lead: newest first, then the retry
    for lead in got:
        await newest.release(org.org_id, "k", lead, None)
    fifo = DialQueue(pool, enforce_hours=False, clock=clock, order="fifo")
    assert await claim_ids(fifo, org.org_id, 3) == [old, fresh[0], fresh[1]]


async def test_suppressed_numbers_never_handed_out_whatever_their_schedule(pool, database_url):
    org = make_org(database_url)
    a, b = bulk_insert(database_url, org.org_id, ["+15125550181", "+15125550182"], state="TX")
    clock = Clock(datetime(2026, 7, 8, 10, 0, tzinfo=CT))
    queue = DialQueue(pool, clock=clock)
    await claim_ids(queue, org.org_id)
    await no_answer(queue, org.org_id, a)
    await queue.complete(org.org_id, "k", b, "callback_requested", None,
                         callback_at=clock() + timedelta(minutes=5))  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO suppressions (org_id, phone) VALUES (%s, %s), (%s, %s)",
                     (org.org_id, "+15125550181", org.org_id, "+15125550182"))  # fmt: skip
    clock.at += timedelta(hours=2)
    assert await claim_ids(queue, org.org_id) == []


async def test_eight_claimers_across_lanes_never_share_a_lead(pool, database_url):
    """New leads, retries due and callbacks due, drained by 8 concurrent claimers on two pools:
    every lead handed out exactly once."""
    org = make_org(database_url)
    ids = bulk_insert(database_url, org.org_id, [f"+1512555{i:04d}" for i in range(240)],
                      state="TX", batch=60)  # fmt: skip
    clock = Clock(datetime(2026, 7, 8, 12, 0, tzinfo=CT))
    queue = DialQueue(pool, clock=clock)
    # 60 retries and 20 callbacks, all due an hour later
    first = await claim_ids(queue, org.org_id, 80)
    for lead in first[:60]:
        await no_answer(queue, org.org_id, lead)
    for lead in first[60:]:
        await queue.complete(org.org_id, "k", lead, "callback_requested", None,
                             callback_at=clock() + timedelta(minutes=30))  # fmt: skip
    clock.at += timedelta(hours=1)
    handed: list[str] = []
    async with AsyncConnectionPool(database_url, min_size=4, max_size=8, open=False) as other:
        await other.open(wait=True)
        queues = [DialQueue(p, clock=clock) for p in (pool, other)]

        async def dialer(i: int) -> None:
            while got := await claim_ids(queues[i % 2], org.org_id, 7, owner=f"d{i}"):
                handed.extend(got)

        await asyncio.gather(*(dialer(i) for i in range(8)))
    assert sorted(handed) == sorted(ids)
