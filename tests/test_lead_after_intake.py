"""The lead after intake (issue 25): consent that arrives later, unsold leads pushed back.

Real Granian, Postgres and Redis: every post goes through the server and its batched writer.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.support.stack import auth, fetch, lead, make_org, service_env

CONSENT = {"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "webform-v2"}


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url, L2I_CALLING_HOURS="off"))


@pytest.fixture
def org(database_url):
    return make_org(database_url, "acme")


def call(service, method, path, key=None, **kw):
    headers = {**(auth(key) if key else {}), **kw.pop("headers", {})}
    return httpx.request(method, f"{service.url}{path}", headers=headers, timeout=30, **kw)


def queued(database_url, lead_id):
    return fetch(database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = %s", lead_id)[0][0]


# --- consent that arrives later -------------------------------------------------------------


def test_new_user_story_consent_arrives_later(service, org, database_url):
    """Held for missing consent, then queued by a later post with consent; the dial queue hands
    it out; a later post without consent changes nothing."""
    key, dialer = org.key("write,read"), org.key("dial")
    first = call(service, "POST", "/v1/leads", key, json={"phone": "(512) 555-0177"})
    assert first.status_code == 201, first.text
    held = first.json()
    assert held["status"] == "ineligible" and held["reasons"] == ["missing_consent"]
    assert queued(database_url, held["lead_id"]) == 0

    again = call(
        service, "POST", "/v1/leads", key, json={"phone": "512-555-0177", "consent": CONSENT}
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["outcome"] == "duplicate" and body["lead_id"] == held["lead_id"]
    assert body["status"] == "new" and body["eligible"] is True and body["reasons"] == []
    assert body["checks"] == {
        "duplicate": "hit",
        "suppression": "clear",
        "dnc": "not_connected",
        "consent": "added",
    }
    assert queued(database_url, held["lead_id"]) == 1
    stored = call(service, "GET", f"/v1/leads/{held['lead_id']}", key).json()
    assert stored["consent"] == CONSENT and stored["checks"]["consent"] == "present"
    assert stored["queued_at"] is not None

    claimed = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 5}).json()
    assert [c["lead_id"] for c in claimed["data"]] == [held["lead_id"]]

    # a later post without consent (or with consent again) changes nothing: a plain duplicate
    for extra in ({}, {"consent": {"consent_timestamp": "2026-07-06T12:00:00Z"}}):
        plain = call(service, "POST", "/v1/leads", key, json={"phone": "5125550177", **extra})
        assert plain.status_code == 200
        assert plain.json()["checks"]["consent"] == "skipped"
        assert plain.json()["status"] == "dialing"
    stored = call(service, "GET", f"/v1/leads/{held['lead_id']}", key).json()
    assert stored["consent"] == CONSENT and stored["status"] == "dialing"


def test_consent_later_never_takes_consent_or_unsuppresses(service, org, database_url):
    key = org.key("write,read,admin")
    # held for invalid consent: a post without consent, or with invalid consent, changes nothing
    bad = {"consent_timestamp": "yesterday"}
    made = call(service, "POST", "/v1/leads", key, json={"phone": "5125550188", "consent": bad})
    held = made.json()
    assert held["reasons"] == ["invalid_consent"]
    for extra in ({}, {"consent": {"consent_timestamp": "2999-01-01T00:00:00Z"}}):
        dup = call(service, "POST", "/v1/leads", key, json={"phone": "5125550188", **extra})
        assert dup.json()["status"] == "ineligible"
        assert dup.json()["checks"]["consent"] == "skipped"
    assert (
        fetch(database_url, "SELECT consent FROM leads WHERE lead_id = %s", held["lead_id"])[0][0]
        == bad
    )

    # a suppressed number: consent is recorded but the lead stays out of the queue
    other = call(service, "POST", "/v1/leads", key, json={"phone": "5125550199"}).json()
    sup = call(service, "POST", "/v1/suppressions", key, json={"phones": ["5125550199"]})
    assert sup.status_code in (200, 201), sup.text
    dup = call(service, "POST", "/v1/leads", key, json={"phone": "5125550199", "consent": CONSENT})
    body = dup.json()
    assert body["lead_id"] == other["lead_id"] and body["status"] == "ineligible"
    assert body["reasons"] == ["suppressed"] and body["eligible"] is False
    assert body["checks"]["suppression"] == "hit"
    assert queued(database_url, other["lead_id"]) == 0

    # a lead suppressed at intake (suppressed + missing consent) is not held for consent alone
    insert = "INSERT INTO suppressions (org_id, phone) VALUES (%s, '+15125550111') RETURNING phone"
    fetch(database_url, insert, org.org_id)
    first = call(service, "POST", "/v1/leads", key, json={"phone": "5125550111"}).json()
    assert set(first["reasons"]) == {"suppressed", "missing_consent"}
    dup = call(service, "POST", "/v1/leads", key, json={"phone": "5125550111", "consent": CONSENT})
    assert dup.json()["checks"]["consent"] == "skipped"
    assert set(dup.json()["reasons"]) == {"suppressed", "missing_consent"}


def test_consent_later_sandbox_never_queued(service, org, database_url):
    key = org.key("write,read", test=True)
    held = call(service, "POST", "/v1/leads", key, json={"phone": "5125550122"}).json()
    dup = call(service, "POST", "/v1/leads", key, json={"phone": "5125550122", "consent": CONSENT})
    assert dup.json()["status"] == "new" and dup.json()["checks"]["consent"] == "added"
    assert queued(database_url, held["lead_id"]) == 0


def test_fifty_concurrent_consent_posts_queue_once(service, org, database_url):
    """50 concurrent consent-bearing duplicates: one queue entry, one consent, one 'added'."""
    key = org.key("write,read")
    held = call(service, "POST", "/v1/leads", key, json={"phone": "5125550133"}).json()

    async def storm():
        async with httpx.AsyncClient(timeout=60, headers=auth(key)) as client:
            posts = [
                client.post(
                    f"{service.url}/v1/leads",
                    json={
                        "phone": "5125550133",
                        "consent": {**CONSENT, "consent_text_version": f"v{i}"},
                    },
                )
                for i in range(50)
            ]
            return await asyncio.gather(*posts)

    answers = asyncio.run(storm())
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    bodies = [a.json() for a in answers]
    assert {b["lead_id"] for b in bodies} == {held["lead_id"]}
    added = [b for b in bodies if b["checks"]["consent"] == "added"]
    assert len(added) == 1
    assert queued(database_url, held["lead_id"]) == 1
    (consent,) = fetch(
        database_url, "SELECT consent FROM leads WHERE lead_id = %s", held["lead_id"]
    )[0]
    # the stored consent is the winning post's, whole
    assert consent["consent_text_version"].startswith("v") and len(consent) == 2
    assert (
        fetch(database_url, "SELECT count(*) FROM leads WHERE org_id = %s", org.org_id)[0][0] == 1
    )
    # one event for the one change (and one lead.queued), whatever the number of posts
    kinds = "SELECT type, count(*) FROM events WHERE lead_id = %s GROUP BY type"
    logged = dict(fetch(database_url, kinds, held["lead_id"]))
    assert logged["lead.consent_added"] == 1 and logged["lead.queued"] == 1
    assert logged["lead.duplicate"] == 50


# --- PATCH /v1/leads/{id} ---------------------------------------------------------------------

MERGE = {"Content-Type": "application/merge-patch+json"}


def patch(service, key, lead_id, body, **headers):
    return call(
        service, "PATCH", f"/v1/leads/{lead_id}", key, json=body, headers={**MERGE, **headers}
    )


def test_patch_every_field_and_merge_semantics(service, org, database_url):
    key = org.key("write,read")
    made = call(
        service,
        "POST",
        "/v1/leads",
        key,
        json={
            "phone": "5125550144",
            "first_name": "Jnae",
            "state": "TX",
            "email": "j@example.com",
            "consent": CONSENT,
            "attribution": {"utm_source": "g", "utm_medium": "cpc"},
            "custom_fields": {"plan": "gold", "size": 3},
        },
    ).json()
    lead_id = made["lead_id"]
    got = call(service, "GET", f"/v1/leads/{lead_id}", key)
    tag = got.headers["ETag"]
    changes = {
        "source": "crm",
        "external_id": "crm-1",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": None,
        "postal_code": "10001",
        "city": "New York",
        "address": "1 Main St",
        "state": "ny",
        "attribution": {"utm_medium": None, "utm_campaign": "spring"},
        "custom_fields": {"size": None, "color": "blue"},
        "consent": {"trustedform_cert_url": "https://cert.trustedform.com/abc"},
    }
    resp = patch(service, key, lead_id, changes, **{"If-Match": tag})
    assert resp.status_code == 200, resp.text
    updated = fetch(
        database_url,
        "SELECT data FROM events WHERE lead_id = %s AND type = 'lead.updated'",
        lead_id,
    )
    assert len(updated) == 1
    assert sorted(updated[0][0]["changed"]) == sorted(changes)
    assert "Jnae" not in json.dumps(updated[0][0])  # names of fields, never old values
    body = resp.json()
    assert resp.headers["ETag"] != tag
    assert body["first_name"] == "Jane" and body["last_name"] == "Doe"
    assert body["email"] is None and body["source"] == "crm" and body["external_id"] == "crm-1"
    assert (body["postal_code"], body["city"], body["address"]) == (
        "10001",
        "New York",
        "1 Main St",
    )
    assert body["state"] == "NY"
    assert body["attribution"] == {"utm_source": "g", "utm_campaign": "spring"}
    assert body["custom_fields"] == {"plan": "gold", "color": "blue"}
    assert body["consent"] == {
        **CONSENT,
        "trustedform_cert_url": "https://cert.trustedform.com/abc",
    }
    assert body["phone"] == "+15125550144" and body["status"] == "new"
    # a state change recomputes the calling window: New York is Eastern only
    assert body["timezones"] == ["America/New_York"] and body["timezone"] == "America/New_York"
    # stale If-Match: 412, nothing changed
    stale = patch(service, key, lead_id, {"first_name": "X"}, **{"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert call(service, "GET", f"/v1/leads/{lead_id}", key).json()["first_name"] == "Jane"
    # the current one works; an empty patch changes nothing and keeps the ETag
    now_tag = call(service, "GET", f"/v1/leads/{lead_id}", key).headers["ETag"]
    same = patch(service, key, lead_id, {}, **{"If-Match": now_tag})
    assert same.status_code == 200 and same.headers["ETag"] == now_tag
    assert same.json()["queued_at"] is not None  # read back whole, queue state included
    # deleting whole objects
    gone = patch(service, key, lead_id, {"attribution": None, "custom_fields": None}).json()
    assert gone["attribution"] is None and gone["custom_fields"] is None


def test_patch_refusals(service, org, database_url):
    key, reader = org.key("write,read"), org.key("read")
    rival = make_org(database_url, "rival").key("write,read")
    lead_id = call(service, "POST", "/v1/leads", key, json=lead("5125550155")).json()["lead_id"]
    phone = patch(service, key, lead_id, {"phone": "5125550156"})
    assert phone.status_code == 422 and phone.json()["errors"][0]["param"] == "phone"
    assert phone.json()["errors"][0]["code"] == "immutable"
    # validation as on POST: the same problem bodies
    bad = {
        "state": "ZZ",
        "email": "nope",
        "custom_fields": {"x" * 41: 1},
        "first_name": 7,
        "consent": {"nonsense": 1},
    }
    got = patch(service, key, lead_id, bad)
    assert got.status_code == 422, got.text
    named = {e["pointer"] for e in got.json()["errors"]}
    assert {"#/first_name", "#/consent/nonsense"} <= named
    posted = call(service, "POST", "/v1/leads", key, json={"phone": "5125550157", **bad}).json()
    assert {e["pointer"] for e in posted["errors"]} == named
    semantic = patch(service, key, lead_id, {"state": "ZZ", "email": "nope"})
    posted = call(
        service,
        "POST",
        "/v1/leads",
        key,
        json={"phone": "5125550157", "state": "ZZ", "email": "nope"},
    )
    assert semantic.json()["errors"] == posted.json()["errors"]
    assert patch(service, key, lead_id, {"status": "new"}).json()["errors"][0]["param"] == "status"
    assert patch(service, key, lead_id, [1]).status_code == 422
    # media type, scope, tenancy
    plain = call(
        service,
        "PATCH",
        f"/v1/leads/{lead_id}",
        key,
        content=b"first_name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert plain.status_code == 415
    assert patch(service, reader, lead_id, {"first_name": "A"}).status_code == 403
    assert patch(service, rival, lead_id, {"first_name": "A"}).status_code == 404
    assert patch(service, key, "not-a-uuid", {"first_name": "A"}).status_code == 404
    # dialing and completed leads are locked
    dialer = org.key("dial")
    claimed = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 1}).json()
    assert claimed["data"][0]["lead_id"] == lead_id
    locked = patch(service, key, lead_id, {"first_name": "A"})
    assert locked.status_code == 409 and locked.json()["code"] == "lead_locked"
    call(
        service, "POST", f"/v1/dial-queue/{lead_id}/complete", dialer, json={"outcome": "voicemail"}
    )
    assert patch(service, key, lead_id, {"first_name": "A"}).status_code == 409


def test_patch_consent_reruns_gates(service, org, database_url):
    key = org.key("write,read")
    held = call(service, "POST", "/v1/leads", key, json={"phone": "5125550166"}).json()
    assert held["reasons"] == ["missing_consent"]
    given = patch(service, key, held["lead_id"], {"consent": CONSENT}).json()
    assert given["status"] == "new" and given["eligible"] and given["queued_at"] is not None
    assert given["checks"]["consent"] == "present"
    # taking consent away (the poster's own correction) takes the lead out of the queue
    taken = patch(service, key, held["lead_id"], {"consent": None}).json()
    assert taken["status"] == "ineligible" and taken["reasons"] == ["missing_consent"]
    assert taken["queued_at"] is None and queued(database_url, held["lead_id"]) == 0
    # invalid consent, then a suppressed number: consent is kept but the lead stays out
    bad = patch(service, key, held["lead_id"], {"consent": {"consent_timestamp": "x"}}).json()
    assert bad["reasons"] == ["invalid_consent"] and bad["checks"]["consent"] == "invalid"
    assert (
        call(service, "POST", "/v1/suppressions", key, json={"phones": ["5125550166"]}).status_code
        < 300
    )
    last = patch(service, key, held["lead_id"], {"consent": CONSENT}).json()
    assert last["reasons"] == ["suppressed"] and last["queued_at"] is None


def test_patch_races_with_if_match(service, org):
    """Two editors with the same ETag: exactly one wins, the other gets 412."""
    key = org.key("write,read")
    lead_id = call(service, "POST", "/v1/leads", key, json=lead("5125550170")).json()["lead_id"]
    tag = call(service, "GET", f"/v1/leads/{lead_id}", key).headers["ETag"]

    async def race():
        async with httpx.AsyncClient(timeout=60, headers={**auth(key), **MERGE}) as client:
            return await asyncio.gather(
                *[
                    client.patch(
                        f"{service.url}/v1/leads/{lead_id}",
                        headers={"If-Match": tag},
                        json={"first_name": f"n{i}"},
                    )
                    for i in range(10)
                ]
            )

    codes = sorted(r.status_code for r in asyncio.run(race()))
    assert codes == [200] + [412] * 9


# --- erasure ----------------------------------------------------------------------------------

PERSONAL = (
    "first_name",
    "last_name",
    "email",
    "state",
    "postal_code",
    "city",
    "address",
    "external_id",
    "attribution",
    "custom_fields",
    "phone_extension",
)


def test_erasure(service, org, database_url):
    key, admin = org.key("write,read"), org.key("admin")
    rival = make_org(database_url, "rival")
    full = {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "state": "TX",
        "postal_code": "78701",
        "city": "Austin",
        "address": "1 Congress Ave",
        "external_id": "crm-9",
        "attribution": {"utm_source": "g"},
        "custom_fields": {"note": "call after 5"},
    }
    consent = {
        **CONSENT,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "trustedform_cert_url": "https://cert.trustedform.com/abc",
    }
    live = call(
        service,
        "POST",
        "/v1/leads",
        key,
        json={"phone": "(512) 555-0190 ext. 12", **full, "consent": consent},
    ).json()
    sandbox = call(
        service,
        "POST",
        "/v1/leads",
        org.key("write,read", test=True),
        json={"phone": "5125550190", **full},
    ).json()
    theirs = call(
        service, "POST", "/v1/leads", rival.key("write,read"), json={"phone": "5125550190", **full}
    ).json()
    assert queued(database_url, live["lead_id"]) == 1

    assert (
        call(service, "POST", "/v1/erasures", key, json={"phone": "5125550190"}).status_code == 403
    )
    first = call(service, "POST", "/v1/erasures", admin, json={"phone": "+1 512 555 0190"})
    assert first.status_code == 200, first.text
    record = first.json()
    assert record["leads_erased"] == 2 and record["suppressed"] == 1
    for lead_id in (live["lead_id"], sandbox["lead_id"]):
        got = call(service, "GET", f"/v1/leads/{lead_id}", key).json()
        assert all(got[name] is None for name in PERSONAL), got
        assert got["phone_raw"] == "" and got["status"] == "ineligible"
        assert "suppressed" in got["reasons"]
    got = call(service, "GET", f"/v1/leads/{live['lead_id']}", key).json()
    # kept for legal defence (L2I_ERASURE_KEEP=consent_proof): number and consent proof
    assert got["phone"] == "+15125550190"
    # the events of the erased leads keep no personal values
    logged = fetch(
        database_url,
        "SELECT type, data FROM events WHERE lead_id = ANY(%s::uuid[])",
        [live["lead_id"], sandbox["lead_id"]],
    )
    assert {"lead.created", "lead.erased"} <= {t for t, _ in logged}
    text = json.dumps([d for _, d in logged])
    for value in (
        "Ann",
        "Lee",
        "ann@example.com",
        "Austin",
        "Congress",
        "78701",
        "crm-9",
        "call after 5",
        "203.0.113.7",
        "Mozilla",
        "555-0190",
        "ext. 12",
    ):
        assert value not in text, value
    assert got["consent"] == {**CONSENT, "trustedform_cert_url": "https://cert.trustedform.com/abc"}
    assert queued(database_url, live["lead_id"]) == 0
    # another org's lead is untouched
    assert (
        fetch(database_url, "SELECT first_name FROM leads WHERE lead_id = %s", theirs["lead_id"])[
            0
        ][0]
        == "Ann"
    )
    assert fetch(database_url, "SELECT reason FROM suppressions WHERE org_id = %s", org.org_id) == [
        ("erasure",)
    ]
    # a second erasure is a no-op with the same answer
    again = call(service, "POST", "/v1/erasures", admin, json={"phone": "512.555.0190"})
    assert again.status_code == 200 and again.json() == record
    assert (
        fetch(database_url, "SELECT count(*) FROM erasures WHERE org_id = %s", org.org_id)[0][0]
        == 1
    )
    # a new post of the number is a new lead, stored suppressed (not a duplicate of the erased)
    later = call(
        service, "POST", "/v1/leads", key, json={"phone": "5125550190", "consent": CONSENT}
    )
    assert later.status_code == 201, later.text
    assert later.json()["status"] == "ineligible" and later.json()["reasons"] == ["suppressed"]
    # an erased lead cannot be patched
    locked = patch(service, key, live["lead_id"], {"first_name": "Ann"})
    assert locked.status_code == 409
    # by email: the lead with that address and every other lead of its number
    call(service, "POST", "/v1/leads", key, json={"phone": "5125550191", "email": "Bo@Example.com"})
    call(service, "POST", "/v1/leads", key, json={"phone": "5125550192", "email": "bo@example.com"})
    by_email = call(service, "POST", "/v1/erasures", admin, json={"email": "BO@example.com"})
    assert by_email.json()["leads_erased"] == 2 and by_email.json()["suppressed"] == 2
    bad = call(service, "POST", "/v1/erasures", admin, json={"phone": "12"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["param"] == "phone"
    assert call(service, "POST", "/v1/erasures", admin, json={}).status_code == 422


def test_erasure_keeping_nothing(server_factory, database_url, redis_url, org):
    service = server_factory(
        service_env(database_url, redis_url, L2I_CALLING_HOURS="off", L2I_ERASURE_KEEP="nothing")
    )
    key, admin = org.key("write,read"), org.key("admin")
    made = call(
        service,
        "POST",
        "/v1/leads",
        key,
        json={"phone": "5125550193", "first_name": "C", "consent": CONSENT},
    ).json()
    assert (
        call(service, "POST", "/v1/erasures", admin, json={"phone": "5125550193"}).json()[
            "leads_erased"
        ]
        == 1
    )
    got = call(service, "GET", f"/v1/leads/{made['lead_id']}", key).json()
    assert got["phone"] == "" and got["consent"] is None and got["first_name"] is None
    assert fetch(database_url, "SELECT phone FROM erasures WHERE org_id = %s", org.org_id) == [
        (None,)
    ]


def test_erase_cli(org, database_url):
    import subprocess
    import sys

    fetch(
        database_url,
        "INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw,"
        " phone_valid, first_name, status, eligible, reasons, checks)"
        " VALUES (%s, gen_random_uuid(), false, 'k', '+15125550194', '512 555 0194', true,"
        " 'Dee', 'ineligible', false,"
        " '{missing_consent}', '{}') RETURNING lead_id",
        org.org_id,
    )
    env = {"L2I_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "lead2inbound.cli", "erase", "--org", org.org_id, "(512) 555-0194"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '"leads_erased": 1' in out.stdout
    assert fetch(
        database_url, "SELECT first_name, phone_raw FROM leads WHERE org_id = %s", org.org_id
    ) == [(None, "")]
    again = subprocess.run(
        [sys.executable, "-m", "lead2inbound.cli", "erase", "--org", org.org_id, "5125550194"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert again.stdout == out.stdout


# --- export -----------------------------------------------------------------------------------

COMPARED = (
    "phone",
    "phone_raw",
    "phone_extension",
    "source",
    "external_id",
    "first_name",
    "last_name",
    "email",
    "state",
    "postal_code",
    "city",
    "address",
    "consent",
    "attribution",
    "custom_fields",
)


def _varied(i):
    body = {
        "phone": f"(512) {555 if i % 2 else 556}-{i:04d}",
        "source": f"s{i % 3}",
        "first_name": f'Ann, "{i}"',
        "state": ["TX", "NY", "ca"][i % 3],
        "consent": {
            "consent_timestamp": "2026-07-05T12:00:00Z",
            "consent_text": "I agree,\nline two",
            "sellers": ["A Co", "B Co"],
        },
        "custom_fields": {"plan": f"p{i % 5}", **({"note": "x;y"} if i % 7 == 0 else {})},
    }
    if i % 4 == 0:
        body.update(
            email=f"a{i}@example.com",
            address="1 Main St",
            city="Austin",
            postal_code="78701",
            external_id=f"crm-{i}",
            last_name="Lee",
            attribution={"utm_source": "g", "landing_page": "https://e.com/?a=1&b=2"},
        )
    if i % 11 == 0:
        body["phone"] = f"512-557-{i:04d} ext. 9"
    if i % 13 == 0:
        body.pop("consent")
    return body


def test_export_round_trip_csv(service, org, database_url):
    """10,000 leads exported as CSV, imported into another org as is: equal field by field."""
    key = org.key("write,read")
    n = 10_000
    for start in range(0, n, 1000):
        batch = call(
            service,
            "POST",
            "/v1/leads/batch",
            key,
            json={"leads": [_varied(i) for i in range(start, start + 1000)]},
        )
        assert batch.status_code == 200 and batch.json()["summary"]["failed"] == 0, batch.text[:500]
    exported = httpx.get(
        f"{service.url}/v1/leads/export?format=csv", headers=auth(key), timeout=120
    )
    assert exported.status_code == 200, exported.text[:500]
    assert exported.headers["content-type"].startswith("text/csv")
    text = exported.text
    header = text.split("\r\n", 1)[0].split(",")
    assert (
        header[0] == "phone" and "custom_fields__plan" in header and "consent_timestamp" in header
    )
    other = make_org(database_url, "copy")
    imported = call(
        service,
        "POST",
        "/v1/leads/import",
        other.key("write,read"),
        content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text[:1000]
    summary = imported.json()
    assert summary["created"] == n and summary["failed"] == 0, summary
    cols = ", ".join(COMPARED)
    mine = {
        r[0]: r
        for r in fetch(database_url, f"SELECT {cols} FROM leads WHERE org_id = %s", org.org_id)
    }
    theirs = {
        r[0]: r
        for r in fetch(database_url, f"SELECT {cols} FROM leads WHERE org_id = %s", other.org_id)
    }
    assert mine.keys() == theirs.keys() and len(mine) == n
    for phone, row in mine.items():
        assert theirs[phone] == row, (row, theirs[phone])
    # the same filters as the listing
    only = httpx.get(
        f"{service.url}/v1/leads/export",
        params={"source": "s1", "format": "ndjson"},
        headers=auth(key),
        timeout=60,
    )
    lines = only.text.splitlines()
    assert only.headers["content-type"].startswith("application/x-ndjson")
    assert len(lines) == sum(1 for i in range(n) if i % 3 == 1)
    first = json.loads(lines[0])
    assert first["source"] == "s1" and first["lead_id"] and first["status"]
    by_accept = httpx.get(
        f"{service.url}/v1/leads/export?phone=5125550001",
        headers={**auth(key), "Accept": "application/x-ndjson"},
    )
    assert [json.loads(x)["phone"] for x in by_accept.text.splitlines()] == ["+15125550001"]
    bad = httpx.get(f"{service.url}/v1/leads/export?format=xml", headers=auth(key))
    assert bad.status_code == 422 and bad.json()["errors"][0]["param"] == "format"
    rival = make_org(database_url, "rival").key("read")
    empty = httpx.get(f"{service.url}/v1/leads/export?format=ndjson", headers=auth(rival))
    assert empty.status_code == 200 and empty.text == ""


# --- unsold leads pushed back -----------------------------------------------------------------


def _requeue_key(org, database_url):
    key = org.key("write,read")
    key_id = key.split("_")[2]
    fetch(
        database_url,
        "UPDATE api_keys SET requeue_duplicates = true WHERE key_id = %s RETURNING key_id",
        key_id,
    )
    return key


def test_requeue_duplicates(service, org, database_url):
    plain, dialer = org.key("write,read"), org.key("dial")
    router = _requeue_key(org, database_url)
    made = {}
    for phone in ("5125550301", "5125550302", "5125550303"):
        made[phone] = call(service, "POST", "/v1/leads", plain, json=lead(phone)).json()["lead_id"]
    claimed = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 3}).json()
    assert len(claimed["data"]) == 3
    outcomes = {"5125550301": "unreachable", "5125550302": "do_not_call", "5125550303": "qualified"}
    for phone, outcome in outcomes.items():
        done = call(
            service,
            "POST",
            f"/v1/dial-queue/{made[phone]}/complete",
            dialer,
            json={"outcome": outcome},
        )
        assert done.status_code == 200, done.text
    # an ordinary key's re-post changes nothing
    same = call(service, "POST", "/v1/leads", plain, json=lead("5125550301")).json()
    assert same["status"] == "unreachable" and "requeue" not in same["checks"]
    assert queued(database_url, made["5125550301"]) == 0
    # the router's re-post: back in the queue, answered as a duplicate with the new status
    back = call(service, "POST", "/v1/leads", router, json=lead("5125550301"))
    assert back.status_code == 200
    body = back.json()
    assert body["outcome"] == "duplicate" and body["lead_id"] == made["5125550301"]
    assert body["status"] == "new" and body["checks"]["requeue"] == "requeued"
    assert queued(database_url, made["5125550301"]) == 1
    # again while queued: a plain duplicate
    again = call(service, "POST", "/v1/leads", router, json=lead("5125550301")).json()
    assert again["status"] == "new" and "requeue" not in again["checks"]
    # do_not_call and a sale are never requeued
    for phone, outcome in (("5125550302", "do_not_call"), ("5125550303", "qualified")):
        got = call(service, "POST", "/v1/leads", router, json=lead(phone)).json()
        assert got["status"] == outcome and "requeue" not in got["checks"]
        assert queued(database_url, made[phone]) == 0
    claimed = call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 3}).json()
    assert [c["lead_id"] for c in claimed["data"]] == [made["5125550301"]]


def test_requeue_races_queue_once(service, org, database_url):
    plain, dialer = org.key("write,read"), org.key("dial")
    router = _requeue_key(org, database_url)
    lead_id = call(service, "POST", "/v1/leads", plain, json=lead("5125550310")).json()["lead_id"]
    call(service, "POST", "/v1/dial-queue/claim", dialer, json={"limit": 1})
    call(
        service, "POST", f"/v1/dial-queue/{lead_id}/complete", dialer, json={"outcome": "voicemail"}
    )

    async def storm():
        async with httpx.AsyncClient(timeout=60, headers=auth(router)) as client:
            return await asyncio.gather(
                *[
                    client.post(f"{service.url}/v1/leads", json=lead("5125550310"))
                    for _ in range(30)
                ]
            )

    bodies = [r.json() for r in asyncio.run(storm())]
    assert sum(1 for b in bodies if b["checks"].get("requeue") == "requeued") == 1
    assert queued(database_url, lead_id) == 1


# --- retention --------------------------------------------------------------------------------

OLD_LEADS = """
INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, phone_valid,
                   first_name, email, consent, status, eligible, reasons, checks, created_at)
