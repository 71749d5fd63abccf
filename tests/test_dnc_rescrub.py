"""The pre-dial hook `rescrub_due` (31 days) and the re-scrubber's coordination, in process."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dnc import DncService, Rescrubber, rescrub_due
from lead2inbound.dnc.crypto import SecretBox
from lead2inbound.dnc.store import connect, rekey
from lead2inbound.ops.config import Config
from tests.fakes import tcpa
from tests.fakes.tcpa import TcpaFake
from tests.support.stack import fetch, make_org

SECRET = "rescrub-secret-" + "s" * 40


def add_lead(database_url, org_id, phone, *, scrubbed_days_ago, status="new", queue=True):
    lead_id = str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, "
            "phone_valid, status, eligible, reasons, checks, last_scrubbed_at) VALUES "
            "(%s, %s, false, 'k', %s, %s, true, %s, %s, %s, '{\"dnc\": \"clear\"}', "
            " CASE WHEN %s::int IS NULL THEN NULL "
            "      ELSE now() - make_interval(days => %s::int) END)",
            (
                org_id,
                lead_id,
                phone,
                phone,
                status,
                status == "new",
                [] if status == "new" else ["dnc_unavailable"],
                scrubbed_days_ago,
                scrubbed_days_ago,
            ),
        )
        if queue:
            conn.execute(
                "INSERT INTO dial_queue (org_id, lead_id, phone) VALUES (%s, %s, %s)",
                (org_id, lead_id, phone),
            )
    return lead_id


@pytest.fixture
def fake():
    f = TcpaFake().start()
    f.lists = {"5125550402": ["dnc_complainers"]}
    yield f
    f.stop()


@pytest.fixture
def org(database_url, fake):
    org = make_org(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        connect(
            conn,
            SecretBox(SECRET),
            org_id=org.org_id,
            provider="tcpa-litigator-list",
            credentials={"username": tcpa.USERNAME, "password": tcpa.PASSWORD},
            base_url=fake.url,
            timeout_ms=300,
            options={},
        )
    return org


async def test_rescrub_due_before_dialing(database_url, fake, org):
    old_clear = add_lead(database_url, org.org_id, "+15125550401", scrubbed_days_ago=32)
    old_hit = add_lead(database_url, org.org_id, "+15125550402", scrubbed_days_ago=40)
    fresh = add_lead(database_url, org.org_id, "+15125550403", scrubbed_days_ago=30)
    never = add_lead(database_url, org.org_id, "+15125550404", scrubbed_days_ago=None)
    old_down = add_lead(database_url, org.org_id, "+15125550405", scrubbed_days_ago=35)
    cfg = Config(secret_key=SECRET, dnc_cache_ttl_s=60)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
        dnc = DncService(pool, cfg)
        ids = [old_clear, old_hit, fresh, never]
        # the claim's own transaction, candidates locked as a claim would lock them
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT 1 FROM dial_queue WHERE lead_id = ANY(%s::uuid[]) FOR UPDATE SKIP LOCKED",
                (ids,),
            )
            claimable = await rescrub_due(conn, dnc, org.org_id, ids)
        assert claimable == [old_clear, fresh, never]
        assert fake.hits == 3  # the fresh lead (30 days) was not scrubbed
        fake.stop()
        assert await rescrub_due(pool, dnc, org.org_id, [old_down]) == []
        await dnc.aclose()
    rows = dict(
        fetch(
            database_url,
            "SELECT phone, status || ':' || array_to_string(reasons, ',') "
            "|| ':' || (checks->>'dnc') || ':' || (last_scrubbed_at > now() - "
            "interval '1 minute')::text FROM leads",
        )
    )
    assert rows == {
        "+15125550401": "new::clear:true",
        "+15125550402": "ineligible:dnc_hit:dnc_hit:true",
        "+15125550403": "new::clear:false",
        "+15125550404": "new::clear:true",
        "+15125550405": "pending_scrub:dnc_unavailable:unavailable:false",
    }
    left = {str(r[0]) for r in fetch(database_url, "SELECT lead_id FROM dial_queue")}
    assert left == {old_clear, fresh, never}
    assert fetch(database_url, "SELECT count(*) FROM dnc_scrubs") == [(3,)]
    # the event log: one lead.dnc_scrubbed per re-scrub (checks.dnc its answer), a hit held
    scrubbed = fetch(
        database_url,
        "SELECT lead_id::text, type, data->'checks'->>'dnc' FROM events ORDER BY xact, seq",
    )
    assert scrubbed == [
        (old_clear, "lead.dnc_scrubbed", "clear"),
        (old_hit, "lead.dnc_scrubbed", "dnc_hit"),
        (never, "lead.dnc_scrubbed", "clear"),
        (old_hit, "lead.held", "dnc_hit"),
        (old_down, "lead.dnc_scrubbed", "unavailable"),
    ]


async def test_rescrubbers_on_two_workers_never_double_scrub(database_url, fake, org):
    ids = [
        add_lead(
            database_url,
            org.org_id,
            f"+1512555{i:04d}",
            scrubbed_days_ago=None,
            status="pending_scrub",
            queue=False,
        )
        for i in range(500, 540)
    ]
    fake.timeout_delay_s = 0.0
    cfg = Config(secret_key=SECRET)
    async with AsyncConnectionPool(database_url, min_size=2, max_size=6, open=False) as pool:
        dncs = [DncService(pool, cfg) for _ in range(2)]
        workers = [Rescrubber(pool, d, interval_s=0.05, batch=7, max_backoff_s=1) for d in dncs]
        for _ in range(6):
            await asyncio.gather(*(w.round() for w in workers))
        for d in dncs:
            await d.aclose()
    assert fake.hits == len(ids)  # each pending lead scrubbed exactly once
    assert fetch(database_url, "SELECT status, count(*) FROM leads GROUP BY status") == [
        ("new", 40)
    ]
    assert fetch(database_url, "SELECT count(*) FROM dial_queue") == [(40,)]
    # each settled lead: one lead.dnc_scrubbed, then one lead.queued
    assert fetch(database_url, "SELECT type, count(*) FROM events GROUP BY type ORDER BY 1") == [
        ("lead.dnc_scrubbed", 40),
        ("lead.queued", 40),
    ]


def test_rekey_moves_credentials_to_the_new_key(database_url, org):
    new_box = SecretBox("brand-new-secret-" + "n" * 40, SECRET)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert rekey(conn, new_box) == (1, 0)
        assert rekey(conn, new_box) == (0, 1)
    assert fetch(database_url, "SELECT key_id FROM dnc_connections") == [(new_box.current_id,)]
