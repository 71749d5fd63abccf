"""Read-back, dial queue, suppressions and key management over HTTP (real Granian, PG, Redis)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
import pytest

from tests.support.queue import bulk_insert
from tests.support.stack import auth, fetch, lead, make_org, service_env

PROBLEM = "application/problem+json"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    # The server runs on the real clock: hours are tested with an injected clock elsewhere. The
    # claim-order assertions here are oldest first (L2I_QUEUE_ORDER=fifo); the default order
    # (newest first) is tested in test_dial_attempts*.py.
    env = service_env(database_url, redis_url, L2I_CALLING_HOURS="off", L2I_QUEUE_ORDER="fifo")
    return server_factory(env)


@pytest.fixture
def org(database_url):
    return make_org(database_url, "acme")


@pytest.fixture
def other(database_url):
    return make_org(database_url, "rival")


def call(service, method, path, key=None, **kw):
    headers = {**(auth(key) if key else {}), **kw.pop("headers", {})}
    return httpx.request(method, f"{service.url}{path}", headers=headers, timeout=20, **kw)


def problem(resp, status, code=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    if code:
        assert body["code"] == code, body
    return body


# --- read-back ------------------------------------------------------------------------------


def test_read_back_full_lead(service, org):
    key = org.key("write,read")
    body = lead("(512) 555-0143", state="TX", source="web", first_name="Ann",
                attribution={"utm_source": "g"}, custom_fields={"plan": "gold"})  # fmt: skip
    created = call(service, "POST", "/v1/leads", key, json=body).json()
    got = call(service, "GET", f"/v1/leads/{created['lead_id']}", key)
    assert got.status_code == 200, got.text
    item = got.json()
    assert item["lead_id"] == created["lead_id"]
    assert item["phone"] == "+15125550143" and item["phone_raw"] == "(512) 555-0143"
    assert item["status"] == "new" and item["eligible"] is True and item["reasons"] == []
    assert item["consent"] == {"consent_timestamp": "2026-07-05T12:00:00Z"}
    assert item["attribution"] == {"utm_source": "g"}
    assert item["custom_fields"] == {"plan": "gold"}
    assert item["checks"]["suppression"] == "clear"
    assert item["timezone"] == "America/Chicago"
    assert item["timezones"] == ["America/Chicago", "America/Denver"]
    assert item["callable_at"] is not None and item["queued_at"] is not None
    assert item["created_at"] and item["updated_at"]
    problem(call(service, "GET", "/v1/leads/not-a-uuid", key), 404, "not_found")
    problem(call(service, "GET", f"/v1/leads/{uuid.uuid4()}", key), 404, "not_found")


def test_list_filters_and_errors(service, org):
    key = org.key("write,read")
    for i, src in enumerate(["a", "b", "a"]):
        assert call(service, "POST", "/v1/leads", key,
                    json=lead(f"512555020{i}", source=src)).status_code == 201  # fmt: skip
    call(service, "POST", "/v1/leads", key, json={"phone": "5125550209"})  # ineligible
    page = call(service, "GET", "/v1/leads?limit=100", key).json()
    assert len(page["data"]) == 4 and page["has_more"] is False and page["next_cursor"] is None
    stamps = [(d["created_at"], d["lead_id"]) for d in page["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {
        d["source"] for d in call(service, "GET", "/v1/leads?source=a", key).json()["data"]
    } == {"a"}
    only = call(service, "GET", "/v1/leads", key, params={"phone": "(512) 555-0201"}).json()["data"]
    assert [d["phone"] for d in only] == ["+15125550201"]
    inel = call(service, "GET", "/v1/leads?status=ineligible", key).json()["data"]
    assert [d["reasons"] for d in inel] == [["missing_consent"]]
    first = page["data"][-1]["created_at"]
    after = call(service, "GET", "/v1/leads", key, params={"created_after": first}).json()["data"]
    assert len(after) < 4
    assert call(service, "GET", "/v1/leads", key,
                params={"created_before": "2000-01-01T00:00:00Z"}).json()["data"] == []  # fmt: skip
    assert len(call(service, "GET", "/v1/leads", key).json()["data"]) == 4  # default 10
    for bad in ("0", "101", "x"):
        body = problem(call(service, "GET", f"/v1/leads?limit={bad}", key), 422)
        assert body["errors"][0]["param"] == "limit"
    body = problem(call(service, "GET", "/v1/leads?created_after=yesterday", key), 422)
    assert body["errors"][0]["param"] == "created_after"
    body = problem(call(service, "GET", "/v1/leads?starting_after=garbage", key), 422)
    assert body["errors"][0]["param"] == "starting_after"
    # Stripe style: a plain lead id of the caller's org
    after_id = call(service, "GET", f"/v1/leads?starting_after={page['data'][1]['lead_id']}", key)
    assert [d["lead_id"] for d in after_id.json()["data"]] == [
        d["lead_id"] for d in page["data"][2:]
    ]


async def test_pagination_250_by_7_while_leads_arrive(service, org, database_url):
    key = org.key("write,read")
    ids = bulk_insert(database_url, org.org_id, [f"+1512300{i:04d}" for i in range(200)], batch=40)
    async with httpx.AsyncClient(base_url=service.url, headers=auth(key), timeout=20) as client:
        answers = await asyncio.gather(
            *[client.post("/v1/leads", json=lead(f"+1512301{i:04d}")) for i in range(50)]
        )
        assert all(a.status_code == 201 for a in answers)
        ids += [a.json()["lead_id"] for a in answers]
        stop = asyncio.Event()

        async def arrive():
            i = 0
            while not stop.is_set():
                await client.post("/v1/leads", json=lead(f"+1512302{i:04d}"))
                i += 1

        arriving = asyncio.create_task(arrive())
        seen: list[dict] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 7, **({"starting_after": cursor} if cursor else {})}
            page = (await client.get("/v1/leads", params=params)).json()
            seen.extend(page["data"])
            pages += 1
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        stop.set()
        await arriving
    original = [d for d in seen if d["lead_id"] in set(ids)]
    assert len(original) == 250 and len({d["lead_id"] for d in original}) == 250
    keys = [(d["created_at"], d["lead_id"]) for d in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    assert pages >= 36


# --- the dial queue -------------------------------------------------------------------------


def test_claim_complete_release(service, org, database_url):
    writer, dialer = org.key("write,read"), org.key("dial,read")
    made = [call(service, "POST", "/v1/leads", writer, json=lead(f"51255503{i:02d}")).json()
            for i in range(4)]  # fmt: skip
    got = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 3,
               "lease_seconds": 60})  # fmt: skip
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert [d["lead_id"] for d in data] == [m["lead_id"] for m in made[:3]]  # FIFO
    assert all(d["status"] == "dialing" and d["lease_expires_at"] and d["lease_id"] for d in data)
    a, b, c = data
    done = call(service, "POST", f"/v1/dial-queue/{a['lead_id']}/complete", dialer,
                json={"outcome": "qualified"})  # fmt: skip
    assert done.status_code == 200 and done.json()["status"] == "qualified"
    problem(call(service, "POST", f"/v1/dial-queue/{a['lead_id']}/complete", dialer,
                 json={"outcome": "qualified"}), 409, "not_leased")  # fmt: skip
    body = problem(call(service, "POST", f"/v1/dial-queue/{b['lead_id']}/complete", dialer,
                        json={"outcome": "maybe"}), 422)  # fmt: skip
    assert body["errors"][0]["param"] == "outcome"
    # another key of the org without the lease id is not the holder; with it, it is
    other_dialer = org.key("dial")
    problem(call(service, "POST", f"/v1/dial-queue/{b['lead_id']}/complete", other_dialer,
                 json={"outcome": "voicemail"}), 409)  # fmt: skip
    ok = call(service, "POST", f"/v1/dial-queue/{b['lead_id']}/complete", other_dialer,
              json={"outcome": "voicemail", "lease_id": b["lease_id"]})  # fmt: skip
    assert ok.status_code == 200
    rel = call(service, "POST", f"/v1/dial-queue/{c['lead_id']}/release", dialer)
    assert rel.status_code == 200 and rel.json()["status"] == "new"
    assert rel.json()["lease_expires_at"] is None
    again = call(service, "POST", "/v1/dial-queue/claim", dialer, json={}).json()["data"]
    assert [d["lead_id"] for d in again] == [c["lead_id"], made[3]["lead_id"]]
    for bad in ({"limit": 0}, {"limit": 101}, {"lease_seconds": 9}, {"lease_seconds": 3601},
                {"limit": "x"}, {"nope": 1}):  # fmt: skip
        problem(call(service, "POST", "/v1/dial-queue/claim", dialer, json=bad), 422)
    problem(call(service, "POST", f"/v1/dial-queue/{uuid.uuid4()}/release", dialer), 404)

    # do_not_call: the number joins the suppression list
    dnc = call(service, "POST", f"/v1/dial-queue/{c['lead_id']}/complete", dialer,
               json={"outcome": "do_not_call"})  # fmt: skip
    assert dnc.status_code == 200 and dnc.json()["status"] == "do_not_call"
    assert fetch(database_url, "SELECT phone, reason FROM suppressions") == [
        ("+15125550302", "do_not_call")
    ]
    assert call(service, "POST", "/v1/leads", writer,
                json=lead("5125550302")).json()["outcome"] == "duplicate"  # fmt: skip


def test_sandbox_leads_never_claimable(service, org, database_url):
    sandbox_writer = org.key("write", test=True)
    assert (
        call(service, "POST", "/v1/leads", sandbox_writer, json=lead("5125550400")).status_code
        == 201
    )
    assert call(service, "POST", "/v1/dial-queue/claim", org.key("dial")).json() == {"data": []}
    assert call(service, "POST", "/v1/dial-queue/claim", org.key("dial", test=True)).json() == {
        "data": []
    }
    assert fetch(database_url, "SELECT count(*) FROM dial_queue") == [(0,)]


def test_expired_lease_returns_to_queue(service, org, database_url):
    writer, dialer = org.key("write"), org.key("dial")
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550410")).json()
    first = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"lease_seconds": 10})
    assert [d["lead_id"] for d in first.json()["data"]] == [made["lead_id"]]
    assert call(service, "POST", "/v1/dial-queue/claim", dialer).json()["data"] == []
    fetch(
        database_url, "UPDATE dial_queue SET lease_expires_at = now() - interval '1 s' RETURNING 1"
    )
    second = call(service, "POST", "/v1/dial-queue/claim", dialer).json()["data"]
    assert [d["lead_id"] for d in second] == [made["lead_id"]]
    # the first claimer's lease is gone: its completion is refused
    problem(call(service, "POST", f"/v1/dial-queue/{made['lead_id']}/complete", dialer,
                 json={"outcome": "qualified",
                       "lease_id": first.json()["data"][0]["lease_id"]}), 409)  # fmt: skip


# --- suppressions ---------------------------------------------------------------------------


def test_suppressions(service, org, database_url):
    writer, reader, admin = org.key("write"), org.key("read"), org.key("admin")
    queued = call(service, "POST", "/v1/leads", writer, json=lead("5125550500")).json()
    resp = call(service, "POST", "/v1/suppressions", writer,
                json={"phones": ["(512) 555-0500", "+15125550501", "12", "5125550501"],
                      "reason": "asked"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["added"] == ["+15125550500", "+15125550501"] and out["already_present"] == []
    assert [e["index"] for e in out["errors"]] == [2] and out["errors"][0][
        "code"
    ] == "invalid_phone"
    again = call(service, "POST", "/v1/suppressions", writer, json={"phones": ["5125550500"]})
    assert again.json()["already_present"] == ["+15125550500"] and again.json()["added"] == []
    # the queued lead left the queue in the same transaction
    got = call(service, "GET", f"/v1/leads/{queued['lead_id']}", reader).json()
    assert got["status"] == "ineligible" and got["reasons"] == ["suppressed"]
    assert got["checks"]["suppression"] == "hit" and got["callable_at"] is None
    assert fetch(database_url, "SELECT count(*) FROM dial_queue") == [(0,)]
    # later leads are ineligible
    later = call(service, "POST", "/v1/leads", writer, json=lead("512-555-0501")).json()
    assert later["reasons"] == ["suppressed"]
    problem(call(service, "POST", "/v1/suppressions", writer, json={"phones": ["12"]}), 422)
    problem(call(service, "POST", "/v1/suppressions", writer, json={"phones": ["1"] * 1001}), 422)
    problem(call(service, "POST", "/v1/suppressions", writer, json={"phones": []}), 422)

    listed = call(service, "GET", "/v1/suppressions?limit=1", reader).json()
    assert listed["has_more"] is True and len(listed["data"]) == 1
    rest = call(service, "GET", "/v1/suppressions", reader,
                params={"starting_after": listed["next_cursor"]}).json()  # fmt: skip
    assert {d["phone"] for d in listed["data"] + rest["data"]} == {"+15125550500", "+15125550501"}
    one = call(service, "GET", "/v1/suppressions/%2B1%20512%20555%200500", reader)
    assert one.status_code == 200 and one.json()["reason"] == "asked"

    problem(call(service, "DELETE", "/v1/suppressions/5125550500", writer), 403)
    gone = call(service, "DELETE", "/v1/suppressions/%28512%29%20555-0500", admin)
    assert gone.status_code == 200 and gone.json() == {"phone": "+15125550500", "deleted": True}
    problem(call(service, "DELETE", "/v1/suppressions/5125550500", admin), 404)
    problem(call(service, "GET", "/v1/suppressions/5125550500", reader), 404)


def _race_end_state(database_url: str, org_id: str, phone: str) -> str:
    """The end state of a writer racing a suppression, made by hand: the number suppressed and
    a lead for it queued and eligible (written as if the suppression were not there yet)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM suppressions WHERE org_id = %s AND phone = %s", (org_id, phone))
        (lead_id,) = bulk_insert(database_url, org_id, [phone])
        conn.execute("INSERT INTO suppressions (org_id, phone) VALUES (%s, %s)", (org_id, phone))
    assert fetch(database_url, "SELECT count(*) FROM dial_queue WHERE phone = %s", phone) == [(1,)]
    return lead_id


