"""Batch, CSV import and Idempotency-Key end to end: a real server, Postgres and Redis."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import psycopg
import pytest

from tests.support.stack import auth, fetch, lead, make_org, service_env

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url, L2I_CSV_MAX_ROWS="50"))


def strip_ids(answer: dict) -> dict:
    body = dict(answer["body"])
    for name in ("lead_id", "request_id", "instance"):
        body.pop(name, None)
    return {"status": answer["status"], "body": body}


MIXED = [
    lead("5125550101", first_name="A"),
    lead("5125550102", state="ZZ"),  # 422
    {"phone": "5125550103"},  # missing consent: stored ineligible
    lead("(512) 555-0101"),  # the first one again: a duplicate of it
    lead("12"),  # invalid_phone
    {"phone": "5125550104", "consent_timestamp": "2026-07-05T12:00:00Z", "utm_source": "g"},
    lead("5125550105", frist_name="typo"),  # unknown field
    lead("5125550106", consent={"consent_timestamp": "2999-01-01T00:00:00Z"}),
]


def test_batch_equals_single_posts(service, database_url):
    one, other = make_org(database_url, "batch"), make_org(database_url, "single")
    batch = httpx.post(
        f"{service.url}/v1/leads/batch", json={"leads": MIXED}, headers=auth(one.key()), timeout=30
    )
    assert batch.status_code == 200, batch.text
    assert batch.headers["X-RateLimit-Limit"]
    answer = batch.json()
    singles = []
    key = other.key()
    for item in MIXED:
        r = httpx.post(f"{service.url}/v1/leads", json=item, headers=auth(key), timeout=10)
        singles.append({"status": r.status_code, "body": r.json()})
    assert [strip_ids(a) for a in answer["results"]] == [strip_ids(s) for s in singles]
    assert answer["results"][3]["body"]["lead_id"] == answer["results"][0]["body"]["lead_id"]
    assert answer["summary"] == {"total": 8, "created": 4, "duplicates": 1, "failed": 3}
    assert fetch(database_url, "SELECT count(*) FROM leads WHERE org_id = %s", one.org_id) == [(4,)]


def test_batch_limits(service, database_url):
    org = make_org(database_url)
    url = f"{service.url}/v1/leads/batch"
    too_many = {"leads": [lead(f"512555{i:04d}") for i in range(1001)]}
    r = httpx.post(url, json=too_many, headers=auth(org.key()), timeout=30)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/leads"
    assert httpx.post(url, json={"leads": []}, headers=auth(org.key())).status_code == 422
    assert httpx.post(url, json={"leads": [1]}, headers=auth(org.key())).status_code == 422
    assert httpx.post(url, json={"lead": []}, headers=auth(org.key())).status_code == 422

    small = org.key(rate_limit=10)
    five = {"leads": [lead(f"51255502{i:02d}") for i in range(5)]}
    assert httpx.post(url, json=five, headers=auth(small)).status_code == 200
    refused = httpx.post(
        url, json={"leads": [lead(f"51255503{i:02d}") for i in range(6)]}, headers=auth(small)
    )
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(5,)], "nothing of it stored"
    whole = httpx.post(
        url, json={"leads": [lead(f"51255504{i:02d}") for i in range(11)]}, headers=auth(small)
    )
    assert whole.status_code == 422  # more than the key's whole limit: split it

    form = "leads[0][phone]=5125550301&leads[1][phone]=12&leads[0][consent_timestamp]=x"
    r = httpx.post(url, content=form, headers={**auth(org.key()), "Content-Type": FORM})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 422]
    assert r.json()["results"][0]["body"]["reasons"] == ["invalid_consent"]


CSV = (
    "\ufeffPhone,First Name,consent_timestamp,utm_source,Plan,consent[source_url]\r\n"
    '5125550401,"Doe, Jane",2026-07-05T12:00:00Z,google,gold,https://x.test/a\r\n'
    "\r\n"
    '5125550402,"Multi\r\nline ""quoted""",2026-07-05T12:00:00Z,,silver,\r\n'
    "12,Bad,2026-07-05T12:00:00Z,,,\r\n"
    "5125550401,Again,,,,\r\n"
    "5125550403,Extra,,,,,surplus\r\n"
    "5125550404,NoNewlineAtEnd,2026-07-05T12:00:00Z,,,"
)


def test_csv_import(service, database_url):
    org = make_org(database_url)
    headers = {**auth(org.key()), "Content-Type": "text/csv"}

    def pieces():  # a streamed, chunked body cut at awkward places
        data = CSV.encode()
        for i in range(0, len(data), 7):
            yield data[i : i + 7]

    r = httpx.post(f"{service.url}/v1/leads/import", content=pieces(), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("rows", "created", "duplicates", "failed")} == {
        "rows": 6,
        "created": 3,
        "duplicates": 1,
        "failed": 2,
    }
    assert [e["row"] for e in body["errors"]] == [6, 8]
    assert body["errors"][0]["problem"]["code"] == "invalid_phone"
    rows = fetch(
        database_url,
        "SELECT first_name, consent, attribution, custom_fields "
        "FROM leads WHERE phone = '+15125550401'",
    )
    assert rows == [
        (
            "Doe, Jane",
            {"consent_timestamp": "2026-07-05T12:00:00Z", "source_url": "https://x.test/a"},
            {"utm_source": "google"},
            {"Plan": "gold"},
        )
    ]
    assert fetch(database_url, "SELECT first_name FROM leads WHERE phone = '+15125550402'") == [
        ('Multi\r\nline "quoted"',)
    ]

    bad = httpx.post(f"{service.url}/v1/leads/import", content=b"name\nx\n", headers=headers)
    assert bad.status_code == 422
    wrong = httpx.post(
        f"{service.url}/v1/leads/import",
        content=b"phone\n1\n",
        headers={**auth(org.key()), "Content-Type": "application/json"},
    )
    assert wrong.status_code == 415 and "text/csv" in wrong.json()["detail"]
    capped = "phone\n" + "".join(f"51255505{i:02d}\n" for i in range(60))
    r = httpx.post(f"{service.url}/v1/leads/import", content=capped, headers=headers)
    assert r.status_code == 200 and r.json()["rows"] == 50 and r.json()["stopped"]