SELECT %s, gen_random_uuid(), false, 'k', '+1512' || lpad((6000000 + g)::text, 7, '0'),
       '512' || (6000000 + g), true, 'Old', 'old@example.com',
       '{"consent_timestamp": "2020-01-01T00:00:00Z", "ip_address": "203.0.113.9"}',
       'new', true, '{}', '{}', now() - make_interval(days => %s)
FROM generate_series(1, %s) AS g
RETURNING lead_id
"""


def test_retention_purge_under_load(server_factory, database_url, redis_url, org):
    """Leads older than L2I_LEAD_RETENTION_DAYS are reduced in small batches while posts keep
    coming; nothing fails and nothing newer than the window is touched."""
    old = [r[0] for r in fetch(database_url, OLD_LEADS, org.org_id, 40, 600)]
    fetch(
        database_url,
        "INSERT INTO dial_queue (org_id, lead_id, phone) SELECT org_id, lead_id,"
        " phone FROM leads WHERE lead_id = ANY(%s) RETURNING lead_id",
        old[:50],
    )
    young = fetch(database_url, OLD_LEADS.replace("6000000", "7000000"), org.org_id, 29, 20)
    service = server_factory(
        service_env(
            database_url,
            redis_url,
            L2I_CALLING_HOURS="off",
            L2I_LEAD_RETENTION_DAYS="30",
            L2I_RETENTION_BATCH="50",
            L2I_RETENTION_INTERVAL_S="0.2",
        )
    )
    key = org.key("write,read")

    async def load():
        async with httpx.AsyncClient(timeout=60, headers=auth(key)) as client:
            answers = []
            for i in range(0, 200, 20):
                answers += await asyncio.gather(
                    *[
                        client.post(
                            f"{service.url}/v1/leads",
                            json=lead(f"51255{i + j:05d}", first_name="New"),
                        )
                        for j in range(20)
                    ]
                )
            return answers

    answers = asyncio.run(load())
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers][:3]
    left = (
        "SELECT count(*) FROM leads WHERE org_id = %s AND erased_at IS NULL AND first_name = 'Old'"
    )
    deadline = time.monotonic() + 120
    while fetch(database_url, left, org.org_id)[0][0] > len(young):
        assert time.monotonic() < deadline, "the purge did not finish"
        time.sleep(0.5)
    rows = fetch(
        database_url,
        "SELECT first_name, email, phone, consent, status, reasons"
        " FROM leads WHERE lead_id = ANY(%s)",
        old,
    )
    assert {r[:2] for r in rows} == {(None, None)}
    assert all(r[2].startswith("+1512") for r in rows)  # the number is kept (consent proof)
    assert {tuple(sorted(r[3])) for r in rows} == {("consent_timestamp",)}
    assert {(r[4], tuple(r[5])) for r in rows} == {("ineligible", ("expired",))}
    assert (
        fetch(database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = ANY(%s)", old)[0][0]
        == 0
    )
    # nothing newer than the window is touched
    kept = fetch(
        database_url,
        "SELECT first_name, erased_at FROM leads WHERE lead_id = ANY(%s)",
        [r[0] for r in young],
    )
    assert kept == [("Old", None)] * len(young)
    new = fetch(
        database_url,
        "SELECT count(*) FROM leads WHERE org_id = %s AND first_name = 'New' AND erased_at IS NULL",
        org.org_id,
    )
    assert new[0][0] == 200
    # suppression list untouched: retention is not an opt-out
    assert (
        fetch(database_url, "SELECT count(*) FROM suppressions WHERE org_id = %s", org.org_id)[0][0]
        == 0
    )


def test_requeue_key_by_the_admin_api(service, org, database_url):
    admin = org.key("admin")
    made = call(
        service,
        "POST",
        "/v1/api-keys",
        admin,
        json={"name": "router", "scopes": ["write"], "requeue_duplicates": True},
    )
    assert made.status_code == 201, made.text
    assert made.json()["requeue_duplicates"] is True
    flag = "SELECT requeue_duplicates FROM api_keys WHERE key_id = %s"
    assert fetch(database_url, flag, made.json()["key_id"]) == [(True,)]
    plain = call(service, "POST", "/v1/api-keys", admin, json={"name": "p", "scopes": ["write"]})
    assert plain.json()["requeue_duplicates"] is False
    public = call(
        service,
        "POST",
        "/v1/api-keys",
        admin,
        json={
            "name": "form",
            "scopes": ["write"],
            "kind": "publishable",
            "allowed_origins": ["https://www.example.com"],
            "requeue_duplicates": True,
        },
    )
    assert public.status_code == 422
    assert public.json()["errors"][0]["param"] == "requeue_duplicates"


def test_requeue_duplicates_cli(org, database_url):
    import subprocess
    import sys

    key_id = org.key("write").split("_")[2]
    env = {"L2I_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "lead2inbound.cli", "requeue-duplicates", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    flag = "SELECT requeue_duplicates FROM api_keys WHERE key_id = %s"
    assert run("--key", key_id, "on").returncode == 0
    assert fetch(database_url, flag, key_id) == [(True,)]
    assert run("--key", key_id, "off").returncode == 0
    assert fetch(database_url, flag, key_id) == [(False,)]
    assert run("--key", "nosuchkey000", "on").returncode != 0
    assert run("--source", "not-a-uuid", "on").returncode != 0
    assert run("on").returncode != 0
