"""Lead sources over HTTP: create/list/show/delete, mapped leads through POST /v1/leads's path,
the same 422s and rate limits, preview, tenant isolation. Real Granian, Postgres, Redis."""

from __future__ import annotations

import httpx
import jsonschema

from tests.support.source_fixtures import source_org, source_service  # noqa: F401
from tests.support.sources import create_source, stored_leads, the_lead
from tests.support.stack import auth, fetch, make_org

MAPPING = {
    "phone": {"first": ["/contact/phones/0/number", "/contact/mobile"]},
    "first_name": {"split_name": "/contact/full_name", "part": "first"},
    "last_name": {"split_name": "/contact/full_name", "part": "last"},
    "email": "/contact/email",
    "state": "/contact/region",
    "consent.consent_timestamp": {"path": "/submitted", "as": "datetime"},
    "consent.source_url": "/page",
    "attribution.utm_source": "/utm/source",
    "custom_fields.plan": "/plan",
}
OPTIONS = {"unmapped_from": "/extra"}


def payload(number: str = "(512) 555-0143", **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "contact": {
            "full_name": "Jane Q Doe",
            "phones": [{"number": number, "kind": "home"}],
            "email": "jane@example.com",
            "region": "TX",
        },
        "submitted": 1751716800,
        "page": "https://example.com/quote",
        "utm": {"source": "google"},
        "plan": "gold",
        "extra": {"roof": "metal", "sqft": 2100},
    }
    body.update(over)
    return body


def test_source_lifecycle_and_a_mapped_lead(service, database_url, org):
    admin = org.key("admin")
    writer = org.key("write")
    made = create_source(service.url, admin, name="crm-webhook", mapping=MAPPING, options=OPTIONS)
    sid = made["source_id"]
    assert made["ingest_url"] == f"/v1/sources/{sid}/leads"
    assert made["format"] == "json" and made["signature"] == "none" and made["secrets"] == []

    listed = httpx.get(f"{service.url}/v1/sources", headers=auth(admin)).json()["data"]
    assert [s["source_id"] for s in listed] == [sid]
    shown = httpx.get(f"{service.url}/v1/sources/{sid}", headers=auth(admin)).json()
    assert shown["mapping"] == MAPPING and shown["options"] == OPTIONS

    resp = httpx.post(f"{service.url}{made['ingest_url']}", json=payload(), headers=auth(writer))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["outcome"] == "created" and body["phone"] == "+15125550143"
    assert resp.headers["Location"] == f"/v1/leads/{body['lead_id']}"
    assert "X-RateLimit-Remaining" in resp.headers

    lead = the_lead(database_url, org.org_id)
    assert lead["source"] == "crm-webhook"
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Q Doe")
    assert lead["email"] == "jane@example.com" and lead["state"] == "TX"
    assert lead["phone_raw"] == "(512) 555-0143"
    assert lead["consent"] == {
        "consent_timestamp": "2025-07-05T12:00:00Z",
        "source_url": "https://example.com/quote",
    }
    assert lead["attribution"] == {"utm_source": "google"}
    # the mapped custom field and the unmapped ones under /extra
    assert lead["custom_fields"] == {"plan": "gold", "roof": "metal", "sqft": 2100}
    assert lead["status"] == "new" and lead["reasons"] == []

    again = httpx.post(f"{service.url}{made['ingest_url']}", json=payload(), headers=auth(writer))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["lead_id"] == body["lead_id"]

    gone = httpx.delete(f"{service.url}/v1/sources/{sid}", headers=auth(admin))
    assert gone.status_code == 200 and gone.json() == {"source_id": sid, "deleted": True}
    after = httpx.post(f"{service.url}{made['ingest_url']}", json=payload(), headers=auth(writer))
    assert after.status_code == 404
    assert httpx.get(f"{service.url}/v1/sources/{sid}", headers=auth(admin)).status_code == 404
    assert len(stored_leads(database_url, org.org_id)) == 1  # its leads stay


