"""Signed webhooks: right, wrong, missing, stale and replayed signatures, over the raw body; a
refused one is a 401 and nothing is stored; secrets are sealed and never shown."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest

from lead2inbound.sources.signatures import BadSignature, sign_hmac, verify
from tests.support.source_fixtures import source_org, source_service  # noqa: F401
from tests.support.sources import create_source, stored_leads
from tests.support.stack import auth, fetch, service_env

SECRET = "partner-shared-secret-" + "q" * 20
MAPPING = {
    "phone": "/phone",
    "consent.consent_timestamp": "/consented_at",
}
BODY = json.dumps({"phone": "5125550143", "consented_at": "2026-07-05T12:00:00Z"}).encode()
JSON = {"Content-Type": "application/json"}


def _headers(header: str) -> Callable[[str], str | None]:
    return lambda name: {"L2I-Signature": header}.get(name)


def test_verify_is_over_the_raw_bytes_and_in_time():
    now = 1_751_716_800
    good = sign_hmac(SECRET, BODY, now)
    assert verify("hmac-sha256", SECRET, BODY, _headers(good), now=now)
    # one byte changed (even only whitespace in the JSON) is another body
    with pytest.raises(BadSignature):
        verify("hmac-sha256", SECRET, BODY + b" ", _headers(good), now=now)
    with pytest.raises(BadSignature):
        verify("hmac-sha256", SECRET, BODY, _headers(good), now=now + 301)  # stale
    with pytest.raises(BadSignature):
        verify("hmac-sha256", "another secret", BODY, _headers(good), now=now)
    fb = "sha256=" + hmac.new(b"app-secret", BODY, hashlib.sha256).hexdigest()
    assert verify("facebook", "app-secret", BODY, {"X-Hub-Signature-256": fb}.get) is None
    with pytest.raises(BadSignature):
        verify("facebook", "app-secret", BODY, {}.get)
    legacy = hashlib.sha256(b"client-secret" + BODY).hexdigest()
    assert verify("hubspot-v1", "client-secret", BODY, {"X-HubSpot-Signature": legacy}.get) is None


def test_hmac_signed_source_right_wrong_missing_stale_replayed(service, database_url, org):
    source = create_source(
        service.url,
        org.key("admin"),
        name="partner",
        mapping=MAPPING,
        signature="hmac-sha256",
        secret=SECRET,
        rate_limit=50,
    )
    assert source["secrets"] == ["secret"]
    url = f"{service.url}{source['ingest_url']}"

    def send(headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
        return httpx.post(url, content=body, headers={**JSON, **headers})

    for bad in (
        {},  # missing
        {"L2I-Signature": sign_hmac("wrong secret", BODY)},
        {"L2I-Signature": sign_hmac(SECRET, BODY, int(time.time()) - 3600)},  # stale
        {"L2I-Signature": "t=abc,v1=zz"},
    ):
        resp = send(bad)
        assert resp.status_code == 401, (bad, resp.text)
        assert resp.json()["code"] == "unauthorized"
    tampered = send({"L2I-Signature": sign_hmac(SECRET, BODY)}, BODY.replace(b"0143", b"0144"))
    assert tampered.status_code == 401
    assert stored_leads(database_url, org.org_id) == []

    signed = {"L2I-Signature": sign_hmac(SECRET, BODY)}
    ok = send(signed)
    assert ok.status_code == 201, ok.text
    assert ok.headers["X-RateLimit-Limit"] == "50"  # the source's own limit
    replayed = send(signed)
    assert replayed.status_code == 401  # the same signature again, inside the window
    [lead] = stored_leads(database_url, org.org_id)
    assert lead["api_key_id"] == f"src:{source['source_id']}"
    assert lead["source"] == "partner"

    # a write key of the org works too, with no signature
    keyed = httpx.post(url, content=BODY, headers={**JSON, **auth(org.key("write"))})
    assert keyed.status_code == 200 and keyed.json()["outcome"] == "duplicate"


def test_typeform_and_hubspot_v3_schemes(service, database_url, org):
    admin = org.key("admin")
    typeform = create_source(
        service.url, admin, name="tf", mapping=MAPPING, signature="typeform", secret=SECRET
    )
    url = f"{service.url}{typeform['ingest_url']}"
    mac = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    good = "sha256=" + base64.b64encode(mac).decode()
    assert (
        httpx.post(
            url, content=BODY, headers={**JSON, "Typeform-Signature": "sha256=x"}
        ).status_code
        == 401
    )
    assert httpx.post(url, content=BODY, headers=JSON).status_code == 401
    assert stored_leads(database_url, org.org_id) == []
    resp = httpx.post(url, content=BODY, headers={**JSON, "Typeform-Signature": good})
    assert resp.status_code == 201, resp.text

    hubspot = create_source(
        service.url, admin, name="hs", mapping=MAPPING, signature="hubspot-v3", secret=SECRET
    )
    url = f"{service.url}{hubspot['ingest_url']}"
    body = BODY.replace(b"0143", b"0145")

    def v3(stamp_ms: int) -> dict[str, str]:
        data = b"POST" + url.encode() + body + str(stamp_ms).encode()
        sig = base64.b64encode(hmac.new(SECRET.encode(), data, hashlib.sha256).digest()).decode()
        return {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": str(stamp_ms)}

    now_ms = int(time.time() * 1000)
    stale = httpx.post(url, content=body, headers={**JSON, **v3(now_ms - 10 * 60 * 1000)})
    assert stale.status_code == 401
    fresh = v3(now_ms)
    resp = httpx.post(url, content=body, headers={**JSON, **fresh})
    assert resp.status_code == 201, resp.text
    assert httpx.post(url, content=body, headers={**JSON, **fresh}).status_code == 401  # replay
    assert len(stored_leads(database_url, org.org_id)) == 2


def test_secrets_are_sealed_and_never_shown(service, database_url, org):
    admin = org.key("admin")
    source = create_source(
        service.url, admin, name="partner", mapping=MAPPING, signature="hmac-sha256", secret=SECRET
    )
    raw = fetch(database_url, "SELECT secrets, key_id FROM lead_sources")[0]
    assert SECRET.encode() not in bytes(raw[0]) and raw[1]
    for path in ("/v1/sources", f"/v1/sources/{source['source_id']}"):
        text = httpx.get(f"{service.url}{path}", headers=auth(admin)).text
        assert SECRET not in text and '"secret"' in text  # its name only
    # a sealed secret copied to another source does not open there: that source refuses all
    other = create_source(
        service.url, admin, name="other", mapping=MAPPING, signature="hmac-sha256", secret="x" * 30
    )
    fetch(
        database_url,
        "UPDATE lead_sources SET secrets = %s WHERE source_id = %s RETURNING 1",
        raw[0],
        other["source_id"],
    )
    resp = httpx.post(
        f"{service.url}{other['ingest_url']}",
        content=BODY,
        headers={**JSON, "L2I-Signature": sign_hmac(SECRET, BODY)},
    )
    assert resp.status_code == 401


def test_no_secret_key_no_signed_source(server_factory, database_url, redis_url, org):
    service = server_factory(service_env(database_url, redis_url))  # no L2I_SECRET_KEY
    resp = httpx.post(
        f"{service.url}/v1/sources",
        json={"name": "x", "mapping": MAPPING, "signature": "typeform", "secret": SECRET},
        headers=auth(org.key("admin")),
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["pointer"] == "#/secret"
