"""Web forms straight from the browser: publishable keys, CORS, plain HTML forms, the consent
snippet (docs/web-forms.md). Real Granian, Postgres, Redis and a real headless Chromium; the
pages are served from their own origin (`http://127.0.0.1:<port A>`), the service from another.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import httpx
import pytest

from lead2inbound import _core
from tests.support.browser import chromium, dump_dom, pages, screenshot
from tests.support.stack import auth, fetch, lead, make_org, service_env

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = "application/problem+json"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}
EXPOSED = {"x-request-id", "location", "x-ratelimit-remaining", "x-ratelimit-limit", "retry-after"}


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url))


@pytest.fixture
def org(database_url):
    return make_org(database_url)


@pytest.fixture(scope="module")
def browser():
    found = chromium()
    if found is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root+apt)")
    return found


def leads_of(database_url: str, org_id: str) -> list[tuple]:
    return fetch(
        database_url,
        "SELECT phone, consent, source, api_key_id, status FROM leads WHERE org_id = %s "
        "ORDER BY created_at",
        org_id,
    )


def no_wildcard(resp: httpx.Response) -> None:
    """Never `*`, never credentials: the origin is echoed, keys travel in Authorization."""
    assert resp.headers.get("Access-Control-Allow-Origin") != "*"
    assert "Access-Control-Allow-Credentials" not in resp.headers


# --- a page that fetch()es the service from another origin -----------------------------------

FETCH_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>fetch</title></head><body>
<pre id="out">pending</pre>
<script>
fetch("SERVICE/v1/leads", {
  method: "POST",
  headers: {"Authorization": "Bearer KEY", "Content-Type": "application/json"},
  body: JSON.stringify({phone: "PHONE", source: "fetch-page",
                        consent: {consent_timestamp: new Date().toISOString()}})
}).then(function (r) {
  return r.json().then(function (b) {
    document.getElementById("out").textContent = JSON.stringify({
      status: r.status, lead_id: b.lead_id || null, code: b.code || null,
      remaining: r.headers.get("X-RateLimit-Remaining"),
      request_id: r.headers.get("X-Request-Id")});
  });
}).catch(function (e) {
  document.getElementById("out").textContent = JSON.stringify({blocked: String(e)});
});
</script></body></html>
"""


def page_result(dom: str) -> dict:
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def fetch_from_page(browser: str, site, service, key: str, phone: str) -> dict:
    path = f"/fetch-{phone}.html"
    site.pages[path] = (
        FETCH_PAGE.replace("SERVICE", service.url).replace("KEY", key).replace("PHONE", phone)
    )
    return page_result(dump_dom(browser, site.url(path)))


def test_publishable_key_from_an_allowed_origin_and_from_another(
    browser, service, org, database_url
):
    with pages() as site, pages() as elsewhere:
        key = org.form_key(site.origin)
        assert key.startswith("l2i_pk_live_")
        got = fetch_from_page(browser, site, service, key, "5125550101")
        assert got["status"] == 201, got
        assert got["lead_id"] and got["request_id"]
        assert got["remaining"] is not None and int(got["remaining"]) >= 0, got
        rows = leads_of(database_url, org.org_id)
        assert [(r[0], r[2]) for r in rows] == [("+15125550101", "fetch-page")]
        consent = rows[0][1]
        assert consent["ip_address"] == "127.0.0.1"
        assert "Chrome" in consent["user_agent"]
        assert consent["source_url"].startswith(site.origin)
        assert rows[0][3] == _core.parse_key(key).key_id

        # The same page on an origin the key does not allow: the browser stops at the
        # preflight (no key of the service allows that origin) and nothing is stored.
        blocked = fetch_from_page(browser, elsewhere, service, key, "5125550102")
        assert "blocked" in blocked, blocked
        assert len(leads_of(database_url, org.org_id)) == 1

        # Another key allows that origin, so the preflight passes; this key still refuses
        # the request itself (403, nothing stored) and the page cannot read the answer.
        make_org(database_url, "rival").form_key(elsewhere.origin)
        blocked = fetch_from_page(browser, elsewhere, service, key, "5125550103")
        assert "blocked" in blocked, blocked
        assert len(leads_of(database_url, org.org_id)) == 1