def test_impossible_phone_is_the_same_422_pointing_at_the_source(service, database_url, org):
    admin, writer = org.key("admin"), org.key("write")
    made = create_source(service.url, admin, name="crm", mapping=MAPPING)
    via_source = httpx.post(
        f"{service.url}{made['ingest_url']}", json=payload("12"), headers=auth(writer)
    )
    direct = httpx.post(
        f"{service.url}/v1/leads",
        json={"phone": "12", "consent": {"consent_timestamp": "2026-07-05T12:00:00Z"}},
        headers=auth(writer),
    )
    assert via_source.status_code == direct.status_code == 422
    a, b = via_source.json(), direct.json()
    assert a["code"] == b["code"] == "invalid_phone"
    assert a["title"] == b["title"] and a["type"] == b["type"]
    [err] = a["errors"]
    [direct_err] = b["errors"]
    assert err["pointer"] == direct_err["pointer"] == "#/phone"
    assert (err["code"], err["detail"]) == (direct_err["code"], direct_err["detail"])
    assert err["param"] == "/contact/phones/0/number"  # the source's own path
    assert a["instance"] == made["ingest_url"]
    assert via_source.headers["content-type"].startswith("application/problem+json")
    assert "X-RateLimit-Remaining" in via_source.headers
    assert stored_leads(database_url, org.org_id) == []


def test_a_mapping_that_points_at_a_missing_path(service, database_url, org):
    admin, writer = org.key("admin"), org.key("write")
    made = create_source(
        service.url,
        admin,
        name="crm",
        mapping={**MAPPING, "phone": "/contact/telephone", "city": "/contact/town"},
    )
    resp = httpx.post(f"{service.url}{made['ingest_url']}", json=payload(), headers=auth(writer))
    assert resp.status_code == 422
    [err] = resp.json()["errors"]
    assert (err["pointer"], err["code"]) == ("#/phone", "missing_field")
    assert err["param"] == "/contact/telephone"
    assert stored_leads(database_url, org.org_id) == []

    # an optional field at a missing path is simply absent; the preview says so
    ok = create_source(service.url, admin, name="crm2", mapping={**MAPPING, "city": "/x/town"})
    sid = ok["source_id"]
    preview = httpx.post(
        f"{service.url}/v1/sources/{sid}/preview", json=payload(), headers=auth(admin)
    ).json()
    assert preview["valid"] is True and "no value at /x/town" in preview["warnings"]
    resp = httpx.post(f"{service.url}{ok['ingest_url']}", json=payload(), headers=auth(writer))
    assert resp.status_code == 201
    assert the_lead(database_url, org.org_id)["city"] is None


