"""Calling hours: the table, the zone lookup, and the claim query with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dialing import calling_hours
from lead2inbound.dialing.queue import DialQueue
from tests.support.queue import bulk_insert
from tests.support.stack import fetch, make_org

ET, CT, MT = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago"), ZoneInfo("America/Denver")


def test_locate_state_then_area_code():
    assert calling_hours.locate("fl", "+13055550100") == (
        ("America/New_York", "America/Chicago"),
        ("US", "FL"),
    )
    assert calling_hours.locate("TX", "+12125550100")[1] == ("US", "TX")
    # no state: the area code's zones, and its state's rule when the area code is in one state
    assert calling_hours.locate(None, "+12125550100") == (("America/New_York",), ("US",))
    assert calling_hours.locate(None, "+13055550100") == (("America/New_York",), ("US", "FL"))
    assert calling_hours.locate(None, "+18505550100")[0] == ("America/Chicago", "America/New_York")
    # nothing known: every US zone
    assert calling_hours.locate(None, "+442071838750") == (calling_hours.ANY_US, ("US",))


def test_every_zone_is_known():
    from lead2inbound.dialing.area_codes import AREA_CODES

    zones = {z for zs in calling_hours.STATE_ZONES.values() for z in zs}
    zones |= {z for zs, _ in AREA_CODES.values() for z in zs} | set(calling_hours.ANY_US)
    for zone in zones:
        ZoneInfo(zone)


def test_table_rules():
    fl = (("America/New_York",), ("US", "FL"))
    assert calling_hours.is_callable(*fl, datetime(2026, 7, 8, 19, 59, tzinfo=ET))
    assert not calling_hours.is_callable(*fl, datetime(2026, 7, 8, 20, 0, tzinfo=ET))
    assert not calling_hours.is_callable(*fl, datetime(2026, 7, 8, 7, 59, tzinfo=ET))
    fed = (("America/New_York",), ("US",))
    assert calling_hours.is_callable(*fed, datetime(2026, 7, 8, 20, 30, tzinfo=ET))
    assert not calling_hours.is_callable(*fed, datetime(2026, 7, 8, 21, 0, tzinfo=ET))
    tx = (("America/Chicago",), ("US", "TX"))
    sunday = datetime(2026, 7, 12, 11, 59, tzinfo=CT)
    assert sunday.weekday() == 6
    assert not calling_hours.is_callable(*tx, sunday)
    assert calling_hours.is_callable(*tx, sunday.replace(hour=12, minute=0))
    assert not calling_hours.is_callable(*tx, datetime(2026, 7, 11, 8, 30, tzinfo=CT))
    assert calling_hours.is_callable(*tx, datetime(2026, 7, 11, 9, 0, tzinfo=CT))
    # next_callable: a Florida lead (both zones) at 20:30 Eastern opens at 8:00 Central
    both = calling_hours.locate("FL", "+13055550100")
    at = datetime(2026, 7, 8, 20, 30, tzinfo=ET)
    assert calling_hours.next_callable(*both, at) == datetime(2026, 7, 9, 8, 0, tzinfo=CT)
    assert calling_hours.next_callable(*both, at.replace(hour=12)) == at.replace(hour=12)


def test_sql_params_cover_the_table():
    rules, dows, starts, ends = calling_hours.windows_sql_params()
    rows = set(zip(rules, dows, starts, ends, strict=True))
    assert ("TX", 7, 12 * 3600, 21 * 3600) in rows and ("TX", 6, 9 * 3600, 21 * 3600) in rows
    assert ("FL", 3, 8 * 3600, 20 * 3600) in rows
    assert len([r for r in rows if r[0] == "US"]) == 7


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture
async def pool(database_url):
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as p:
        await p.open(wait=True)
        yield p


async def test_claims_follow_calling_hours(pool, database_url):
    org = make_org(database_url)
    fl, tx, ny, la = bulk_insert(database_url, org.org_id, ["+13055550101"], state="FL") + \
        bulk_insert(database_url, org.org_id, ["+15125550102"], state="TX") + \
        bulk_insert(database_url, org.org_id, ["+12125550103"]) + \
        bulk_insert(database_url, org.org_id, ["+12135550104"])  # fmt: skip
    rows = fetch(
        database_url, "SELECT lead_id::text, timezone, timezones, calling_rules FROM leads"
    )
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id[ny] == ("America/New_York", ["America/New_York"], ["US"])
    assert by_id[la][0] == "America/Los_Angeles"
    assert by_id[fl][2] == ["US", "FL"] and by_id[tx][2] == ["US", "TX"]

    clock = Clock(datetime(2026, 7, 8, 20, 30, tzinfo=ET))  # a Wednesday, 20:30 Eastern
    queue = DialQueue(pool, clock=clock)

    async def claimable() -> set[str]:
        # claim and put straight back, so each check sees the whole queue
        got = await queue.claim(org.org_id, "k", 100, 60)
        ids = {str(r["lead_id"]) for r in got}
        for lead_id in ids:
            await queue.release(org.org_id, "k", lead_id, None)
        return ids

    # Florida at 20:30 local: closed; New York (federal) 20:30: open; LA 17:30: open
    assert await claimable() == {tx, ny, la}
    clock.at = datetime(2026, 7, 9, 7, 30, tzinfo=ET)  # 7:30 ET: nobody
    assert await claimable() == set()
    clock.at = datetime(2026, 7, 9, 8, 30, tzinfo=ET)  # 8:30 ET = 7:30 CT: Florida's CT part shut
    assert await claimable() == {ny}
    clock.at = datetime(2026, 7, 9, 9, 0, tzinfo=ET)  # 8:00 CT: Florida opens, Texas not (9 CT)
    assert await claimable() == {ny, fl}
    clock.at = datetime(2026, 7, 9, 10, 0, tzinfo=CT)  # 10 CT / 9 MT / 8 PT
    assert await claimable() == {ny, fl, tx, la}

    # Texas on Sunday: 10:00 Central is closed, 12:00 in both its zones opens
    clock.at = datetime(2026, 7, 12, 10, 0, tzinfo=CT)
    assert tx not in await claimable()
    clock.at = datetime(2026, 7, 12, 12, 30, tzinfo=CT)  # 11:30 MT: still closed in El Paso
    assert tx not in await claimable()
    clock.at = datetime(2026, 7, 12, 12, 0, tzinfo=MT)
    assert tx in await claimable()

    # the off switch
    clock.at = datetime(2026, 7, 9, 3, 0, tzinfo=ET)
    assert await claimable() == set()
    queue.enforce_hours = False
    assert await claimable() == {ny, fl, tx, la}


async def test_rescrub_hook_at_claim_time(pool, database_url):
    """The claim hands its locked candidates to the pre-dial hook and leases only what it keeps
    (the app wires dnc.rescrub_due; tests/test_dnc_rescrub.py covers that function itself)."""
    org = make_org(database_url)
    ids = bulk_insert(database_url, org.org_id, [f"+1212555{i:04d}" for i in range(5)])
    seen: list[list[str]] = []

    async def fake_rescrub(conn, org_id: str, lead_ids: list[str]) -> list[str]:
        assert org_id == org.org_id
        seen.append(list(lead_ids))
        await conn.execute("DELETE FROM dial_queue WHERE lead_id = %s", (ids[1],))
        return [i for i in lead_ids if i != ids[1]]

    queue = DialQueue(pool, enforce_hours=False, rescrub=fake_rescrub, order="fifo")
    got = [str(r["lead_id"]) for r in await queue.claim(org.org_id, "k", 10, 60)]
    assert seen == [ids]
    assert got == [ids[0], *ids[2:]]
    assert fetch(database_url, "SELECT count(*) FROM dial_queue") == [(4,)]