def test_secret_key_with_and_without_allowed_origins(browser, service, org, database_url):
    with pages() as site:
        opted_in = org.key("write", origins=site.origin)
        got = fetch_from_page(browser, site, service, opted_in, "5125550111")
        assert got["status"] == 201 and got["lead_id"], got
        assert int(got["remaining"]) >= 0

        # A secret key without allowed origins; the origin passes the preflight (another key
        # allows it) but the key refuses a browser's request from it: blocked, nothing stored.
        server_only = org.key("write")
        blocked = fetch_from_page(browser, site, service, server_only, "5125550112")
        assert "blocked" in blocked, blocked
        phones = [r[0] for r in leads_of(database_url, org.org_id)]
        assert phones == ["+15125550111"]

        # Server-to-server use of that key (no Origin) is unchanged.
        resp = httpx.post(
            f"{service.url}/v1/leads", json=lead("5125550113"), headers=auth(server_only)
        )
        assert resp.status_code == 201
        assert "Access-Control-Allow-Origin" not in resp.headers


# --- plain HTML forms, no JavaScript of the service ------------------------------------------

FORM_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>form</title></head><body>
<form id="f" method="post" action="ACTION" ENCTYPE>
  <input name="first_name"> <input name="phone" type="tel" required>
  <input type="hidden" name="source" value="plain-form">
  <input type="hidden" name="consent[consent_text_version]" value="plain-v1">
  <input type="hidden" name="consent[consent_text]" value="I agree to be called by Acme.">
  <input name="_gotcha" tabindex="-1" autocomplete="off" style="position:absolute;left:-9999px">
  <label><input type="checkbox" name="_agree" required> I agree to be called by Acme.</label>
  <button type="submit">Send</button>