def _assert_taken_out(database_url: str, lead_id: str, within_s: float = 15) -> None:
    query = "SELECT count(*) FROM dial_queue WHERE lead_id = %s"
    deadline = time.monotonic() + within_s
    while fetch(database_url, query, lead_id) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fetch(database_url, query, lead_id) == [(0,)]
    status, reasons = fetch(
        database_url, "SELECT status, reasons FROM leads WHERE lead_id = %s", lead_id
    )[0]
    assert status == "ineligible" and "suppressed" in reasons


def test_suppression_takes_out_a_lead_that_raced_it(service, org, database_url):
    """A lead whose writer transaction raced the suppression of its number (each statement
    missed the other's commit) ends up queued and eligible beside the suppression; the service
    takes it out a few seconds after the suppression (suppressions.RECHECK_AFTER_S)."""
    writer = org.key("write")
    resp = call(service, "POST", "/v1/suppressions", writer, json={"phones": ["5125550600"]})
    assert resp.status_code == 200, resp.text
    _assert_taken_out(database_url, _race_end_state(database_url, org.org_id, "+15125550600"))


def test_suppressions_import_takes_out_a_lead_that_raced_it(org, database_url, redis_url, tmp_path):
    """The same for `l2i suppressions import`: it checks the queue once more before it ends."""
    from tests.support.stack import PEPPER

    path = tmp_path / "optouts.txt"
    path.write_text("5125550700\n")
    env = {"L2I_DATABASE_URL": database_url, "L2I_REDIS_URL": redis_url, "L2I_KEY_PEPPER": PEPPER}
    cmd = [sys.executable, "-m", "lead2inbound.cli", "suppressions", "import", str(path),
           "--org", org.org_id]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while fetch(database_url, "SELECT count(*) FROM suppressions") != [(1,)]:
            assert time.monotonic() < deadline and proc.poll() is None, "the import never committed"
            time.sleep(0.05)
        lead_id = _race_end_state(database_url, org.org_id, "+15125550700")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "1 queued lead" in out, out
    _assert_taken_out(database_url, lead_id, within_s=0)