def test_preview_shows_the_lead_and_every_problem_and_stores_nothing(service, database_url, org):
    admin = org.key("admin")
    made = create_source(service.url, admin, name="crm", mapping=MAPPING)
    url = f"{service.url}/v1/sources/{made['source_id']}/preview"

    good = httpx.post(url, json=payload(), headers=auth(admin))
    assert good.status_code == 200
    body = good.json()
    assert body["valid"] is True and body["stored"] is False and body["problems"] == []
    assert body["phone"] == "+15125550143" and body["eligible"] is True
    assert body["lead"]["source"] == "crm" and body["lead"]["first_name"] == "Jane"
    assert body["sources"]["#/phone"] == "/contact/phones/0/number"
    assert body["checks"]["consent"] == "present"

    bad = payload("12", submitted="not a time")
    bad["contact"]["email"] = "nope"  # type: ignore[index]
    bad["contact"]["region"] = "ZZ"  # type: ignore[index]
    body = httpx.post(url, json=bad, headers=auth(admin)).json()
    assert body["valid"] is False
    by_pointer = {p["pointer"]: p for p in body["problems"]}
    assert set(by_pointer) == {"#/phone"}  # only the phone refuses a source's lead (issue 22)
    assert by_pointer["#/phone"]["code"] == "invalid_phone"
    # the other bad values are set aside, each named by the vendor's field, in the warnings
    assert any(w.startswith("/contact/email ") and "invalid__email" in w for w in body["warnings"])
    assert any("custom_fields.invalid__state" in w for w in body["warnings"])

    no_consent = payload(submitted=None)
    body = httpx.post(url, json=no_consent, headers=auth(admin)).json()
    assert body["valid"] is True and body["eligible"] is False
    assert body["reasons"] == ["invalid_consent"]  # a consent block without its time

    unreadable = httpx.post(
        url, content=b"{", headers={**auth(admin), "Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400 and unreadable.json()["code"] == "bad_request"
    assert httpx.post(url, headers=auth(admin)).status_code == 400  # no payload at all
    assert httpx.post(url, json=[1], headers=auth(admin)).status_code == 400
    assert stored_leads(database_url, org.org_id) == []
    assert fetch(database_url, "SELECT count(*) FROM leads")[0][0] == 0


def test_tenant_isolation(service, database_url, org):
    other = make_org(database_url, "other")
    made = create_source(service.url, org.key("admin"), name="crm", mapping=MAPPING)
    sid = made["source_id"]
    theirs_admin, theirs_write = other.key("admin"), other.key("write")
    u = service.url
    assert httpx.get(f"{u}/v1/sources/{sid}", headers=auth(theirs_admin)).status_code == 404
    assert httpx.delete(f"{u}/v1/sources/{sid}", headers=auth(theirs_admin)).status_code == 404
    assert (
        httpx.post(f"{u}/v1/sources/{sid}/preview", json=payload(), headers=auth(theirs_admin))
    ).status_code == 404
    resp = httpx.post(f"{u}/v1/sources/{sid}/leads", json=payload(), headers=auth(theirs_write))
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    assert httpx.get(f"{u}/v1/sources", headers=auth(theirs_admin)).json() == {"data": []}
    assert httpx.get(f"{u}/v1/sources/not-a-uuid", headers=auth(theirs_admin)).status_code == 404
    assert fetch(database_url, "SELECT count(*) FROM leads")[0][0] == 0
    # still there for its own org
    assert httpx.get(f"{u}/v1/sources/{sid}", headers=auth(org.key("admin"))).status_code == 200


def test_scopes_and_authentication(service, org):
    made = create_source(service.url, org.key("admin"), name="crm", mapping=MAPPING)
    u = service.url
    reader = org.key("read")
    assert httpx.get(f"{u}/v1/sources", headers=auth(reader)).status_code == 403
    assert (
        httpx.post(f"{u}/v1/sources", json={"name": "x"}, headers=auth(reader)).status_code == 403
    )
    resp = httpx.post(f"{u}{made['ingest_url']}", json=payload(), headers=auth(reader))
    assert resp.status_code == 403  # a key without write
    # no key and no signature scheme: nothing could vouch for the request
    resp = httpx.post(f"{u}{made['ingest_url']}", json=payload())
    assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"


def test_bad_mappings_are_422_naming_the_rule(service, org):
    admin = org.key("admin")
    cases = [
        ({"name": "x"}, "#/mapping"),  # no preset, no mapping
        ({"name": "x", "mapping": {"first_name": "/a"}}, "#/mapping/phone"),
        ({"name": "x", "mapping": {"phone": "/a", "shoe_size": "/b"}}, "#/mapping/shoe_size"),
        ({"name": "x", "mapping": {"phone": {"first": []}}}, "#/mapping/phone"),
        ({"name": "x", "mapping": {"phone": {"path": "/a", "as": "hex"}}}, "#/mapping/phone"),
        ({"name": "x", "mapping": {"phone": "/a"}, "options": {"bogus": 1}}, "#/options"),
        ({"name": "x", "preset": "typeform"}, "#/secret"),  # a signed preset needs its secret
        ({"name": "x", "preset": "nope"}, "#/preset"),
    ]
    for body, pointer in cases:
        resp = httpx.post(f"{service.url}/v1/sources", json=body, headers=auth(admin))
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["pointer"] == pointer, (body, resp.json())


def test_rate_limit_and_idempotency_are_post_v1_leads_own(service, database_url, org):
    made = create_source(service.url, org.key("admin"), name="crm", mapping=MAPPING)
    writer = org.key("write", rate_limit=3)
    u = f"{service.url}{made['ingest_url']}"
    h = {**auth(writer), "Idempotency-Key": "abc-1"}
    first = httpx.post(u, json=payload(), headers=h)
    assert first.status_code == 201
    replay = httpx.post(u, json=payload(), headers=h)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    # one budget with POST /v1/leads: the key's third request is its last this minute
    third = httpx.post(
        f"{service.url}/v1/leads",
        json={"phone": "5125550199", "consent": {"consent_timestamp": "2026-07-05T12:00:00Z"}},
        headers=auth(writer),
    )
    assert third.status_code == 201 and third.headers["X-RateLimit-Remaining"] == "0"
    limited = httpx.post(u, json=payload("5125550177"), headers=auth(writer))
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert len(stored_leads(database_url, org.org_id)) == 2


def test_form_sources_and_unmapped_bounds(service, database_url, org):
    admin, writer = org.key("admin"), org.key("write")
    made = create_source(
        service.url,
        admin,
        name="landing",
        format="form",
        mapping={
            "phone": "Phone",
            "first_name": {"split_name": "Full Name", "part": "first"},
            "last_name": {"split_name": "Full Name", "part": "last"},
            "consent.consent_timestamp": {"path": "Submitted", "as": "datetime"},
        },
    )
    fields = {"Phone": "512.555.0148", "Full Name": "Ana Maria Diaz", "Submitted": "1751716800"}
    fields.update({f"q{i}": f"answer {i}" for i in range(60)})  # more than 50 unmapped fields
    fields["x" * 41] = "a name too long for a custom field"
    resp = httpx.post(f"{service.url}{made['ingest_url']}", data=fields, headers=auth(writer))
    assert resp.status_code == 201, resp.text
    lead = the_lead(database_url, org.org_id)
    assert (lead["first_name"], lead["last_name"]) == ("Ana", "Maria Diaz")
    assert len(lead["custom_fields"]) == 50 and lead["custom_fields"]["q0"] == "answer 0"
    # multipart works for a form source too; a JSON body does not
    multi = httpx.post(
        f"{service.url}{made['ingest_url']}",
        files={"Phone": (None, "5125550149"), "Submitted": (None, "1751716800")},
        headers=auth(writer),
    )
    assert multi.status_code == 201, multi.text
    wrong = httpx.post(
        f"{service.url}{made['ingest_url']}", json={"Phone": "1"}, headers=auth(writer)
    )
    assert wrong.status_code == 415


def test_live_answers_match_the_openapi_document(service, database_url, org):
    doc = httpx.get(f"{service.url}/openapi.json").json()
    admin, writer = org.key("admin"), org.key("write")
    u = service.url

    def check(method, template, resp):
        entry = doc["paths"][template][method]["responses"]
        assert str(resp.status_code) in entry, (method, template, resp.status_code)
        media = resp.headers["content-type"].split(";")[0]
        content = entry[str(resp.status_code)].get("content", {})
        if media in content:
            schema = {**content[media]["schema"], "components": doc["components"]}
            jsonschema.validate(resp.json(), schema)

    made = httpx.post(
        f"{u}/v1/sources", json={"name": "crm", "mapping": MAPPING}, headers=auth(admin)
    )
    check("post", "/v1/sources", made)
    sid = made.json()["source_id"]
    one = "/v1/sources/{source_id}"
    check(
        "post", "/v1/sources", httpx.post(f"{u}/v1/sources", json={"name": ""}, headers=auth(admin))
    )
    check("get", "/v1/sources", httpx.get(f"{u}/v1/sources", headers=auth(admin)))
    check("get", one, httpx.get(f"{u}/v1/sources/{sid}", headers=auth(admin)))
    leads = "/v1/sources/{source_id}/leads"
    check(
        "post",
        leads,
        httpx.post(f"{u}/v1/sources/{sid}/leads", json=payload(), headers=auth(writer)),
    )
    check(
        "post",
        leads,
        httpx.post(f"{u}/v1/sources/{sid}/leads", json=payload(), headers=auth(writer)),
    )
    check(
        "post",
        leads,
        httpx.post(f"{u}/v1/sources/{sid}/leads", json=payload("1"), headers=auth(writer)),
    )
    check("post", leads, httpx.post(f"{u}/v1/sources/{sid}/leads", json=payload()))
    check("get", leads, httpx.get(f"{u}/v1/sources/{sid}/leads"))
    preview = "/v1/sources/{source_id}/preview"
    check(
        "post",
        preview,
        httpx.post(f"{u}/v1/sources/{sid}/preview", json=payload(), headers=auth(admin)),
    )
    check("delete", one, httpx.delete(f"{u}/v1/sources/{sid}", headers=auth(admin)))
    check("delete", one, httpx.delete(f"{u}/v1/sources/{sid}", headers=auth(admin)))