</form>
<script>
// The visitor: types, ticks the box and clicks the button (the form itself has no script).
window.addEventListener("load", function () {
  var f = document.getElementById("f");
  f.elements.first_name.value = "Jane";
  f.elements.phone.value = "PHONE";
  f.elements._gotcha.value = "TRAP";
  f.elements._agree.checked = true;
  f.querySelector("button").click();
});
</script></body></html>
"""

THANKS = "<!doctype html><html><body><h1 id='thanks'>THANK-YOU-PAGE</h1></body></html>"


def form_page(service, key: str, phone: str, trap: str = "", multipart: bool = False) -> str:
    return (
        FORM_PAGE.replace("ACTION", f"{service.url}/v1/forms/{key}")
        .replace("ENCTYPE", 'enctype="multipart/form-data"' if multipart else "")
        .replace("PHONE", phone)
        .replace("TRAP", trap)
    )


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_plain_html_form_lands_on_the_thank_you_url(browser, service, org, database_url, multipart):
    with pages() as site:
        key = org.form_key(site.origin, success_url=site.url("/thanks.html"))
        site.pages["/thanks.html"] = THANKS
        site.pages["/form.html"] = form_page(service, key, "5125550121", multipart=multipart)
        dom = dump_dom(browser, site.url("/form.html"))
        assert "THANK-YOU-PAGE" in dom, dom[-2000:]
        assert "/thanks.html" in site.hits
        rows = leads_of(database_url, org.org_id)
        assert len(rows) == 1
        phone, consent, source, key_id, status = rows[0]
        assert (phone, source, status) == ("+15125550121", "plain-form", "new")
        assert key_id == _core.parse_key(key).key_id
        assert consent["consent_text"] == "I agree to be called by Acme."
        assert consent["consent_text_version"] == "plain-v1"
        assert consent["consent_timestamp"].endswith("Z")  # stamped on receipt
        assert consent["ip_address"] == "127.0.0.1"
        assert "Chrome" in consent["user_agent"]
        assert consent["source_url"].startswith(site.origin)


def test_plain_form_honeypot_stores_nothing(browser, service, org, database_url):
    with pages() as site:
        key = org.form_key(site.origin, success_url=site.url("/thanks.html"))
        site.pages["/thanks.html"] = THANKS
        site.pages["/form.html"] = form_page(service, key, "5125550131", trap="I am a bot")
        dom = dump_dom(browser, site.url("/form.html"))
        assert "THANK-YOU-PAGE" in dom, "a bot is answered exactly as a person"
        assert leads_of(database_url, org.org_id) == []


def test_plain_form_errors_and_refusals(service, org, database_url):
    origin = "https://www.example.com"
    key = org.form_key(origin)
    url = f"{service.url}/v1/forms/{key}"
    browserish = {
        "Origin": origin,
        "User-Agent": "Mozilla/5.0 test",
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    }

    # no success_url: the built-in thank-you page
    ok = httpx.post(url, data={"phone": "5125550141"}, headers=browserish)
    assert ok.status_code == 303 and ok.headers["Location"] == "/v1/form-sent"
    assert "X-RateLimit-Remaining" in ok.headers and "X-Request-Id" in ok.headers
    page = httpx.get(f"{service.url}/v1/form-sent")
    assert page.status_code == 200 and "Thank you" in page.text
    # no consent field at all: stored, ineligible; no evidence is invented
    (row,) = leads_of(database_url, org.org_id)
    assert row[1] is None and row[4] == "ineligible"

    bad = httpx.post(url, data={"phone": "12", "emial": "x"}, headers=browserish)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "phone" in bad.text and "emial" in bad.text
    # not a browser (curl, a script): the usual problem body
    api = httpx.post(url, data={"phone": "12"}, headers={"Origin": origin})
    assert api.status_code == 422 and api.headers["content-type"] == PROBLEM
    assert api.json()["errors"][0]["param"] == "phone"
    assert "X-RateLimit-Remaining" in api.headers

    with_error_url = org.form_key(origin, error_url="https://www.example.com/oops?form=1")
    sent = httpx.post(
        f"{service.url}/v1/forms/{with_error_url}", data={"phone": "12"}, headers=browserish
    )
    assert sent.status_code == 303
    assert sent.headers["Location"] == (
        "https://www.example.com/oops?form=1&error=invalid_phone&fields=phone"
    )

    # a secret key in the path is never accepted (it would be a leaked key)
    secret = org.key("write", origins=origin)
    refused = httpx.post(f"{service.url}/v1/forms/{secret}", data={"phone": "5125550142"},
                         headers=browserish)  # fmt: skip
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("text/html")
    # from another origin, or with no Origin at all (curl): 403
    for headers in ({"Origin": "https://evil.example"}, {}):
        got = httpx.post(url, data={"phone": "5125550143"}, headers=headers)
        assert got.status_code == 403, headers
    assert httpx.post(url, json={"phone": "5125550144"}, headers=browserish).status_code == 415
    assert len(leads_of(database_url, org.org_id)) == 1


# --- the documented snippet, served verbatim --------------------------------------------------


def documented_example() -> str:
    text = (ROOT / "docs" / "lead-sources.md").read_text()
    blocks = re.findall(r"```html\n(<!doctype html>.*?)\n```", text, re.S)
    assert len(blocks) == 1, "docs/lead-sources.md has exactly one full-page example"
    return blocks[0]


DRIVER = """<!doctype html>
<html><head><meta charset="utf-8"><title>visitor</title>
<style>html, body { margin: 0; height: 100%; overflow: hidden; }
iframe { display: block; border: 0; width: 100%; height: 100%; }</style>
</head><body>
<iframe id="page" src="/example.html" scrolling="no"></iframe>
<script>
// A visitor on the verbatim example page: types, ticks the consent box, clicks the button.
document.getElementById("page").addEventListener("load", function () {
  var doc = this.contentDocument;
  var form = doc.querySelector("form");
  form.elements.first_name.value = "Jane";
  form.elements.phone.value = "PHONE";
  form.elements.state.value = "FL";
  form.elements._agree.checked = true;
  form.querySelector("button[type=submit]").click();
});
</script></body></html>
"""


def test_documented_snippet_example_posts_the_disclosure(browser, service, org, database_url):
    example = documented_example()
    assert "YOUR_PUBLISHABLE_KEY" in example and "http://127.0.0.1:8000" in example
    disclosure = re.search(r"<span data-l2i-consent[^>]*>(.*?)</span>", example, re.S)
    assert disclosure
    shown = " ".join(disclosure.group(1).split())
    with pages() as site:
        key = org.form_key(site.origin)
        site.pages["/example.html"] = example.replace("YOUR_PUBLISHABLE_KEY", key).replace(
            "http://127.0.0.1:8000", service.url
        )
        site.pages["/visit.html"] = DRIVER.replace("PHONE", "(512) 555-0151")
        dump_dom(browser, site.url("/visit.html"))
        rows = leads_of(database_url, org.org_id)
        assert len(rows) == 1, rows
        phone, consent, source, _key_id, status = rows[0]
        assert (phone, source, status) == ("+15125550151", "quote-page", "new")
        assert consent["consent_text"] == shown
        assert consent["consent_text_version"] == "quote-v3"
        assert consent["source_url"] == site.url("/example.html")
        assert consent["consent_timestamp"].endswith("Z")
        assert consent["ip_address"] == "127.0.0.1" and "Chrome" in consent["user_agent"]
        assert "/v1/forms.js" not in site.hits, "the snippet comes from the service"

        # The page after submission, as the visitor sees it (docs/web-form-example.png).
        if os.environ.get("L2I_FORMS_SCREENSHOT"):
            site.pages["/visit2.html"] = DRIVER.replace("PHONE", "(512) 555-0152")
            screenshot(browser, site.url("/visit2.html"), ROOT / "docs" / "web-form-example.png",
                       size="760,760")  # fmt: skip
            assert len(leads_of(database_url, org.org_id)) == 2


def test_snippet_honeypot_posts_nothing(browser, service, org, database_url):
    example = documented_example()
    with pages() as site:
        key = org.form_key(site.origin)
        site.pages["/example.html"] = example.replace("YOUR_PUBLISHABLE_KEY", key).replace(
            "http://127.0.0.1:8000", service.url
        )
        site.pages["/visit.html"] = DRIVER.replace("PHONE", "5125550161").replace(
            "form.elements._agree.checked = true;",
            'form.elements._agree.checked = true; form.elements._gotcha.value = "bot";',
        )
        dom = dump_dom(browser, site.url("/visit.html"))
        assert "<iframe" in dom
        assert leads_of(database_url, org.org_id) == []


# --- what a publishable key may not do, and the CORS headers ----------------------------------


def test_publishable_key_only_sends_leads(service, org, database_url):
    origin = "https://www.example.com"
    key = org.form_key(origin)
    h = {**auth(key), "Origin": origin}
    denied = [
        httpx.get(f"{service.url}/v1/leads", headers=h),
        httpx.get(f"{service.url}/v1/leads/01a24e2c-1991-7529-93d8-adb813946c59", headers=h),
        httpx.post(f"{service.url}/v1/dial-queue/claim", json={}, headers=h),
        httpx.get(f"{service.url}/v1/suppressions", headers=h),
        httpx.post(f"{service.url}/v1/suppressions", json={"phones": ["5125550171"]}, headers=h),
        httpx.get(f"{service.url}/v1/api-keys", headers=h),
        httpx.post(
            f"{service.url}/v1/api-keys", json={"name": "x", "scopes": ["write"]}, headers=h
        ),
        httpx.post(
            f"{service.url}/v1/leads/import",
            content=b"phone\n5125550172\n",
            headers={**h, "Content-Type": "text/csv"},
        ),
        # without an Origin (curl, a server): 403 even on the lead endpoints
        httpx.post(f"{service.url}/v1/leads", json=lead("5125550173"), headers=auth(key)),
        httpx.post(
            f"{service.url}/v1/leads/batch", json={"leads": [lead("5125550174")]}, headers=auth(key)
        ),
    ]
    for resp in denied:
        assert resp.status_code == 403, (resp.request.method, resp.request.url, resp.text)
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["code"] == "forbidden"
        assert "X-RateLimit-Remaining" in resp.headers  # an authenticated answer
        assert "Access-Control-Allow-Origin" not in resp.headers or resp.request.url.path in (
            "/v1/leads",
            "/v1/leads/batch",
        )
        no_wildcard(resp)
    assert leads_of(database_url, org.org_id) == []
    assert fetch(database_url, "SELECT count(*) FROM suppressions")[0][0] == 0

    batch = httpx.post(f"{service.url}/v1/leads/batch", json={"leads": [lead("5125550175")]},
                       headers=h)  # fmt: skip
    assert batch.status_code == 200 and batch.headers["Access-Control-Allow-Origin"] == origin


def test_cors_headers_on_preflights_and_answers(service, org, database_url):
    origin = "https://www.example.com"
    key = org.form_key(origin)
    for path in ("/v1/leads", "/v1/leads/batch"):
        pre = httpx.options(f"{service.url}{path}", headers={"Origin": origin, **PREFLIGHT})
        assert pre.status_code == 204
        assert pre.headers["Access-Control-Allow-Origin"] == origin
        assert pre.headers["Access-Control-Allow-Methods"] == "POST"
        allowed = {h.strip() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert int(pre.headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in pre.headers["Vary"]
        no_wildcard(pre)
    # an origin no key allows, and the read endpoints: no CORS at all
    for url, headers in (
        (f"{service.url}/v1/leads", {"Origin": "https://evil.example", **PREFLIGHT}),
        (f"{service.url}/v1/leads/import", {"Origin": origin, **PREFLIGHT}),
        (f"{service.url}/v1/suppressions", {"Origin": origin, **PREFLIGHT}),
    ):
        pre = httpx.options(url, headers=headers)
        assert pre.status_code != 204 and "Access-Control-Allow-Origin" not in pre.headers, url

    h = {**auth(key), "Origin": origin}
    answers = {
        201: httpx.post(f"{service.url}/v1/leads", json=lead("5125550181"), headers=h),
        200: httpx.post(f"{service.url}/v1/leads", json=lead("5125550181"), headers=h),
        422: httpx.post(f"{service.url}/v1/leads", json={"phone": "12"}, headers=h),
        401: httpx.post(
            f"{service.url}/v1/leads",
            json=lead("5125550182"),
            headers={**auth(key[:-1] + ("x" if key[-1] != "x" else "y")), "Origin": origin},
        ),
    }
    for status, resp in answers.items():
        assert resp.status_code == status, (status, resp.text)
        assert resp.headers["Access-Control-Allow-Origin"] == origin, status
        exposed = {
            x.strip().lower() for x in resp.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert exposed >= EXPOSED
        assert "Origin" in resp.headers["Vary"]
        no_wildcard(resp)
    assert answers[422].headers["content-type"] == PROBLEM  # problem bodies unchanged
    # a key from another org that does not allow this origin: never echoed
    other = make_org(database_url, "other").key("write")
    resp = httpx.post(f"{service.url}/v1/leads", json=lead("5125550183"),
                      headers={**auth(other), "Origin": origin})  # fmt: skip
    assert resp.status_code == 403 and "Access-Control-Allow-Origin" not in resp.headers
    # a read with an allowed origin: server-to-server only, no CORS headers
    reader = org.key("read", origins=origin)
    resp = httpx.get(f"{service.url}/v1/leads", headers={**auth(reader), "Origin": origin})
    assert resp.status_code == 200 and "Access-Control-Allow-Origin" not in resp.headers


def test_publishable_key_per_client_ip_limit(server_factory, database_url, redis_url, org):
    service = server_factory(service_env(database_url, redis_url, L2I_TRUSTED_PROXY_HOPS="1"))
    origin = "https://www.example.com"
    key = org.form_key(origin, ip_rate_limit=2, rate_limit=10)  # one unit back every 6 s

    def send(phone: str, ip: str) -> httpx.Response:
        headers = {**auth(key), "Origin": origin, "X-Forwarded-For": ip}
        return httpx.post(f"{service.url}/v1/leads", json=lead(phone), headers=headers)

    assert send("5125550191", "203.0.113.7").status_code == 201
    assert send("5125550192", "203.0.113.7").status_code == 201
    limited = send("5125550193", "203.0.113.7")
    assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["Access-Control-Allow-Origin"] == origin
    # another visitor of the same form is not held back, and the refused request did not
    # touch the key's own budget (the address is charged first)
    other = send("5125550194", "198.51.100.9")
    assert other.status_code == 201
    assert other.headers["X-RateLimit-Remaining"] == "7"
    # requests the key refuses (no Origin) count against their address too, so one address
    # cannot drain the key's budget with them
    for expect in (403, 403, 429):
        headers = {**auth(key), "X-Forwarded-For": "192.0.2.1"}
        got = httpx.post(f"{service.url}/v1/leads", json=lead("5125550195"), headers=headers)
        assert got.status_code == expect, got.text
    assert send("5125550196", "198.51.100.9").headers["X-RateLimit-Remaining"] == "4"
    rows = leads_of(database_url, org.org_id)
    assert [r[0] for r in rows] == ["+15125550191", "+15125550192", "+15125550194", "+15125550196"]
    assert rows[0][1]["ip_address"] == "203.0.113.7"


def test_keys_api_makes_and_lists_publishable_keys(service, org):
    admin = org.key("admin")
    h = auth(admin)
    made = httpx.post(
        f"{service.url}/v1/api-keys",
        json={"name": "quote form", "scopes": ["write"], "kind": "publishable",
              "allowed_origins": ["https://WWW.Example.com/", "http://127.0.0.1:3000"],
              "success_url": "https://www.example.com/thanks"},
        headers=h,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["key"].startswith("l2i_pk_live_") and _core.parse_key(body["key"]).publishable
    assert body["kind"] == "publishable" and body["ip_rate_limit"] == 20
    assert body["allowed_origins"] == ["https://www.example.com", "http://127.0.0.1:3000"]
    cors = httpx.post(f"{service.url}/v1/api-keys", headers=h,
                      json={"name": "tool", "scopes": ["write", "read"],
                            "allowed_origins": ["https://tool.example.com"]})  # fmt: skip
    assert cors.status_code == 201 and cors.json()["kind"] == "secret"
    assert cors.json()["key"].startswith("l2i_live_")
    listed = {
        k["key_id"]: k for k in httpx.get(f"{service.url}/v1/api-keys", headers=h).json()["data"]
    }
    assert listed[body["key_id"]]["allowed_origins"] == body["allowed_origins"]
    assert listed[body["key_id"]]["success_url"] == "https://www.example.com/thanks"
    assert listed[cors.json()["key_id"]]["allowed_origins"] == ["https://tool.example.com"]
    assert "kind" not in listed[_core.parse_key(admin).key_id]  # plain keys list as before
    for bad, param in (
        ({"kind": "publishable", "scopes": ["write", "read"],
          "allowed_origins": ["https://a.example"]}, "scopes"),
        ({"kind": "publishable", "scopes": ["write"]}, "allowed_origins"),
        ({"scopes": ["write"], "allowed_origins": ["https://*.example.com"]}, "allowed_origins"),
        ({"scopes": ["write"], "allowed_origins": ["https://a.example/path"]}, "allowed_origins"),
        ({"scopes": ["write"], "ip_rate_limit": 5}, "ip_rate_limit"),
    ):  # fmt: skip
        resp = httpx.post(f"{service.url}/v1/api-keys", json={"name": "x", **bad}, headers=h)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["errors"][0]["param"] == param, (bad, resp.text)


def test_cli_creates_and_lists_form_keys(database_url, org):
    from click.testing import CliRunner

    from lead2inbound.cli.main import main
    from tests.support.stack import PEPPER

    env = {"L2I_DATABASE_URL": database_url, "L2I_KEY_PEPPER": PEPPER}
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["keys", "create", "--org", org.org_id, "--name", "quote form", "--publishable",
         "--allowed-origins", "https://a.example,https://b.example:8443"],
        env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("l2i_pk_live_") and _core.parse_key(key) is not None
    listed = runner.invoke(main, ["keys", "list", "--org", org.org_id], env=env)
    assert "publishable" in listed.output and "https://b.example:8443" in listed.output
    as_json = runner.invoke(main, ["keys", "list", "--org", org.org_id, "--json"], env=env)
    row = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert row["allowed_origins"] == ["https://a.example", "https://b.example:8443"]
    refused = runner.invoke(
        main,
        ["keys", "create", "--org", org.org_id, "--name", "x", "--publishable"],
        env=env,
    )
    assert refused.exit_code != 0 and "allowed origins" in refused.output


def test_publishable_key_format():
    for env in ("live", "test"):
        key, key_id = _core.mint_key(env, publishable=True)
        assert re.fullmatch(rf"l2i_pk_{env}_[0-9A-Za-z]{{12}}_[0-9A-Za-z]{{38}}", key)
        parsed = _core.parse_key(key)
        assert parsed is not None and parsed.publishable and parsed.key_id == key_id
        assert parsed.env == env
        # one changed character anywhere after the prefix: rejected by the checksum/format
        for pos in range(7, len(key)):
            swapped = key[:pos] + ("A" if key[pos] != "A" else "B") + key[pos + 1 :]
            assert _core.parse_key(swapped) is None, pos
        secret, _ = _core.mint_key(env)
        assert not _core.parse_key(secret).publishable