def test_suppressions_import_cli(org, database_url, redis_url, tmp_path):
    from tests.support.stack import PEPPER

    ids = bulk_insert(database_url, org.org_id, ["+15125550600", "+15125550601"])
    path = tmp_path / "optouts.txt"
    path.write_text("(512) 555-0600\n\n+1 512 555 0602\nnot a phone\n12\n")
    env = {"L2I_DATABASE_URL": database_url, "L2I_REDIS_URL": redis_url, "L2I_KEY_PEPPER": PEPPER}
    cmd = [sys.executable, "-m", "lead2inbound.cli", "suppressions", "import", str(path),
           "--org", org.org_id]  # fmt: skip
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    assert "line 4" in bad.stderr and "line 5" in bad.stderr, bad.stderr
    assert fetch(database_url, "SELECT count(*) FROM suppressions") == [(0,)], (
        "nothing half-applied"
    )
    path.write_text("(512) 555-0600\n\n+1 512 555 0602\n5125550600\n")
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "2 added" in ok.stdout and "1 queued lead" in ok.stdout, ok.stdout
    assert sorted(fetch(database_url, "SELECT phone FROM suppressions")) == [
        ("+15125550600",),
        ("+15125550602",),
    ]
    assert fetch(database_url, "SELECT lead_id::text FROM dial_queue") == [(ids[1],)]


