"""The OpenAPI document: valid, complete, true to live answers; schemathesis; /docs renders."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import get_args

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from lead2inbound.access.auth import SCOPES
from lead2inbound.contract.schemas import DialOutcome, Scope
from lead2inbound.dialing.queue import OUTCOMES
from lead2inbound.ops.config import Config
from lead2inbound.web import openapi
from lead2inbound.web.app import create_app
from tests.support.browser import chromium, run_chromium
from tests.support.stack import QUICKSTART, auth, lead, make_org, service_env

JSON = "application/json"

ROOT = Path(__file__).resolve().parent.parent


ALL_SCOPES = "write,read,dial,admin"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    # Calling hours off: the dial-queue answers must not depend on the time the test runs.
    return server_factory(service_env(database_url, redis_url, L2I_CALLING_HOURS="off"))


def offline_app():
    return create_app(
        Config(database_url="postgresql://x/y", redis_url="redis://x", key_pepper="p")
    )


def test_every_routed_method_is_documented():
    app = offline_app()
    doc = openapi.build(app)
    validate(doc)
    missing = []
    for template, resource in openapi.routes(app):
        for method in openapi.routed_methods(resource):
            if method not in doc["paths"].get(template, {}):
                missing.append(f"{method.upper()} {template}")
    assert not missing, f"add an `openapi` entry next to these resources: {missing}"
    post = doc["paths"]["/v1/leads"]["post"]
    assert {"201", "200", "400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(
        post["responses"]
    )
    assert {"bearerAuth", "basicAuth"} == set(doc["components"]["securitySchemes"])
    lead_in = doc["components"]["schemas"]["LeadIn"]
    assert lead_in["required"] == ["phone"]
    assert all("description" in p for p in lead_in["properties"].values())
    assert "X-RateLimit-Remaining" in post["responses"]["201"]["headers"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    listing = doc["paths"]["/v1/leads"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "limit", "status", "source", "phone", "created_after", "created_before", "starting_after"
    }  # fmt: skip
    for template, ops in doc["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []):
                assert p.get("description") or p["name"] == "name", (template, p)
    # the documented enums are the sets the service uses
    assert set(get_args(DialOutcome)) == set(OUTCOMES)
    assert set(get_args(Scope)) == set(SCOPES)


def _schema_for(doc, path, method, status, media):
    resp = doc["paths"][path][method]["responses"][str(status)]
    schema = resp["content"][media]["schema"]
    return {**schema, "components": doc["components"]}


def test_live_answers_match_the_document(service, database_url):
    """Every documented answer shape is checked against a live answer of that status."""
    doc = httpx.get(f"{service.url}/openapi.json").json()
    validate(doc)
    org = make_org(database_url)
    key = org.key()
    seen: set[tuple[str, str, int]] = set()

    def check(method, path, resp, template=None):
        template = template or path
        media = resp.headers["content-type"].split(";")[0]
        documented = doc["paths"][template][method]["responses"]
        assert str(resp.status_code) in documented, (method, path, resp.status_code)
        entry = documented[str(resp.status_code)]
        for name, header in entry.get("headers", {}).items():
            if header.get("required"):
                assert name in resp.headers, (path, resp.status_code, name)
        if media in ("application/json", "application/problem+json"):
            schema = _schema_for(doc, template, method, resp.status_code, media)
            jsonschema.validate(resp.json(), schema)
        seen.add((method, template, resp.status_code))

    u = service.url
    h = auth(key)
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=h))
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=h))
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json={"phone": "1"}, headers=h))
    check(
        "post",
        "/v1/leads",
        httpx.post(
            f"{u}/v1/leads", content=b"{", headers={**h, "Content-Type": "application/json"}
        ),
    )
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", content=b"x", headers={**h, "Content-Type": "text/plain"}),
    )
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART))
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=auth(org.key("read"))),
    )
    slow = org.key(rate_limit=1)
    httpx.post(f"{u}/v1/leads", json=lead("5125550901"), headers=auth(slow))
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", json=lead("5125550902"), headers=auth(slow)),
    )
    batch = {"leads": [QUICKSTART, lead("12"), lead("5125550903")]}
    check("post", "/v1/leads/batch", httpx.post(f"{u}/v1/leads/batch", json=batch, headers=h))
    check("post", "/v1/leads/batch", httpx.post(f"{u}/v1/leads/batch", json={}, headers=h))
    csv_h = {**h, "Content-Type": "text/csv"}
    check(
        "post",
        "/v1/leads/import",
        httpx.post(f"{u}/v1/leads/import", content="phone\n5125550904\n12\n", headers=csv_h),
    )
    check(
        "post",
        "/v1/leads/import",
        httpx.post(f"{u}/v1/leads/import", content="name\nx\n", headers=csv_h),
    )
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        check("get", path, httpx.get(f"{u}{path}"))
    check("get", "/docs/assets/{name}", httpx.get(f"{u}/docs/assets/swagger-ui-bundle.js"))
    check("get", "/docs/assets/{name}", httpx.get(f"{u}/docs/assets/nope.js"))
    for status in (200, 201, 400, 401, 403, 415, 422, 429):
        assert any(s == status for _, _, s in seen), status


def test_live_answers_of_the_queue_suppression_and_key_endpoints(service, database_url):
    """Read-back, dial queue, suppressions, API keys: every documented success answer and the
    error answers (404, 403, 409, 415, 422, 400) against the document."""
    doc = httpx.get(f"{service.url}/openapi.json").json()
    org = make_org(database_url)
    full = auth(org.key(ALL_SCOPES))
    u = service.url
    seen: set[tuple[str, str, int]] = set()

    def check(method, template, resp, **args):
        assert resp.headers["x-request-id"]
        documented = doc["paths"][template][method]["responses"]
        assert str(resp.status_code) in documented, (method, template, resp.status_code, resp.text)
        for name, header in documented[str(resp.status_code)].get("headers", {}).items():
            if header.get("required"):
                assert name in resp.headers, (template, resp.status_code, name)
        media = resp.headers["content-type"].split(";")[0]
        schema = _schema_for(doc, template, method, resp.status_code, media)
        jsonschema.validate(resp.json(), schema)
        seen.add((method, template, resp.status_code))
        return resp.json()

    def call(method, template, expect, *, headers=full, **kw):
        resp = httpx.request(method, u + template.format(**kw.pop("args", {})), headers=headers,
                             timeout=20, **kw)  # fmt: skip
        assert resp.status_code == expect, (method, template, resp.status_code, resp.text)
        return check(method.lower(), template, resp)

    # leads: read one back, list with every filter, errors
    made = [
        httpx.post(f"{u}/v1/leads", json=lead(f"51255509{i:02d}", source="s"), headers=full).json()
        for i in range(3)
    ]
    ineligible = httpx.post(
        f"{u}/v1/leads",
        json={"phone": "5125550950", "attribution": {"utm_source": "g"}, "custom_fields": {"n": 1}},
        headers=full,
    ).json()
    one = "/v1/leads/{lead_id}"
    got = call("GET", one, 200, args={"lead_id": made[0]["lead_id"]})
    assert got["lead_id"] == made[0]["lead_id"] and got["queued_at"]
    call("GET", one, 200, args={"lead_id": ineligible["lead_id"]})
    call("GET", one, 404, args={"lead_id": str(uuid.uuid4())})
    call("GET", one, 404, args={"lead_id": "not-a-uuid"})
    call("GET", one, 403, args={"lead_id": made[0]["lead_id"]}, headers=auth(org.key("write")))
    page = call("GET", "/v1/leads", 200, params={"limit": 2})
    assert page["has_more"] and page["next_cursor"]
    last = call("GET", "/v1/leads", 200, params={"starting_after": page["next_cursor"]})
    assert last["next_cursor"] is None and not last["has_more"]
    filters = {"status": "new", "source": "s", "phone": "(512) 555-0900",
               "created_after": "2000-01-01T00:00:00Z",
               "created_before": "2999-01-01T00:00:00Z"}  # fmt: skip
    assert len(call("GET", "/v1/leads", 200, params=filters)["data"]) == 1
    for bad in ({"limit": 0}, {"phone": "12"}, {"created_after": "yesterday"},
                {"starting_after": "junk"}):  # fmt: skip
        call("GET", "/v1/leads", 422, params=bad)
    # found by schemathesis: an empty typed parameter and a repeated one were silently ignored
    call("GET", "/v1/leads", 422, params={"created_before": ""})
    call("GET", "/v1/leads", 422, params=[("limit", "1"), ("limit", "2")])
    call("GET", "/v1/suppressions", 422, params={"limit": ""})
    # ... and `GET /v1/leads/batch` (lead id "batch") is a 405, now documented
    call("GET", one, 405, args={"lead_id": "batch"})

    # the dial queue: claim, complete, release, and their errors
    claim = "/v1/dial-queue/claim"
    complete, release = "/v1/dial-queue/{lead_id}/complete", "/v1/dial-queue/{lead_id}/release"
    leased = call("POST", claim, 200, json={"limit": 2, "lease_seconds": 60})["data"]
    assert len(leased) == 2 and all(d["lease_id"] and d["status"] == "dialing" for d in leased)
    first, second = leased
    ids = {"lead_id": first["lead_id"]}
    call("POST", complete, 409, args=ids,
         json={"outcome": "qualified", "lease_id": str(uuid.uuid4())})  # fmt: skip
    call("POST", complete, 422, args=ids, json={"outcome": "sold"})
    call("POST", complete, 422, args=ids, json={"lease_seconds": 1})
    call("POST", complete, 400, args=ids, content=b"", headers={**full, "Content-Type": JSON})
    call("POST", complete, 415, args=ids, content=b"x", headers={**full, "Content-Type": "text/a"})
    call("POST", complete, 404, args={"lead_id": str(uuid.uuid4())}, json={"outcome": "qualified"})
    done = call("POST", complete, 200, args=ids,
                json={"outcome": "qualified", "lease_id": first["lease_id"]})  # fmt: skip
    assert done["status"] == "qualified" and done["queued_at"] is None
    call("POST", release, 409, args=ids)
    back = call("POST", release, 200, args={"lead_id": second["lead_id"]},
                json={"lease_id": second["lease_id"]})  # fmt: skip
    assert back["status"] == "new" and back["lease_expires_at"] is None
    again = call("POST", claim, 200, content=b"")["data"]  # an empty body: defaults
    assert len(again) == 2
    # attempts, callbacks and the retry policy
    attempts = "/v1/dial-queue/{lead_id}/attempts"
    tried_id = {"lead_id": again[0]["lead_id"]}
    call("POST", attempts, 422, args=tried_id, json={"result": "nope"})
    call("POST", attempts, 404, args={"lead_id": str(uuid.uuid4())}, json={"result": "busy"})
    tried = call("POST", attempts, 200, args=tried_id, json={"result": "no_answer", "dialer": "a"})
    assert tried["attempts"] == 1 and tried["next_attempt_at"] and tried["last_attempt_at"]
    call("POST", attempts, 409, args=tried_id, json={"result": "busy"})
    later = "2999-01-01T00:00:00+00:00"
    call("POST", complete, 422, args={"lead_id": again[1]["lead_id"]},
         json={"outcome": "callback_requested", "callback_at": later})  # fmt: skip
    policy = call("GET", "/v1/dial-policy", 200)
    assert policy["default"] is True
    call("PUT", "/v1/dial-policy", 200, json={"retry_after_s": [600], "max_attempts": 3})
    call("PUT", "/v1/dial-policy", 422, json={"retry_after_s": [], "max_attempts": 3})
    call("GET", "/v1/dial-policy", 403, headers=auth(org.key("dial")))
    call("POST", claim, 422, json={"limit": 0})
    call("POST", claim, 403, json={}, headers=auth(org.key("write,read,admin")))
    call("POST", claim, 401, json={}, headers={})

    # suppressions
    added = call("POST", "/v1/suppressions", 200,
                 json={"phones": ["5125550960", 5125550961, "12"], "reason": "asked"})  # fmt: skip
    assert added["added"] == ["+15125550960", "+15125550961"] and added["errors"][0]["index"] == 2
    again = call("POST", "/v1/suppressions", 200, json={"phones": ["5125550960"]})
    assert again["already_present"] == ["+15125550960"]
    call("POST", "/v1/suppressions", 422, json={"phones": ["12"]})
    call("POST", "/v1/suppressions", 422, json={"phones": []})
    listed = call("GET", "/v1/suppressions", 200, params={"limit": 1})
    assert listed["has_more"] and listed["next_cursor"]
    call("GET", "/v1/suppressions", 200, params={"starting_after": listed["next_cursor"]})
    call("GET", "/v1/suppressions", 422, params={"starting_after": "junk"})
    sup = "/v1/suppressions/{phone}"
    assert call("GET", sup, 200, args={"phone": "%2B15125550960"})["reason"] == "asked"
    call("GET", sup, 404, args={"phone": "5125550969"})
    call("GET", sup, 404, args={"phone": "12"})
    call("DELETE", sup, 403, args={"phone": "5125550960"}, headers=auth(org.key("write,read")))
    call("DELETE", sup, 200, args={"phone": "5125550960"})
    call("DELETE", sup, 404, args={"phone": "5125550960"})

    # API keys
    made_key = call("POST", "/v1/api-keys", 201, json={"name": "dialer", "scopes": ["dial"]})
    assert made_key["key"].startswith("l2i_live_")
    for bad in ({"name": "x", "scopes": ["root"]}, {"name": "", "scopes": ["read"]},
                {"name": "x", "scopes": []}, {"name": "x", "scopes": ["read"], "rate_limit": 0},
                {"name": "x\x00", "scopes": ["read"]}):  # fmt: skip
        call("POST", "/v1/api-keys", 422, json=bad)
    keys = call("GET", "/v1/api-keys", 200)["data"]
    assert made_key["key_id"] in {k["key_id"] for k in keys}
    call("GET", "/v1/api-keys", 403, headers=auth(org.key("write,read,dial")))
    gone = "/v1/api-keys/{key_id}"
    call("DELETE", gone, 200, args={"key_id": made_key["key_id"]})
    call("DELETE", gone, 404, args={"key_id": "nope"})
    call("DELETE", gone, 404, args={"key_id": "abcdefabcdef"})

    templates = {t for _, t, _ in seen}
    for template in doc["paths"]:
        if template.startswith(("/v1/dial-", "/v1/suppressions", "/v1/api-keys")):
            assert template in templates, template
    for status in (200, 201, 400, 401, 403, 404, 409, 415, 422):
        assert any(s == status for _, _, s in seen), status


def test_schemathesis_all_checks(service, database_url):
    """schemathesis with every check against every operation, a valid key via --auth."""
    key = make_org(database_url).key(ALL_SCOPES)
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(exe),
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "all",
        # ST202 (schema-valid data must be accepted) cannot hold here, see docs/openapi.md:
        # phone possibility is not expressible in JSON Schema, and a generated Idempotency-Key
        # reused with another body is a 422 by contract.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        os.environ.get("L2I_SCHEMATHESIS_EXAMPLES", "25"),
        "--auth",
        f"{key}:",
        "--workers",
        "1",
        "--seed",
        "1",
        "--no-color",
        "--suppress-health-check",
        "all",
        # the event stream never ends by design (Server-Sent Events): tests/test_event_stream.py
        "--exclude-path",
        "/v1/events/stream",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, cwd=tempfile.gettempdir()
    )
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]


def test_schemathesis_nul_and_deep_nesting(service, database_url):
    """Every operation with hostile variants of generated requests (tests/support/
    schemathesis_hostile.py): NUL in strings of bodies, queries and path parameters, and values
    nested deeper than the service's bound. Never a 5xx: a 400 or 422 problem instead."""
    key = make_org(database_url).key(ALL_SCOPES)
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(exe),
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--mode",
        "positive",
        "--generation-allow-x00",
        "true",
        "--max-examples",
        os.environ.get("L2I_SCHEMATHESIS_EXAMPLES", "25"),
        "--auth",
        f"{key}:",
        "--workers",
        "1",
        "--seed",
        "2",
        "--no-color",
        "--suppress-health-check",
        "all",
        # the event stream never ends by design (Server-Sent Events): tests/test_event_stream.py
        "--exclude-path",
        "/v1/events/stream",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hostile",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, cwd=tempfile.gettempdir(), env=env
    )
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]


# --- /docs in a real headless Chromium --------------------------------------------------------


def test_docs_page_renders_offline(service):
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root+apt)")
    html = httpx.get(f"{service.url}/docs").text
    assert "http://" not in html and "https://" not in html, "the page loads nothing from outside"
    text = run_chromium(
        browser, "--dump-dom", f"{service.url}/docs#/leads/post_v1_leads", budget_ms=15_000
    )
    Path(tempfile.gettempdir(), "l2i-docs-dom.html").write_text(text)
    assert "opblock-summary-path" in text and "/v1/leads" in text, text[-3000:]
    assert "LeadIn" in text and "consent_timestamp" in text
    if os.environ.get("L2I_DOCS_SCREENSHOT"):
        run_chromium(
            browser,
            f"--screenshot={ROOT / 'docs' / 'api-docs.png'}",
            "--window-size=1280,1600",
            f"{service.url}/docs#/leads/post_v1_leads",
            budget_ms=15_000,
        )