def test_idempotency_replay_and_mismatch(service, database_url):
    org = make_org(database_url)
    key = org.key()
    idem = {**auth(key), "Idempotency-Key": str(uuid.uuid4())}
    url = f"{service.url}/v1/leads"
    first = httpx.post(url, json=lead("5125550601", first_name="Ann"), headers=idem)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # the same lead as a form: the same fingerprint, so the stored answer comes back
    form = "phone=5125550601&first_name=Ann&consent%5Bconsent_timestamp%5D=2026-07-05T12%3A00%3A00Z"
    again = httpx.post(url, content=form, headers={**idem, "Content-Type": FORM})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    other = httpx.post(url, json=lead("5125550602"), headers=idem)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # scoped to the route and the org
    assert (
        httpx.post(f"{url}/batch", json={"leads": [lead("5125550603")]}, headers=idem).status_code
        == 200
    )
    org2 = make_org(database_url, "other")
    assert (
        httpx.post(
            url,
            json=lead("5125550602"),
            headers={**auth(org2.key()), "Idempotency-Key": idem["Idempotency-Key"]},
        ).status_code
        == 201
    )
    # validation failures are not stored: a corrected retry with the same key goes through
    k2 = {**auth(key), "Idempotency-Key": "retry-after-422"}
    assert httpx.post(url, json=lead("12"), headers=k2).status_code == 422
    assert httpx.post(url, json=lead("5125550604"), headers=k2).status_code == 201
    assert fetch(database_url, "SELECT count(*) FROM idempotency_keys WHERE status IS NULL") == [
        (0,)
    ]
    assert (
        httpx.post(
            url, json=lead("5125550605"), headers={**auth(key), "Idempotency-Key": "x" * 256}
        ).status_code
        == 400
    )
    # batch and import replay too
    bkey = {**auth(key), "Idempotency-Key": "batch-1"}
    b1 = httpx.post(f"{url}/batch", json={"leads": MIXED[:3]}, headers=bkey)
    b2 = httpx.post(f"{url}/batch", json={"leads": MIXED[:3]}, headers=bkey)
    assert b1.status_code == b2.status_code == 200 and b1.content == b2.content
    assert b2.headers["Idempotent-Replayed"] == "true"
    ikey = {**auth(key), "Idempotency-Key": "import-1", "Content-Type": "text/csv"}
    i1 = httpx.post(f"{url}/import", content=CSV, headers=ikey)
    i2 = httpx.post(f"{url}/import", content=CSV, headers=ikey)
    assert i1.status_code == i2.status_code == 200 and i1.content == i2.content
    assert i2.headers["Idempotent-Replayed"] == "true"
    i3 = httpx.post(f"{url}/import", content=CSV + "\n5125550699,x,,,,", headers=ikey)
    assert i3.status_code == 422 and i3.json()["code"] == "idempotency_key_reused"


async def test_idempotency_in_flight(service, database_url):
    org = make_org(database_url)
    key = org.key()
    url = f"{service.url}/v1/leads"
    idem = {**auth(key), "Idempotency-Key": "slow-one"}
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(database_url) as conn:
            conn.execute("SELECT 1 FROM phone_claims WHERE phone = '+15125550701' FOR UPDATE")
            locked.set()
            release.wait(20)

    async with httpx.AsyncClient(timeout=30) as client:
        seed = await client.post(url, json=lead("5125550701"), headers=auth(key))
        assert seed.status_code == 201  # its claim row is what the test will lock
        holder = threading.Thread(target=hold_lock)
        holder.start()
        await asyncio.to_thread(locked.wait, 10)
        slow = asyncio.create_task(client.post(url, json=lead("5125550701"), headers=idem))
        await asyncio.sleep(0.5)
        retry = await client.post(url, json=lead("5125550701"), headers=idem)
        assert retry.status_code == 409, retry.text
        assert retry.json()["code"] == "idempotency_in_flight"
        release.set()
        first = await slow
        assert first.status_code == 200  # a duplicate of the lead above
        replay = await client.post(url, json=lead("5125550701"), headers=idem)
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.content == first.content
    holder.join()


def test_idempotency_purge_and_lapsed_claims(service, database_url):
    """A claim whose holder died (lease over, no answer) is taken over; 24 h old rows expire."""
    org = make_org(database_url)
    key = org.key()
    url = f"{service.url}/v1/leads"
    fetch(
        database_url,
        "INSERT INTO idempotency_keys (org_id, scope, route, idem_key, token, locked_until) "
        "VALUES (%s, 'live:secret', 'POST /v1/leads', 'dead', gen_random_uuid(), "
        "now() - interval '1 s') "
        "RETURNING 1",
        org.org_id,
    )
    r = httpx.post(url, json=lead("5125550801"), headers={**auth(key), "Idempotency-Key": "dead"})
    assert r.status_code == 201
    fetch(
        database_url,
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' RETURNING 1",
    )
    r2 = httpx.post(url, json=lead("5125550802"), headers={**auth(key), "Idempotency-Key": "dead"})
    assert r2.status_code == 201 and "Idempotent-Replayed" not in r2.headers