def _last_analyze(database_url: str) -> object:
    return fetch(
        database_url,
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'suppressions'",
    )[0][0]


def test_a_bulk_suppressions_import_analyzes_the_list(org, database_url, redis_url, tmp_path):
    """A big import is followed by an ANALYZE (manual: `last_analyze`, not autovacuum's), so
    the writer's cached plans of the suppression check are made again over the list as it now
    is; a small one is not."""
    from lead2inbound.store.suppressions import ANALYZE_AFTER_ROWS
    from tests.support.stack import PEPPER

    env = {"L2I_DATABASE_URL": database_url, "L2I_REDIS_URL": redis_url, "L2I_KEY_PEPPER": PEPPER}
    path = tmp_path / "optouts.txt"
    cmd = [sys.executable, "-m", "lead2inbound.cli", "suppressions", "import", str(path),
           "--org", org.org_id]  # fmt: skip
    before = fetch(database_url, "SELECT now()")[0][0]
    path.write_text("".join(f"51255{i:05d}\n" for i in range(ANALYZE_AFTER_ROWS - 1)))
    small = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert small.returncode == 0, small.stderr
    last = _last_analyze(database_url)
    assert last is None or last < before, "a small import must not ANALYZE"
    path.write_text("".join(f"51256{i:05d}\n" for i in range(ANALYZE_AFTER_ROWS)))
    big = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert big.returncode == 0, big.stderr
    assert f"{ANALYZE_AFTER_ROWS} added" in big.stdout, big.stdout
    last = _last_analyze(database_url)
    assert last is not None and last > before, last


