"""POST /v1/leads end to end: a real Granian process, real Postgres, real Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid

import httpx
import pytest

from tests.support.stack import QUICKSTART, auth, fetch, lead, make_org, service_env

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PROBLEM = "application/problem+json"
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)


@pytest.fixture
def org(database_url):
    return make_org(database_url)


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url))


def post(service, key, body, **kw):
    headers = {**auth(key), **kw.pop("headers", {})}
    return httpx.post(f"{service.url}/v1/leads", json=body, headers=headers, timeout=10, **kw)


def assert_problem(resp, status, code=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code", "request_id"} <= body.keys()
    assert body["request_id"] == resp.headers["X-Request-Id"]
    if code:
        assert body["code"] == code
    text = resp.text.lower()
    assert "traceback" not in text and "select " not in text and "insert " not in text
    return body


# --- the happy path ---------------------------------------------------------------------------


def test_quickstart_created_then_duplicate(service, org, database_url):
    key = org.key()
    first = post(service, key, QUICKSTART)
    assert first.status_code == 201, first.text
    body = first.json()
    assert UUID7.match(body["lead_id"])
    assert body["outcome"] == "created"
    assert body["status"] == "new" and body["eligible"] is True and body["reasons"] == []
    assert body["phone"] == "+15551234567" and body["phone_valid"] is False
    assert body["checks"] == {
        "duplicate": "none",
        "suppression": "clear",
        "dnc": "not_connected",
        "consent": "present",
    }
    assert first.headers["Location"] == f"/v1/leads/{body['lead_id']}"
    for name in (*RATE_HEADERS, "X-Request-Id"):
        assert name in first.headers

    # committed and queued when the answer was sent
    rows = fetch(
        database_url, "SELECT status, phone_raw FROM leads WHERE lead_id = %s", body["lead_id"]
    )
    assert rows == [("new", "5551234567")]
    assert fetch(
        database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = %s", body["lead_id"]
    ) == [(1,)]

    again = post(service, key, QUICKSTART)
    assert again.status_code == 200, again.text
    dup = again.json()
    assert dup["outcome"] == "duplicate" and dup["lead_id"] == body["lead_id"]
    assert dup["status"] == "new"
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(1,)]


def test_basic_auth_and_form_body(service, org):
    key = org.key()
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    form = (
        "phone=%28512%29+555-0143&first_name=Ann&state=TX"
        "&consent%5Bconsent_timestamp%5D=2026-07-05T12%3A00%3A00Z"
        "&custom_fields%5Bplan%5D=gold"
    )
    resp = httpx.post(
        f"{service.url}/v1/leads",
        content=form,
        headers={"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["phone"] == "+15125550143"
    assert resp.json()["status"] == "new"


async def test_fifty_concurrent_posts_one_lead(service, org, database_url):
    key = org.key()
    formats = [
        "(512) 555-0199",
        "512.555.0199",
        "+1 512-555-0199",
        "15125550199",
        "5125550199",
        "+15125550199",
        "512 555 0199",
        "1-512-555-0199",
    ]
    async with httpx.AsyncClient(base_url=service.url, timeout=20) as client:
        answers = await asyncio.gather(
            *[
                client.post("/v1/leads", json=lead(formats[i % len(formats)]), headers=auth(key))
                for i in range(50)
            ]
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 49 + [201], [r.text for r in answers if r.status_code >= 300]
    ids = {r.json()["lead_id"] for r in answers}
    assert len(ids) == 1
    assert fetch(database_url, "SELECT count(*) FROM leads WHERE phone = '+15125550199'") == [(1,)]


@pytest.mark.parametrize(("days", "duplicate"), [(29, True), (31, False)])
def test_duplicate_window(service, org, database_url, days, duplicate):
    key = org.key()
    first = post(service, key, lead("5125550150")).json()["lead_id"]
    fetch(
        database_url,
        "UPDATE leads SET created_at = now() - make_interval(days => %s) RETURNING 1",
        days,
    )
    second = post(service, key, lead("512-555-0150"))
    if duplicate:
        assert second.status_code == 200 and second.json()["lead_id"] == first
    else:
        assert second.status_code == 201 and second.json()["lead_id"] != first
        assert fetch(database_url, "SELECT count(*) FROM leads") == [(2,)]


# --- gates ------------------------------------------------------------------------------------


def test_gates(service, org, database_url):
    key = org.key()
    fetch(
        database_url,
        "INSERT INTO suppressions (org_id, phone) VALUES (%s, '+15125550160') RETURNING 1",
        org.org_id,
    )
    sup = post(service, key, lead("5125550160")).json()
    assert sup["status"] == "ineligible" and sup["reasons"] == ["suppressed"]
    assert sup["checks"]["suppression"] == "hit"

    missing = post(service, key, {"phone": "5125550161"}).json()
    assert missing["status"] == "ineligible" and missing["reasons"] == ["missing_consent"]
    assert missing["checks"]["consent"] == "missing"

    for ts in ["yesterday", "2999-01-01T00:00:00Z", "2026-07-05T12:00:00", None]:
        body = lead("5125550162")
        body["consent"] = {"consent_timestamp": ts} if ts else {"source_url": "https://x.test"}
        bad = post(service, key, body).json()
        assert bad["reasons"] == ["invalid_consent"], ts
        assert bad["checks"]["consent"] == "invalid"
        fetch(database_url, "DELETE FROM phone_claims RETURNING 1")

    both = {"phone": "5125550160"}
    fetch(database_url, "DELETE FROM phone_claims RETURNING 1")
    assert post(service, key, both).json()["reasons"] == ["suppressed", "missing_consent"]
    queued = fetch(database_url, "SELECT count(*) FROM dial_queue")
    assert queued == [(0,)]


def test_sandbox_key_never_queued_nor_colliding(service, org, database_url):
    live, test = org.key(), org.key(test=True)
    sandbox = post(service, test, lead("5125550170"))
    assert sandbox.status_code == 201 and sandbox.json()["status"] == "new"
    real = post(service, live, lead("5125550170"))
    assert real.status_code == 201, "a sandbox lead must not make a live lead a duplicate"
    assert real.json()["lead_id"] != sandbox.json()["lead_id"]
    rows = fetch(database_url, "SELECT lead_id::text FROM dial_queue")
    assert rows == [(real.json()["lead_id"],)]


def test_require_valid_phone(service, org, database_url):
    fetch(database_url, "UPDATE orgs SET require_valid_phone = true RETURNING 1")
    key = org.key()
    body = post(service, key, lead("5551234567")).json()
    assert body["status"] == "ineligible" and body["reasons"] == ["invalid_phone_number"]
    assert post(service, key, lead("5125550143")).json()["status"] == "new"


# --- errors -----------------------------------------------------------------------------------


def test_authentication_failures(service, org, database_url):
    key = org.key()
    url = f"{service.url}/v1/leads"
    bad_checksum = key[:-1] + ("A" if key[-1] != "A" else "B")
    unknown = org.key()
    fetch(database_url, "DELETE FROM api_keys WHERE key_id = %s RETURNING 1", unknown.split("_")[2])
    revoked = org.key()
    fetch(
        database_url,
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s RETURNING 1",
        revoked.split("_")[2],
    )
    bodies = []
    for headers in [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Token " + key},
        {"Authorization": "Bearer " + bad_checksum},
        {"Authorization": "Bearer " + unknown},
        {"Authorization": "Bearer " + revoked},
        {"Authorization": "Basic " + base64.b64encode(f"{key}:secret".encode()).decode()},
        {"Authorization": "Bearer " + "x" * 5000},
    ]:
        resp = httpx.post(url, json=lead("5125550180"), headers=headers)
        body = assert_problem(resp, 401, "unauthorized")
        bodies.append((body["title"], body["detail"]))
    assert len(set(bodies)) == 1, "every authentication failure has one generic body"
    in_query = httpx.post(f"{url}?api_key={key}", json=lead("5125550180"))
    assert_problem(in_query, 401)


def test_scope_and_body_errors(service, org):
    reader = org.key("read")
    assert_problem(post(service, reader, lead("5125550181")), 403, "forbidden")

    key = org.key()
    url = f"{service.url}/v1/leads"
    h = auth(key)
    resp = httpx.post(url, content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert_problem(resp, 400, "bad_request")
    resp = httpx.post(url, content=b"phone=1", headers={**h, "Content-Type": "text/plain"})
    body = assert_problem(resp, 415, "unsupported_media_type")
    assert "application/json" in body["detail"]
    big = b'{"phone": "5125550182", "source": "' + b"x" * 2_000_000 + b'"}'
    resp = httpx.post(url, content=big, headers={**h, "Content-Type": "application/json"})
    assert_problem(resp, 413, "payload_too_large")

    def chunks():
        yield b'{"phone": "5125550182", "source": "'
        for _ in range(300):
            yield b"y" * 8192
        yield b'"}'

    resp = httpx.post(url, content=chunks(), headers={**h, "Content-Type": "application/json"})
    assert_problem(resp, 413, "payload_too_large")
    for name in RATE_HEADERS:
        assert name in resp.headers, "authenticated errors carry rate-limit headers too"


def test_validation_names_every_bad_field(service, org, database_url):
    key = org.key()
    resp = post(
        service,
        key,
        {
            "phone": "12",
            "state": "XX",
            "email": "nope",
            "first_nme": "typo",
            "consent": {"consent_timestamp": 5, "extra": 1},
            "attribution": {"utm_source": ["a"]},
            "custom_fields": {"plan": {"nested": True}},
        },
    )
    body = assert_problem(resp, 422, "validation_error")
    pointers = {e["pointer"] for e in body["errors"]}
    assert {
        "#/phone",
        "#/state",
        "#/email",
        "#/first_nme",
        "#/consent/consent_timestamp",
        "#/consent/extra",
        "#/attribution/utm_source",
    } <= pointers, pointers
    assert any(p.startswith("#/custom_fields/plan") for p in pointers)
    params = {e["param"] for e in body["errors"]}
    assert "consent[consent_timestamp]" in params
    assert next(e for e in body["errors"] if e["pointer"] == "#/phone")["code"] == "invalid_phone"

    only_phone = assert_problem(post(service, key, {"phone": "abc"}), 422, "invalid_phone")
    assert only_phone["errors"][0]["param"] == "phone"
    assert_problem(post(service, key, {"first_name": "x"}), 422, "validation_error")
    assert_problem(post(service, key, ["not", "an", "object"]), 422)
    assert_problem(post(service, key, {"phone": "5125550190", "source": "a\u0000b"}), 422)
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(0,)]


def test_rate_limit(server_factory, database_url, redis_url, org):
    service = server_factory(service_env(database_url, redis_url))
    key = org.key(rate_limit=3)
    answers = [post(service, key, lead(f"51255502{i:02d}")) for i in range(4)]
    assert [r.status_code for r in answers[:3]] == [201, 201, 201]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    body = assert_problem(answers[3], 429, "rate_limited")
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].headers["X-RateLimit-Limit"] == "3"
    assert "3" in body["detail"]


def test_rate_limit_comes_before_body_errors_and_scope(
    server_factory, database_url, redis_url, org
):
    """A single POST's charge rides with its write, but the order of answers is unchanged: a
    bad body or a missing scope is charged first, and over the limit every request is a 429
    (nothing stored), each answer with the rate-limit headers."""
    service = server_factory(service_env(database_url, redis_url))
    key = org.key(rate_limit=3)
    first = post(service, key, lead("5125550180"))
    assert first.status_code == 201 and first.headers["X-RateLimit-Remaining"] == "2"
    bad = post(service, key, {"phone": "abc"})
    assert_problem(bad, 422, "invalid_phone")
    assert bad.headers["X-RateLimit-Remaining"] == "1"
    reader = org.key("read", rate_limit=3)
    refused_scope = post(service, reader, lead("5125550181"))
    assert_problem(refused_scope, 403)
    assert refused_scope.headers["X-RateLimit-Remaining"] == "2"
    assert post(service, key, lead("5125550182")).headers["X-RateLimit-Remaining"] == "0"
    for body in ({"phone": "abc"}, lead("5125550183")):
        over = post(service, key, body)
        assert_problem(over, 429, "rate_limited")
        assert (
            over.headers["X-RateLimit-Remaining"] == "0" and int(over.headers["Retry-After"]) >= 1
        )
    phones = {row[0] for row in fetch(database_url, "SELECT phone FROM leads")}
    assert phones == {"+15125550180", "+15125550182"}


def test_unknown_route_and_method_are_problems(service, org):
    assert_problem(httpx.get(f"{service.url}/v1/nope"), 404)
    assert_problem(httpx.put(f"{service.url}/v1/leads", headers=auth(org.key())), 405)


def test_health_ready_metrics(service):
    assert httpx.get(f"{service.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    metrics = httpx.get(f"{service.url}/metrics").text
    assert "l2i_http_requests_total" in metrics


def test_answer_is_valid_json_with_request_id(service, org):
    resp = post(service, org.key(), lead("5125550191"), headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    json.loads(resp.text)
    uuid.UUID(resp.json()["lead_id"])
