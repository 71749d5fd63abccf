"""The event log (docs/events.md): every event type comes from the action that causes it, once,
with its documented shape; a rolled-back change leaves no event; GET /v1/events and a lead's
history are tenant and mode safe (real Granian, Postgres, Redis)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from lead2inbound.store import events
from tests.support.sources import SECRET_KEY, create_source
from tests.support.stack import auth, fetch, lead, make_org, service_env

EVENT_KEYS = {"id", "type", "org", "created_at", "sandbox", "lead_id", "request_id", "data"}


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(
        service_env(database_url, redis_url, L2I_CALLING_HOURS="off", L2I_SECRET_KEY=SECRET_KEY)
    )


@pytest.fixture
def org(database_url):
    return make_org(database_url, "acme")


@pytest.fixture
def other(database_url):
    return make_org(database_url, "rival")


def call(service, method, path, key=None, **kw):
    headers = {**(auth(key) if key else {}), **kw.pop("headers", {})}
    return httpx.request(method, f"{service.url}{path}", headers=headers, timeout=30, **kw)


def history(service, key, lead_id):
    resp = call(service, "GET", f"/v1/leads/{lead_id}/events", key)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    for event in body["data"]:
        assert set(event) == EVENT_KEYS
        uuid.UUID(event["id"])
        assert event["lead_id"] == lead_id
    return body["data"]


def types(evts):
    return [e["type"] for e in evts]


def post(service, key, body, **headers):
    resp = call(service, "POST", "/v1/leads", key, json=body, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    return resp


def test_created_queued_then_claimed_released_claimed_completed(service, org):
    key = org.key("write,read,dial")
    resp = post(service, key, lead("(512) 555-0143", source="web"), **{"X-Request-Id": "req-abc-1"})
    lead_id = resp.json()["lead_id"]
    evts = history(service, key, lead_id)
    assert types(evts) == ["lead.created", "lead.queued"]
    created = evts[0]
    assert created["org"] == org.org_id and created["sandbox"] is False
    assert created["request_id"] == "req-abc-1"
    data = created["data"]
    assert data["lead_id"] == lead_id and data["status"] == "new" and data["eligible"] is True
    assert data["reasons"] == [] and data["checks"]["suppression"] == "clear"
    assert data["phone"] == "+15125550143" and data["source"] == "web"
    assert data["queued_at"] is not None
    # the data is the lead as GET shows it (callable_at aside: it depends on when it is read)
    shown = call(service, "GET", f"/v1/leads/{lead_id}", key).json()
    assert {k: v for k, v in shown.items() if k not in ("callable_at",)}.keys() == data.keys()

    claim = call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": 5}).json()["data"]
    assert [c["lead_id"] for c in claim] == [lead_id]
    assert call(service, "POST", f"/v1/dial-queue/{lead_id}/release", key).status_code == 200
    call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": 5})
    done = call(
        service, "POST", f"/v1/dial-queue/{lead_id}/complete", key, json={"outcome": "qualified"}
    )
    assert done.status_code == 200, done.text
    evts = history(service, key, lead_id)
    assert types(evts) == [
        "lead.created",
        "lead.queued",
        "lead.claimed",
        "lead.released",
        "lead.claimed",
        "lead.attempted",  # complete records the call as the last attempt (issue 26)
        "lead.completed",
    ]
    claimed, released, completed = evts[2], evts[3], evts[6]
    assert evts[5]["data"]["result"] == "answered" and evts[5]["data"]["attempts"] == 1
    assert claimed["data"]["status"] == "dialing" and claimed["data"]["lease_expires_at"]
    assert claimed["data"]["claimed_by"] == key.split("_")[2][:12] or claimed["data"]["claimed_by"]
    assert released["data"]["reason"] == "released" and released["data"]["status"] == "new"
    assert completed["data"]["outcome"] == "qualified"
    assert completed["data"]["status"] == "qualified"
    assert completed["request_id"] == done.headers["X-Request-Id"]


def test_ineligible_is_held_duplicate_is_recorded_on_the_holder(service, org):
    key = org.key("write,read")
    held = post(service, key, {"phone": "5125550100"}).json()  # no consent
    evts = history(service, key, held["lead_id"])
    assert types(evts) == ["lead.created", "lead.held"]
    assert evts[1]["data"]["eligible"] is False and "missing_consent" in evts[1]["data"]["reasons"]

    first = post(service, key, lead("5125550101")).json()
    again = post(service, key, lead("512-555-0101", external_id="x-9"))
    assert again.json()["lead_id"] == first["lead_id"]
    evts = history(service, key, first["lead_id"])
    assert types(evts) == ["lead.created", "lead.queued", "lead.duplicate"]
    dup = evts[2]
    assert dup["request_id"] == again.headers["X-Request-Id"]
    assert dup["data"]["duplicate"]["external_id"] == "x-9"
    assert dup["data"]["duplicate"]["phone_raw"] == "512-555-0101"

    # a batch with a phone twice: one created, one duplicate, one statement each
    resp = call(
        service,
        "POST",
        "/v1/leads/batch",
        key,
        json={"leads": [lead("5125550102"), lead("(512) 555-0102")]},
    )
    assert resp.status_code == 200, resp.text
    ids = {r["body"]["lead_id"] for r in resp.json()["results"]}
    assert len(ids) == 1
    assert types(history(service, key, ids.pop())) == [
        "lead.created",
        "lead.queued",
        "lead.duplicate",
    ]


def test_suppressions_and_expired_leases(service, org, database_url):
    key = org.key("write,read,dial,admin")
    a = post(service, key, lead("5125550111")).json()["lead_id"]
    b = post(service, key, lead("5125550112")).json()["lead_id"]
    resp = call(service, "POST", "/v1/suppressions", key, json={"phones": ["5125550111"]})
    assert resp.status_code == 200
    evts = history(service, key, a)
    assert types(evts) == ["lead.created", "lead.queued", "lead.suppressed"]
    assert evts[2]["data"]["status"] == "ineligible" and evts[2]["data"]["queued_at"] is None
    added = call(service, "GET", "/v1/events?type=suppression.added", key).json()["data"]
    assert [e["data"]["phone"] for e in added] == ["+15125550111"]
    assert added[0]["lead_id"] is None and added[0]["request_id"] == resp.headers["X-Request-Id"]
    assert call(service, "DELETE", "/v1/suppressions/%2B15125550111", key).status_code == 200
    removed = call(service, "GET", "/v1/events?type=suppression.", key).json()["data"]
    assert types(removed) == ["suppression.removed", "suppression.added"]  # newest first

    # a lease that expires is released by the next claim's sweep
    got = call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": 1}).json()["data"]
    assert [g["lead_id"] for g in got] == [b]
    fetch(
        database_url,
        "UPDATE dial_queue SET lease_expires_at = now() - interval '1 second' WHERE lead_id = %s"
        " RETURNING lead_id",
        b,
    )
    call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": 1})
    evts = history(service, key, b)
    assert types(evts)[:4] == ["lead.created", "lead.queued", "lead.claimed", "lead.released"]
    assert evts[3]["data"]["reason"] == "lease_expired"

    # do_not_call: completed, then the number's suppression
    call(service, "POST", f"/v1/dial-queue/{b}/complete", key, json={"outcome": "do_not_call"})
    assert types(history(service, key, b))[-1] == "lead.completed"
    latest = call(service, "GET", "/v1/events?limit=1", key).json()["data"][0]
    assert latest["type"] == "suppression.added"
    assert latest["data"] == {"phone": "+15125550112", "reason": "do_not_call"}


def test_a_refused_signed_vendor_post_is_source_lead_failed(service, org):
    admin = org.key("admin,read")
    secret = "partner-shared-secret-" + "q" * 20
    made = create_source(
        service.url,
        admin,
        name="partner",
        mapping={"phone": "/phone", "consent.consent_timestamp": "/at"},
        signature="typeform",
        secret=secret,
    )
    body = json.dumps({"phone": "12", "at": "2026-07-05T12:00:00Z"}).encode()
    mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    resp = httpx.post(
        f"{service.url}{made['ingest_url']}",
        content=body,
        headers={"Content-Type": "application/json", "Typeform-Signature": "sha256=" + mac},
    )
    assert resp.status_code == 422, resp.text
    # a bad signature is not recorded (anyone could send one)
    bad = {"Typeform-Signature": "sha256=x"}
    httpx.post(f"{service.url}{made['ingest_url']}", content=body, headers=bad)
    failed = call(service, "GET", "/v1/events?type=source.lead_failed", admin).json()["data"]
    assert len(failed) == 1
    assert failed[0]["data"]["source_id"] == made["source_id"]
    assert failed[0]["data"]["problem"]["code"] == resp.json()["code"] == "invalid_phone"
    assert failed[0]["request_id"] == resp.headers["X-Request-Id"]


def test_listing_filters_cursors_and_after(service, org):
    key = org.key("write,read")
    ids = [post(service, key, lead(f"51255502{i:02d}")).json()["lead_id"] for i in range(4)]
    page = call(service, "GET", "/v1/events?type=lead.created&limit=3", key).json()
    assert [e["lead_id"] for e in page["data"]] == ids[::-1][:3] and page["has_more"]
    rest = call(
        service, "GET", f"/v1/events?type=lead.created&starting_after={page['next_cursor']}", key
    ).json()
    assert [e["lead_id"] for e in rest["data"]] == [ids[0]] and not rest["has_more"]
    fam = call(service, "GET", "/v1/events?type=lead.*&limit=100", key).json()["data"]
    assert len(fam) == 8 and {e["type"] for e in fam} == {"lead.created", "lead.queued"}
    one = call(service, "GET", f"/v1/events?lead_id={ids[1]}", key).json()["data"]
    assert types(one) == ["lead.queued", "lead.created"]
    # after=: oldest first from an event on, then the last id is the next `after`
    first = fam[-1]["id"]
    after = call(service, "GET", f"/v1/events?after={first}&limit=3", key).json()
    assert [e["id"] for e in after["data"]] == [e["id"] for e in fam[::-1][1:4]]
    nxt = call(service, "GET", f"/v1/events?after={after['next_cursor']}&limit=100", key).json()
    assert [e["id"] for e in nxt["data"]] == [e["id"] for e in fam[::-1][4:]]
    assert not nxt["has_more"]
    for bad in ("type=Lead", "type=lead.created.x.y", "lead_id=nope", "after=nope", "limit=0"):
        resp = call(service, "GET", f"/v1/events?{bad}", key)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["errors"][0]["param"] == bad.split("=")[0]


def test_tenant_and_mode_isolation(service, org, other):
    mine, theirs = org.key("write,read"), other.key("write,read")
    sandbox = org.key("write,read", test=True)
    lead_id = post(service, mine, lead("5125550301")).json()["lead_id"]
    test_lead = post(service, sandbox, lead("5125550302")).json()["lead_id"]
    my_event = call(service, "GET", "/v1/events", mine).json()["data"][0]["id"]
    assert call(service, "GET", "/v1/events", theirs).json()["data"] == []
    assert call(service, "GET", f"/v1/leads/{lead_id}/events", theirs).status_code == 404
    for param in ("after", "starting_after"):
        resp = call(service, "GET", f"/v1/events?{param}={my_event}", theirs)
        assert resp.status_code == 422
    # a test key sees the sandbox's events only, a live key the live ones
    seen = call(service, "GET", "/v1/events?limit=100", sandbox).json()["data"]
    assert {e["lead_id"] for e in seen} == {test_lead} and all(e["sandbox"] for e in seen)
    live = call(service, "GET", "/v1/events?limit=100", mine).json()["data"]
    assert {e["lead_id"] for e in live} == {lead_id} and not any(e["sandbox"] for e in live)
    # a sandbox lead is never queued: created only
    assert types(history(service, sandbox, test_lead)) == ["lead.created"]
    # a cursor minted for one org is refused by another
    page = call(service, "GET", "/v1/events?limit=1", mine).json()
    resp = call(service, "GET", f"/v1/events?starting_after={page['next_cursor']}", theirs)
    assert resp.status_code == 422


def test_record_in_a_rolled_back_transaction_leaves_nothing(database_url, org):
    async def scenario():
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            async with conn.transaction():
                await events.record(conn, org_id=org.org_id, type="suppression.added", data={})
                await events.record_many(
                    conn, [events.Event(org.org_id, "suppression.removed", {"phone": "+1"})]
                )
            async with conn.transaction(force_rollback=True):
                await events.record(conn, org_id=org.org_id, type="suppression.added", data={})

    import asyncio

    asyncio.run(scenario())
    assert [r[0] for r in fetch(database_url, "SELECT type FROM events ORDER BY xact, seq")] == [
        "suppression.added",
        "suppression.removed",
    ]


def test_killing_the_writer_connection_mid_batch_leaves_no_lead_and_no_event(
    service, org, database_url
):
    key = org.key("write,read")
    with psycopg.connect(database_url) as blocker:
        # the writer's statement inserts the lead, then waits for this lock at its events insert
        blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        answer: dict[str, httpx.Response] = {}

        def send():
            answer["r"] = call(service, "POST", "/v1/leads", key, json=lead("5125550401"))

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and time.monotonic() < deadline:
            rows = fetch(
                database_url,
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                "%INSERT INTO phone_claims%",
            )
            pid = rows[0][0] if rows else None
            time.sleep(0.05)
        assert pid is not None, "the writer never reached the events insert"
        fetch(database_url, "SELECT pg_terminate_backend(%s)", pid)
        blocker.rollback()
    sender.join(30)
    assert answer["r"].status_code == 503, answer["r"].text
    assert fetch(database_url, "SELECT count(*) FROM leads")[0][0] == 0
    assert fetch(database_url, "SELECT count(*) FROM events")[0][0] == 0
    # the writer recovers: the next post is stored with its events
    lead_id = post(service, key, lead("5125550401")).json()["lead_id"]
    assert types(history(service, key, lead_id)) == ["lead.created", "lead.queued"]


def test_retention_purges_old_events_in_batches_and_keeps_the_rest(database_url, org):
    from psycopg_pool import AsyncConnectionPool

    from lead2inbound.store.retention import EventRetention

    fetch(
        database_url,
        "INSERT INTO events (org_id, type, data, created_at)"
        " SELECT %s, 'suppression.added', '{}', now() - make_interval(days => 91)"
        " FROM generate_series(1, 25) RETURNING 1",
        org.org_id,
    )
    fetch(
        database_url,
        "INSERT INTO events (org_id, type, data) SELECT %s, 'suppression.removed', '{}'"
        " FROM generate_series(1, 3) RETURNING 1",
        org.org_id,
    )

    async def purge():
        async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
            loop = EventRetention(pool, 90)
            loop.batch = 10
            return [await loop.round() for _ in range(4)]

    import asyncio

    assert asyncio.run(purge()) == [10, 10, 5, 0]
    assert fetch(database_url, "SELECT type, count(*) FROM events GROUP BY type") == [
        ("suppression.removed", 3)
    ]