# --- API keys -------------------------------------------------------------------------------


def test_api_keys(server_factory, database_url, redis_url, org, other):
    env = service_env(database_url, redis_url, L2I_KEY_CACHE_TTL_S="300")
    one, two = server_factory(env), server_factory(env)
    admin = org.key("admin")
    made = call(one, "POST", "/v1/api-keys", admin,
                json={"name": "dialer", "scopes": ["dial", "read"], "rate_limit": 60})  # fmt: skip
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith("l2i_live_") and key["key_id"] in key["key"]
    assert key["scopes"] == ["read", "dial"] and key["rate_limit"] == 60
    assert key["last4"] == key["key"][-4:]
    test_key = call(one, "POST", "/v1/api-keys", admin,
                    json={"name": "sandbox", "scopes": ["write"], "test": True}).json()  # fmt: skip
    assert test_key["key"].startswith("l2i_test_")
    invalid = [
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "rate_limit": 0},
        {"scopes": ["read"]},
    ]
    for bad in invalid:
        problem(call(one, "POST", "/v1/api-keys", admin, json=bad), 422)

    listed = call(one, "GET", "/v1/api-keys", admin)
    text = listed.text
    assert key["key"] not in text and "digest" not in text
    rows = {k["key_id"]: k for k in listed.json()["data"]}
    assert set(rows[key["key_id"]]) == {"key_id", "name", "env", "scopes", "rate_limit", "last4",
                                        "created_at", "last_used_at", "revoked_at"}  # fmt: skip

    # the new key works on both servers (now cached on both), then revocation reaches both
    for server in (one, two):
        assert call(server, "POST", "/v1/dial-queue/claim", key["key"]).status_code == 200
    gone = call(one, "DELETE", f"/v1/api-keys/{key['key_id']}", admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    deadline = time.monotonic() + 1.0
    while call(two, "POST", "/v1/dial-queue/claim", key["key"]).status_code != 401:
        assert time.monotonic() < deadline, "revocation must reach every worker within 1 s"
        time.sleep(0.05)
    assert call(one, "POST", "/v1/dial-queue/claim", key["key"]).status_code == 401
    listed = call(one, "GET", "/v1/api-keys", admin).json()["data"]
    assert next(k for k in listed if k["key_id"] == key["key_id"])["revoked_at"]

    rival_key_id = other.key("admin").split("_")[2]
    problem(call(one, "DELETE", f"/v1/api-keys/{rival_key_id}", admin), 404)
    problem(call(one, "DELETE", "/v1/api-keys/nope", admin), 404)
    assert fetch(database_url, "SELECT revoked_at FROM api_keys WHERE key_id = %s",
                 rival_key_id) == [(None,)]  # fmt: skip


async def test_last_used_at_at_most_once_a_minute(database_url, org):
    from psycopg_pool import AsyncConnectionPool

    from lead2inbound.access.auth import KeyRing
    from tests.support.stack import PEPPER

    key = org.key("read")
    key_id = key.split("_")[2]
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        await pool.open(wait=True)
        ring = KeyRing(pool, PEPPER.encode())
        await ring.authenticate(f"Bearer {key}")
        await ring.flush_last_used()
        first = fetch(database_url, "SELECT last_used_at FROM api_keys WHERE key_id = %s", key_id)
        assert first[0][0] is not None
        await asyncio.sleep(0.05)
        await ring.authenticate(f"Bearer {key}")
        await ring.flush_last_used()
        second = fetch(database_url, "SELECT last_used_at FROM api_keys WHERE key_id = %s", key_id)
        assert second == first, "a second use within the minute writes nothing"
        ring._touched[key_id] -= 61  # a minute later
        await ring.flush_last_used()
        third = fetch(database_url, "SELECT last_used_at FROM api_keys WHERE key_id = %s", key_id)
        assert third[0][0] > first[0][0]


# --- the tenant matrix ------------------------------------------------------------------------


def test_tenant_matrix(service, org, other, database_url):
    full = org.key("write,read,dial,admin")
    made = call(service, "POST", "/v1/leads", full, json=lead("5125550700")).json()
    call(service, "POST", "/v1/suppressions", full, json={"phones": ["5125550799"]})
    key_id = org.key("read").split("_")[2]
    page = call(service, "GET", "/v1/leads?limit=1", full).json()
    call(service, "POST", "/v1/leads", full, json=lead("5125550701"))
    cursor = call(service, "GET", "/v1/leads?limit=1", full).json()["next_cursor"]
    assert cursor
    lid = made["lead_id"]
    endpoints = [
        ("POST", "/v1/leads", "write", {"json": lead("5125550702")}),
        ("GET", f"/v1/leads/{lid}", "read", {}),
        ("GET", "/v1/leads", "read", {}),
        ("POST", "/v1/dial-queue/claim", "dial", {"json": {}}),
        ("POST", f"/v1/dial-queue/{lid}/complete", "dial", {"json": {"outcome": "qualified"}}),
        ("POST", f"/v1/dial-queue/{lid}/release", "dial", {}),
        ("POST", "/v1/suppressions", "write", {"json": {"phones": ["5125550700"]}}),
        ("GET", "/v1/suppressions", "read", {}),
        ("GET", "/v1/suppressions/5125550799", "read", {}),
        ("DELETE", "/v1/suppressions/5125550799", "admin", {}),
        ("POST", "/v1/api-keys", "admin", {"json": {"name": "x", "scopes": ["read"]}}),
        ("GET", "/v1/api-keys", "admin", {}),
        ("DELETE", f"/v1/api-keys/{key_id}", "admin", {}),
    ]
    all_scopes = {"write", "read", "dial", "admin"}
    for method, path, scope, kw in endpoints:
        lacking = org.key(",".join(sorted(all_scopes - {scope})))
        problem(call(service, method, path, lacking, **kw), 403, "forbidden")
        problem(call(service, method, path, None, **kw), 401)
        rival = other.key(scope)
        resp = call(service, method, path, rival, **kw)
        # another org's ids are unknown ids; lists and claims come back empty or theirs
        text = json.dumps({k: v for k, v in resp.json().items() if k != "instance"})
        assert lid not in text and "5125550799" not in text and key_id not in text, (path, text)
        if lid in path or "5125550799" in path or key_id in path:
            problem(resp, 404, "not_found")
        elif method == "GET":  # a list: only the rival's own rows (checked above)
            assert resp.status_code == 200, (path, text)
            org_rows = fetch(database_url, "SELECT lead_id::text FROM leads WHERE org_id = %s",
                             org.org_id)  # fmt: skip
            assert not any(r[0] in text for r in org_rows), (path, text)
    # nothing of org was touched by the rival
    assert fetch(database_url, "SELECT status FROM leads WHERE lead_id = %s", lid) == [("new",)]
    assert fetch(database_url, "SELECT count(*) FROM suppressions WHERE org_id = %s",
                 org.org_id) == [(1,)]  # fmt: skip
    assert fetch(database_url, "SELECT revoked_at FROM api_keys WHERE key_id = %s",
                 key_id) == [(None,)]  # fmt: skip
    # cursors do not cross orgs, nor do lead ids used as cursors
    rival = other.key("read")
    body = problem(call(service, "GET", "/v1/leads", rival, params={"starting_after": cursor}), 422)
    assert body["errors"][0]["param"] == "starting_after"
    problem(call(service, "GET", "/v1/leads", rival, params={"starting_after": lid}), 422)
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    problem(call(service, "GET", "/v1/leads", full, params={"starting_after": tampered}), 422)
    assert page["data"][0]["lead_id"] == lid
