"""The console (docs/console.md): sign-in, sessions, CSRF, tenancy, the Leads and API-key
pages, hostile data. One real Granian server, Postgres, Redis and one headless Chromium
(driven over the DevTools protocol) are shared by the whole module; screenshots of each page go
to docs/console/ for docs/console.md."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from lead2inbound.cli import main as cli_main
from tests.fakes.receiver import Receiver
from tests.support.browser import Browser, chromium, pages
from tests.support.server import ServerProcess
from tests.support.sources import SECRET_KEY as SOURCES_SECRET_KEY
from tests.support.sources import create_source, fixture
from tests.support.stack import auth, fetch, lead, make_org, service_env

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "console"
XSS = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">'
JS_URL = "javascript:window.__pwned=3"


@pytest.fixture(scope="module")
def db(pg_server, pg_template):
    url = pg_server.create_database(template=pg_template)
    yield url
    with contextlib.suppress(psycopg.Error):
        pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def service(db, redis_server, tmp_path_factory):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    srv = ServerProcess(
        env=service_env(
            db,
            redis_server.url,
            L2I_SECRET_KEY=SOURCES_SECRET_KEY,
            # the Webhooks page's test posts to a receiver on 127.0.0.1 over plain http
            L2I_WEBHOOKS_ALLOW_HTTP="1",
            L2I_WEBHOOKS_ALLOW_PRIVATE="1",
            L2I_WEBHOOK_RETRY_SCHEDULE="0,0.2",  # two tries: a delivery fails in a moment
        ),
        log_path=tmp_path_factory.mktemp("console") / "server.log",
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    found = chromium()
    if found is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root+apt)")
    b = Browser(found)
    yield b
    b.close()


@pytest.fixture(scope="module")
def org_a(db):
    return make_org(db, "Acme Leads")


@pytest.fixture(scope="module")
def org_b(db):
    return make_org(db, "Other Co")


def sign_in(browser: Browser, service: ServerProcess, key: str) -> None:
    browser.goto(service.url + "/console/sign-in")
    browser.fill("#key", key)
    browser.submit("form[action='/console/sign-in']")


def sign_out(browser: Browser) -> None:
    if browser.js("!!document.querySelector(\"form[action='/console/sign-out']\")"):
        browser.submit("form[action='/console/sign-out']")


@contextlib.contextmanager
def http_session(service: ServerProcess, key: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the console (its cookie jar holds the session)."""
    with httpx.Client(base_url=service.url, timeout=30) as client:
        resp = client.post("/console/sign-in", data={"key": key})
        assert resp.status_code == 303, resp.text
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def shot(browser: Browser, name: str) -> None:
    """A screenshot for docs/console.md: rewritten with L2I_CONSOLE_SCREENSHOTS=1, otherwise
    taken into the test's temporary files (so a test run leaves the checkout as it was)."""
    folder = SHOTS if os.environ.get("L2I_CONSOLE_SCREENSHOTS") == "1" else _tmp_shots()
    folder.mkdir(parents=True, exist_ok=True)
    browser.screenshot(folder / f"{name}.png")
    assert (folder / f"{name}.png").stat().st_size > 1000


def _tmp_shots() -> Path:
    return Path(tempfile.gettempdir()) / f"l2i-console-shots-{os.getpid()}"


@pytest.fixture(scope="module", autouse=True)
def _clean_shots():
    yield
    shutil.rmtree(_tmp_shots(), ignore_errors=True)


# --- sign-in, sessions, cookies ---------------------------------------------------------------


def test_sign_in_with_an_admin_key_cookie_flags_and_sign_out(browser, service, org_a):
    browser.goto(service.url + "/console/leads")
    assert browser.js("location.pathname") == "/console/sign-in"  # no session: sign in first
    shot(browser, "sign-in")
    sign_in(browser, service, org_a.key("admin"))
    assert browser.js("location.pathname") == "/console/overview"
    assert browser.js("document.querySelector('.org').textContent") == "Acme Leads"
    cookie = next(c for c in browser.cookies() if c["name"] == "l2i_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert cookie["secure"] is False  # plain http and no https L2I_PUBLIC_URL
    assert browser.js("document.cookie") == ""  # HttpOnly: no script can read it
    sessions_before = fetch(org_a.database_url, "SELECT count(*) FROM console_sessions")[0][0]
    assert sessions_before >= 1
    # only a digest of the token is stored
    stored = fetch(org_a.database_url, "SELECT token_digest FROM console_sessions")
    assert all(cookie["value"].encode() not in bytes(r[0]) for r in stored)

    sign_out(browser)
    assert browser.js("location.pathname") == "/console/sign-in"
    browser.goto(service.url + "/console/keys")
    assert browser.js("location.pathname") == "/console/sign-in"
    # the old token is dead even if someone kept a copy
    resp = httpx.get(
        service.url + "/console/keys",
        cookies={"l2i_console": cookie["value"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/console/sign-in"


def test_non_admin_and_wrong_keys_cannot_sign_in(browser, service, org_a):
    for scopes in ("write,read", "read", "dial", "write"):
        sign_in(browser, service, org_a.key(scopes))
        assert browser.js("location.pathname") == "/console/sign-in"
        assert "no admin scope" in browser.js("document.querySelector('.error').textContent")
    form_key = org_a.form_key("https://www.example.com")
    sign_in(browser, service, form_key)
    assert "no admin scope" in browser.js("document.querySelector('.error').textContent")
    sign_in(browser, service, "l2i_live_nope_nope")
    assert "not a valid API key" in browser.js("document.querySelector('.error').textContent")
    assert not [c for c in browser.cookies() if c["name"] == "l2i_console"]


def test_revoking_the_admin_key_ends_its_sessions(service, org_a):
    key = org_a.key("admin")
    with http_session(service, key) as client:
        assert client.get("/console/keys").status_code == 200
        key_id = key.split("_")[2]
        with http_session(service, org_a.key("admin")) as other:
            page = other.get("/console/keys").text
            resp = other.post(f"/console/keys/{key_id}/revoke", data={"csrf": csrf_of(page)})
            assert resp.status_code == 303
        resp = client.get("/console/keys", follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/console/sign-in"


def link(db: str, public_url: str, *args: str) -> str:
    env = {"L2I_DATABASE_URL": db, "L2I_PUBLIC_URL": public_url}
    result = CliRunner().invoke(
        cli_main, ["console", "link", *args], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_one_time_link_signs_in_once_and_expires(browser, service, org_a, db):
    url = link(db, service.url, "--org", "Acme Leads")
    assert url.startswith(service.url + "/console/link#")
    browser.goto(url)
    browser.wait_for("location.pathname === '/console/overview'")
    assert browser.js("document.querySelector('.org').textContent") == "Acme Leads"
    sign_out(browser)
    # the same link again: refused
    browser.goto(url)
    browser.wait_for("!!document.querySelector('.error')")
    assert "used, expired or unknown" in browser.js("document.querySelector('.error').textContent")
    assert browser.js("location.pathname") == "/console/link"
    # an expired one: refused
    expired = link(db, service.url, "--org", org_a.org_id, "--ttl", "1s")
    time.sleep(1.5)
    browser.goto(expired)
    browser.wait_for("!!document.querySelector('.error')")
    assert "used, expired or unknown" in browser.js("document.querySelector('.error').textContent")
    # the code never travels in a URL: the server's access log has none of them
    assert "#" in url and url.split("#")[1] not in service.log_path.read_text()
    bad = CliRunner().invoke(
        cli_main,
        ["console", "link", "--org", "Acme Leads", "--ttl", "3d"],
        env={"L2I_DATABASE_URL": db},
    )
    assert bad.exit_code != 0 and "--ttl" in bad.output


def test_wrong_keys_count_toward_the_address_limit_and_https_cookies_are_secure(
    server_factory, database_url, redis_url
):
    org = make_org(database_url)
    srv = server_factory(
        service_env(
            database_url,
            redis_url,
            L2I_AUTH_FAILURES_PER_MINUTE="3",
            L2I_PUBLIC_URL="https://console.example.test",
        )
    )
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        ok = client.post("/console/sign-in", data={"key": org.key("admin")})
        assert ok.status_code == 303
        set_cookie = ok.headers["set-cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/console"):
            assert flag in set_cookie, set_cookie
        codes = [
            client.post("/console/sign-in", data={"key": f"l2i_live_x{i}_y"}).status_code
            for i in range(4)
        ]
        assert codes[:3] == [401, 401, 401] and codes[3] == 429, codes
        # the same address's API requests are refused too: one limit
        resp = client.get("/v1/leads", headers=auth(org.key("read")))
        assert resp.status_code == 429


# --- CSRF and tenancy ----------------------------------------------------------------------


def test_cross_site_posts_are_refused_and_change_nothing(browser, service, org_a):
    admin = org_a.key("admin")
    keys_before = fetch(org_a.database_url, "SELECT count(*) FROM api_keys")[0][0]
    # a page elsewhere that the signed-in person visits, posting to a console action
    sign_in(browser, service, admin)
    with pages() as evil:
        evil.pages["/evil.html"] = (
            '<!doctype html><form id="f" method="post" action="'
            + service.url
            + '/console/keys"><input name="name" value="evil"><input name="admin" value="1">'
            '<input name="csrf" value="guess"></form><p id="done">x</p>'
            '<script>document.getElementById("f").submit()</script>'
        )
        browser.goto(evil.url("/evil.html"))
        browser.wait_for(f"location.href.startsWith({service.url!r})")
        time.sleep(0.5)
    assert fetch(org_a.database_url, "SELECT count(*) FROM api_keys")[0][0] == keys_before
    # with the real cookie but from another site, or with no token: 403, nothing changed
    with http_session(service, admin) as client:
        token = csrf_of(client.get("/console/keys").text)
        form = {"name": "evil", "write": "1", "rate_limit": "10"}
        for headers, data in (
            ({"Origin": "https://evil.example"}, {**form, "csrf": token}),
            ({"Sec-Fetch-Site": "cross-site"}, {**form, "csrf": token}),
            ({}, form),
            ({}, {**form, "csrf": "0" * 64}),
        ):
            resp = client.post("/console/keys", data=data, headers=headers)
            assert resp.status_code == 403, (headers, resp.status_code)
        resp = client.post("/console/sign-out", data={}, follow_redirects=False)
        assert resp.status_code == 403
        assert client.get("/console/keys").status_code == 200  # still signed in
        # a console sign-in posted from another site: refused before any key is read
        resp = httpx.post(
            service.url + "/console/sign-in",
            data={"key": admin},
            headers={"Origin": "https://evil.example"},
        )
        assert resp.status_code == 403
    assert fetch(org_a.database_url, "SELECT count(*) FROM api_keys")[0][0] == keys_before


def test_another_orgs_lead_and_key_are_404(service, org_a, org_b):
    b_writer = org_b.key("write")
    b_lead = httpx.post(
        service.url + "/v1/leads", json=lead("5125550177"), headers=auth(b_writer)
    ).json()["lead_id"]
    b_key_id = b_writer.split("_")[2]
    with http_session(service, org_a.key("admin")) as client:
        token = csrf_of(client.get("/console/keys").text)
        resp = client.get(f"/console/leads/{b_lead}")
        assert resp.status_code == 404 and "5125550177" not in resp.text
        resp = client.post(f"/console/keys/{b_key_id}/revoke", data={"csrf": token})
        assert resp.status_code == 404
        assert b_key_id not in client.get("/console/keys").text
        assert "5125550177" not in client.get("/console/leads").text
        listing = client.get("/console/leads?phone=5125550177").text
        assert "+15125550177" not in listing and "No leads match" in listing
        assert client.get("/console/leads/not-a-uuid").status_code == 404
    again = httpx.post(service.url + "/v1/leads", json=lead("5125550178"), headers=auth(b_writer))
    assert again.status_code == 201  # org B's key still works


# --- pages --------------------------------------------------------------------------------


def test_security_headers_on_every_console_page(service, org_a):
    with http_session(service, org_a.key("admin")) as client:
        for path in ("/console/sign-in", "/console/leads", "/console/keys", "/console/link"):
            resp = client.get(path)
            assert resp.status_code == 200, path
            csp = resp.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert resp.headers["x-frame-options"] == "DENY"
            assert resp.headers["referrer-policy"] == "same-origin"
            assert "<script>" not in resp.text  # no inline script
            assert "style=" not in resp.text and "<style" not in resp.text


def test_leads_arrive_live_and_a_lead_page_explains_itself(browser, service, org_a):
    writer = org_a.key("write,read")
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/leads")
    posted = httpx.post(
        service.url + "/v1/leads",
        json={
            **lead("5125550123", first_name="Live", source="site-a", state="TX"),
            "consent": {
                "consent_timestamp": "2026-07-05T12:00:00Z",
                "consent_text": "I agree to be called.",
                "source_url": "https://example.com/quote",
                "trustedform_cert_url": "https://cert.trustedform.com/abc",
            },
        },
        headers=auth(writer),
    )
    assert posted.status_code == 201, posted.text
    lead_id = posted.json()["lead_id"]
    started = time.monotonic()
    browser.wait_for(f"!!document.querySelector('a[href=\"/console/leads/{lead_id}\"]')", 5)
    assert time.monotonic() - started < 2.5  # the stream wakes the page; a loaded machine is slow
    # each ask looks back a few seconds (a lead committed late is not skipped); no row twice
    second = httpx.post(
        service.url + "/v1/leads", json=lead("5125550125", first_name="Second"),
        headers=auth(writer),
    ).json()["lead_id"]  # fmt: skip
    browser.wait_for(f"!!document.querySelector('tr[data-lead=\"{second}\"]')", 5)
    time.sleep(1.2)  # any late asks land
    order = browser.js("[...document.querySelectorAll('#leads tbody tr')].map(r => r.dataset.lead)")
    assert order[:2] == [second, lead_id] and len(order) == len(set(order)), order
    shot(browser, "leads")

    held = httpx.post(
        service.url + "/v1/leads",
        json={"phone": "5125550124", "first_name": "NoConsent"},
        headers=auth(writer),
    )
    assert held.status_code in (200, 201), held.text
    browser.goto(f"{service.url}/console/leads/{lead_id}")
    text = browser.js("document.body.innerText")
    assert "Decision trace" in text and "I agree to be called." in text
    assert "https://cert.trustedform.com/abc" in text
    assert "America/Chicago" in text  # Texas: its calling window in its own zone
    local = browser.js("document.getElementById('callable-local').textContent")
    assert local.endswith(("CST", "CDT")), local
    assert browser.js("document.querySelector('#trace').innerText").count("consent") >= 1
    assert browser.js("document.querySelectorAll('#trace tbody tr').length") >= 1
    timeline = browser.js("document.getElementById('timeline').innerText")
    assert "lead.created" in timeline and "lead.queued" in timeline, timeline  # the event log
    shot(browser, "lead")
    browser.goto(f"{service.url}/console/leads/{held.json()['lead_id']}")
    assert "missing_consent" in browser.js("document.getElementById('held-why').textContent")
    assert "No consent evidence" in browser.js("document.getElementById('consent').textContent")

    # filters: phone in another format, status
    browser.goto(service.url + "/console/leads?phone=%28512%29+555-0123")
    rows = browser.js("document.querySelectorAll('#leads tbody tr').length")
    assert rows == 1
    browser.goto(service.url + "/console/leads?status=ineligible")
    assert "NoConsent" in browser.js("document.getElementById('leads').innerText")
    assert "Live" not in browser.js("document.getElementById('leads').innerText")
    browser.goto(service.url + "/console/leads?phone=not-a-phone")
    assert "phone" in browser.js("document.querySelector('.error').textContent")


def test_hostile_lead_fields_are_text_and_no_script_runs(browser, service, org_a):
    writer = org_a.key("write")
    body = {
        **lead("5125550999"),
        "first_name": XSS,
        "source": JS_URL,
        "custom_fields": {"note": XSS, "link": JS_URL, "<img src=x onerror=alert(1)>": "k"},
        "consent": {
            "consent_timestamp": "2026-07-05T12:00:00Z",
            "consent_text": XSS,
            "source_url": JS_URL,
            "trustedform_cert_url": JS_URL,
        },
    }
    posted = httpx.post(service.url + "/v1/leads", json=body, headers=auth(writer))
    assert posted.status_code in (200, 201), posted.text
    lead_id = posted.json()["lead_id"]
    sign_in(browser, service, org_a.key("admin"))
    for path in (f"/console/leads/{lead_id}", "/console/leads"):
        browser.goto(service.url + path)
        time.sleep(0.5)
        assert browser.js("typeof window.__pwned") == "undefined", path
        assert browser.js("document.querySelectorAll('img').length") == 0
        assert XSS in browser.js("document.body.innerText")
        assert not browser.js(
            "[...document.querySelectorAll('a')].some(a => a.href.startsWith('javascript:'))"
        )
    resp = httpx.get(
        service.url + f"/console/leads/{lead_id}",
        cookies={c["name"]: c["value"] for c in browser.cookies()},
    )
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert "<script>window.__pwned" not in resp.text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in resp.text


def test_keys_created_in_the_page_work_once_shown_and_stop_when_revoked(browser, service, org_a):
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/keys")
    browser.fill("#k-name", "crm import")
    browser.js("document.getElementById('k-read').checked = true")
    browser.fill("#k-limit", "600")
    browser.submit("#create-key")
    key = browser.js("document.getElementById('new-key').value")
    assert key.startswith("l2i_live_")
    shot(browser, "keys-created")
    browser.js("document.querySelector('button[data-copy]').click()")
    browser.wait_for("document.querySelector('button[data-copy]').textContent !== 'Copy'")
    resp = httpx.post(service.url + "/v1/leads", json=lead("5125550301"), headers=auth(key))
    assert resp.status_code == 201, resp.text
    assert httpx.get(service.url + "/v1/leads", headers=auth(key)).status_code == 200
    assert resp.headers["x-ratelimit-limit"] == "600"
    # shown once: the list never shows it again
    browser.goto(service.url + "/console/keys")
    assert key not in browser.js("document.documentElement.outerHTML")
    key_id = key.split("_")[2]
    assert key_id in browser.js("document.getElementById('keys').innerText")

    # a form key: publishable, its origins, a thank-you page
    browser.js("document.getElementById('k-pub').checked = true")
    browser.fill("#k-name", "landing page")
    browser.fill("#k-origins", "https://www.example.com https://lp.example.com")
    browser.fill("#k-success", "https://www.example.com/thanks")
    browser.submit("#create-key")
    form_key = browser.js("document.getElementById('new-key').value")
    assert form_key.startswith("l2i_pk_live_")
    resp = httpx.post(
        service.url + "/v1/leads",
        json=lead("5125550302"),
        headers={**auth(form_key), "Origin": "https://lp.example.com"},
    )
    assert resp.status_code == 201, resp.text
    # the API's rules: a form key with the read scope is refused with the same message
    browser.js("document.getElementById('k-pub').checked = true")
    browser.js("document.getElementById('k-read').checked = true")
    browser.fill("#k-name", "bad form key")
    browser.fill("#k-origins", "https://www.example.com")
    browser.submit("#create-key")
    api = httpx.post(
        service.url + "/v1/api-keys",
        json={"name": "bad", "kind": "publishable", "scopes": ["write", "read"],
              "allowed_origins": ["https://www.example.com"]},
        headers=auth(org_a.key("admin")),
    )  # fmt: skip
    assert api.status_code == 422
    shown = browser.js("document.getElementById('key-error').textContent")
    assert api.json()["errors"][0]["detail"] in shown, (shown, api.json())

    # revoke with a confirmation: cancel first, then confirm
    browser.goto(service.url + "/console/keys")
    button = f"tr[data-key='{key_id}'] button"
    browser.js(f'document.querySelector("{button}").click()')
    browser.wait_for("document.getElementById('confirm').open")
    shot(browser, "keys-revoke")
    browser.js("document.getElementById('confirm-no').click()")
    assert httpx.get(service.url + "/v1/leads", headers=auth(key)).status_code == 200
    browser.js(f'document.querySelector("{button}").click()')
    browser.wait_for("document.getElementById('confirm').open")
    before = browser.js("performance.timeOrigin")
    browser.js("document.getElementById('confirm-yes').click()")
    browser.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")
    assert "revoked" in browser.js(f"document.querySelector(\"tr[data-key='{key_id}']\").innerText")
    deadline = time.monotonic() + 2
    while httpx.get(service.url + "/v1/leads", headers=auth(key)).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works after 2 s"
        time.sleep(0.1)


def test_overview_draws_the_day_and_the_queue(browser, service, org_a):
    writer = org_a.key("write")
    for i in range(3):
        httpx.post(service.url + "/v1/leads", json=lead(f"51255504{i:02d}"), headers=auth(writer))
    httpx.post(service.url + "/v1/leads", json={"phone": "5125550499"}, headers=auth(writer))
    sign_in(browser, service, org_a.key("admin"))
    assert browser.js("location.pathname") == "/console/overview"  # the console's home
    assert browser.js("document.querySelectorAll('#lead-chart rect').length") >= 2
    legend = browser.js("document.getElementById('legend').innerText")
    assert "queued" in legend and "held: missing_consent" in legend, legend
    now = browser.js("document.getElementById('now').innerText")
    assert "waiting" in now and "DNC provider" in now
    assert re.search(r"p50 ≤ [\d.]+ ms, p99 ≤ [\d.]+ ms", now), now
    shot(browser, "overview")


def test_suppressing_a_number_takes_its_waiting_lead_out_of_the_queue(
    browser, service, org_a, tmp_path
):
    writer = org_a.key("write")
    queued = httpx.post(
        service.url + "/v1/leads",
        json=lead("5125550611", first_name="Waiting", state="CA"),
        headers=auth(writer),
    ).json()["lead_id"]
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/queue")
    assert "Waiting" in browser.js("document.getElementById('queue').innerText")
    assert "America/Los_Angeles" in browser.js("document.getElementById('queue').innerText")
    shot(browser, "queue")

    browser.goto(service.url + "/console/suppressions")
    browser.fill("#s-phones", "phone\n(512) 555-0611\nnot a number 1\n+1 512 555 0612")
    browser.fill("#s-reason", "asked by phone")
    browser.submit("#add-suppressions")
    result = browser.js("document.getElementById('result').innerText")
    assert "Added 2" in result and "refused 1" in result, result
    assert browser.js(f"!!document.querySelector('#dequeued a[href=\"/console/leads/{queued}\"]')")
    shot(browser, "suppressions")
    browser.goto(service.url + "/console/queue")
    assert "Waiting" not in browser.js("document.getElementById('queue').innerText")
    browser.goto(f"{service.url}/console/leads/{queued}")
    assert "suppressed" in browser.js("document.getElementById('held-why').textContent")
    assert "lead.suppressed" in browser.js("document.getElementById('timeline').innerText")

    # a CSV file, read in the browser and posted as text
    csv = tmp_path / "dnc.csv"
    csv.write_text("phone,name\n5125550621,a\n5125550622,b\n")
    browser.goto(service.url + "/console/suppressions")
    doc = browser.send("DOM.getDocument")["root"]["nodeId"]
    node = browser.send("DOM.querySelector", nodeId=doc, selector="#s-file")["nodeId"]
    browser.send("DOM.setFileInputFiles", files=[str(csv)], nodeId=node)
    browser.wait_for("document.getElementById('s-phones').value.includes('5125550622')")
    browser.submit("#add-suppressions")
    assert "Added 2" in browser.js("document.getElementById('result').innerText")

    # search in any format, then remove (confirmed) through the API's own path
    browser.goto(service.url + "/console/suppressions?q=512-555-0612")
    rows = browser.js("document.getElementById('suppressions').innerText")
    assert "+15125550612" in rows and "asked by phone" in rows
    browser.js("document.querySelector('#suppressions button').click()")
    browser.wait_for("document.getElementById('confirm').open")
    before = browser.js("performance.timeOrigin")
    browser.js("document.getElementById('confirm-yes').click()")
    browser.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")
    listed = httpx.get(
        service.url + "/v1/suppressions/%2B15125550612", headers=auth(org_a.key("read"))
    )
    assert listed.status_code == 404


# --- docs, keyboard, labels ---------------------------------------------------------------------


def test_docs_serve_the_quickstart_with_this_url_and_the_field_reference(browser, service):
    quick = httpx.get(service.url + "/docs/quickstart")
    assert quick.status_code == 200
    assert f"curl -X POST {service.url}/v1/leads" in quick.text
    assert "127.0.0.1:8000" not in quick.text
    assert "default-src 'self'" in quick.headers["content-security-policy"]
    assert "&lt;script src=" in quick.text  # the README's snippet is shown as code
    fields = httpx.get(service.url + "/docs/fields")
    assert fields.status_code == 200
    for name in ("consent_timestamp", "trustedform_cert_url", "custom_fields", "utm_source"):
        assert name in fields.text, name
    assert (ROOT / "docs" / "fields.md").read_text().splitlines()[0][2:] in fields.text
    browser.goto(service.url + "/docs/quickstart")
    links = browser.js("[...document.querySelectorAll('nav a')].map(a => a.pathname)")
    assert {"/docs", "/docs/fields", "/console"} <= set(links)
    shot(browser, "docs-quickstart")


INTERACTIVE = (
    "[...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')]"
    ".filter(e => e.offsetParent !== null && !e.closest('dialog'))"
)
NAMED_ROLES = {"textbox", "combobox", "checkbox", "radio", "searchbox", "spinbutton", "button",
               "link", "listbox", "slider"}  # fmt: skip


def tab_through(browser: Browser, limit: int = 200) -> set[int]:
    """Press Tab from the top of the page until focus comes back round; the indexes (in
    INTERACTIVE order) of every element focus reached."""
    browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    reached: list[int] = []
    for _ in range(limit):
        browser.key("Tab")
        index = browser.js(f"{INTERACTIVE}.indexOf(document.activeElement)")
        if reached and index == reached[0] and len(reached) > 1:
            break  # round again (a date input takes several Tabs: its day, month, year)
        if index >= 0 and index not in reached:
            reached.append(index)
    return set(reached)


def unlabelled(browser: Browser) -> list[dict]:
    """Interactive nodes of the accessibility tree without a name (a label, text or title)."""
    tree = browser.send("Accessibility.getFullAXTree")["nodes"]
    bad = []
    for node in tree:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in NAMED_ROLES:
            continue
        if not (node.get("name", {}).get("value") or "").strip():
            bad.append(node)
    return bad


def test_keyboard_only_reaches_every_action_and_every_input_is_labelled(browser, service, org_a):
    writer = org_a.key("write")
    one = httpx.post(service.url + "/v1/leads", json=lead("5125550811"), headers=auth(writer))
    browser.send("Accessibility.enable")
    browser.goto(service.url + "/console/sign-in")
    sign_out(browser)
    assert unlabelled(browser) == []
    sign_in(browser, service, org_a.key("admin"))
    signed = create_source(
        service.url, org_a.key("admin"), name="labelled", preset="calendly", secret="k" * 20
    )
    hook = httpx.post(
        service.url + "/v1/webhook-endpoints", json={"url": "https://example.com/hook"},
        headers=auth(org_a.key("admin")),
    )  # fmt: skip
    assert hook.status_code == 201, hook.text
    for path in (
        f"/console/sources/{signed['source_id']}",
        "/console/webhooks",
        "/console/overview",
        "/console/leads",
        f"/console/leads/{one.json()['lead_id']}",
        "/console/queue",
        "/console/suppressions",
        "/console/keys",
        "/console/sources",
        "/docs/quickstart",
    ):
        browser.goto(service.url + path)
        assert unlabelled(browser) == [], path
        # a radio group is one Tab stop (its checked button; arrow keys move inside it)
        expected = browser.js(
            f"{INTERACTIVE}.map((e, i) => [e, i])"
            ".filter(([e]) => e.type !== 'radio' || e.checked).map(([, i]) => i)"
        )
        assert tab_through(browser) == set(expected), path
    gone = httpx.delete(
        f"{service.url}/v1/webhook-endpoints/{hook.json()['id']}", headers=auth(org_a.key("admin"))
    )  # the Webhooks test counts its own endpoint only
    assert gone.status_code == 200

    # a whole task by keyboard: create a key, then revoke it through the confirmation dialog
    browser.goto(service.url + "/console/keys")
    for _ in range(100):
        browser.key("Tab")
        if browser.js("document.activeElement.id") == "k-name":
            break
    browser.send("Input.insertText", text="keyboard key")
    for _ in range(30):
        browser.key("Tab")
        if browser.js("document.activeElement.textContent") == "Create key":
            break
    before = browser.js("performance.timeOrigin")
    browser.key("Enter")
    browser.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")
    key = browser.js("document.getElementById('new-key').value")
    assert key.startswith("l2i_live_")
    key_id = key.split("_")[2]
    for _ in range(200):
        browser.key("Tab")
        if browser.js(f"document.activeElement.closest(\"tr[data-key='{key_id}']\") !== null"):
            break
    browser.key("Enter")
    browser.wait_for("document.getElementById('confirm').open")
    assert browser.js("document.activeElement.id") == "confirm-no"
    for _ in range(5):
        browser.key("Tab")
        if browser.js("document.activeElement.id") == "confirm-yes":
            break
    before = browser.js("performance.timeOrigin")
    browser.key("Enter")
    browser.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")
    assert "revoked" in browser.js(f"document.querySelector(\"tr[data-key='{key_id}']\").innerText")


HUBSPOT_SAMPLE = {
    "vid": 4242,
    "properties": {
        "phone": {"value": "(512) 555-0931"},
        "firstname": {"value": "Hub"},
        "state": {"value": "TX"},
    },
    "form-submissions": [
        {"timestamp": 1783252800000, "page-url": "https://example.com/lp"},
    ],
}


def test_sources_from_a_preset_with_a_sample_preview_and_a_signed_blank_one(
    browser, service, org_a, org_b
):
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/sources")
    browser.fill("#src-name", "hubspot-forms")
    browser.js("document.getElementById('src-preset').value = 'hubspot'")
    browser.submit("#create-source")
    url = browser.js("document.getElementById('new-url').value")
    assert url.startswith(service.url + "/v1/sources/") and url.endswith("/leads")
    assert not browser.js("!!document.getElementById('new-secret')")
    source_id = url.split("/")[-2]
    browser.goto(f"{service.url}/console/sources/{source_id}")
    type_into(browser, "#sample", json.dumps(HUBSPOT_SAMPLE))
    browser.wait_for("!!document.getElementById('preview-fields')")
    shown = preview_rows(browser)
    assert "Would make a lead" in browser.js("document.querySelector('.verdict').textContent")
    assert shown["phone"][0] == "(512) 555-0931", shown
    assert shown["first_name"][0] == "Hub"
    assert "/properties/firstname/value" in shown["first_name"][1]  # where it came from
    shot(browser, "source-preview")
    # the vendor's post through the ingest URL makes the lead the preview showed
    posted = httpx.post(url, json=HUBSPOT_SAMPLE, headers=auth(org_a.key("write")))
    assert posted.status_code == 201, posted.text

    # a blank mapping with a signing secret made here, shown once
    browser.goto(service.url + "/console/sources")
    browser.fill("#src-name", "partner")
    browser.fill("#src-mapping", '{"phone": "/tel", "first_name": "/name"}')
    browser.js("document.getElementById('src-sign').checked = true")
    browser.submit("#create-source")
    secret = browser.js("document.getElementById('new-secret').value")
    signed_url = browser.js("document.getElementById('new-url').value")
    assert len(secret) >= 40
    shot(browser, "sources")
    browser.goto(service.url + "/console/sources")
    assert secret not in browser.js("document.documentElement.outerHTML")
    body = json.dumps({"tel": "5125550932", "name": "Signed"}).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = httpx.post(
        signed_url, content=body,
        headers={"Content-Type": "application/json", "L2I-Signature": f"t={stamp},v1={mac}"},
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
    unsigned = httpx.post(signed_url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401

    # a bad mapping: the API's message; another org's source: 404
    browser.fill("#src-name", "broken")
    browser.fill("#src-mapping", '{"phone": 12}')
    browser.submit("#create-source")
    assert "mapping" in browser.js("document.getElementById('source-error').textContent")
    with http_session(service, org_b.key("admin")) as other:
        assert other.get(f"/console/sources/{source_id}").status_code == 404
        token = csrf_of(other.get("/console/keys").text)
        resp = other.post(
            f"/console/sources/{source_id}/preview",
            content=json.dumps(HUBSPOT_SAMPLE),
            headers={"X-CSRF-Token": token},
        )
        assert resp.status_code == 404


def type_into(browser: Browser, selector: str, value: str) -> None:
    """Set a box's text and fire its `input` event, as typing does."""
    browser.fill(selector, value)
    browser.js(f"document.querySelector({json.dumps(selector)}).dispatchEvent(new Event('input'))")


def preview_rows(browser: Browser) -> dict[str, list[str]]:
    """The preview's table: field -> [value, where it came from], as the page shows them."""
    return browser.js(  # type: ignore[return-value]
        "Object.fromEntries([...document.querySelectorAll('#preview-fields tbody tr')]"
        ".map(tr => [tr.cells[0].textContent, [tr.cells[1].textContent, tr.cells[2].textContent]]))"
    )


def previews_asked(browser: Browser) -> int:
    return browser.js(  # type: ignore[return-value]
        "performance.getEntriesByType('resource').filter(e => e.name.endsWith('/preview')).length"
    )


def test_a_sources_mapping_is_edited_with_a_live_preview_and_saved_as_patch_does(
    browser, service, org_a, org_b
):
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/sources")
    browser.fill("#src-name", "editor")
    browser.fill("#src-mapping", '{"phone": "/tel"}')
    browser.submit("#create-source")
    url = browser.js("document.getElementById('new-url').value")
    source_id = url.split("/")[-2]
    page = f"{service.url}/console/sources/{source_id}"
    browser.goto(page)
    sample = {"tel": "5125550941", "given": "Ada", "who": XSS, "tag": JS_URL}
    type_into(browser, "#sample", json.dumps(sample))
    browser.wait_for("!!document.getElementById('preview-fields')")
    assert "first_name" not in preview_rows(browser)  # the stored mapping: the phone only

    # the preview follows the mapping as it is edited (nothing saved yet)
    edited = {"phone": "/tel", "first_name": "/given", "last_name": "/who",
              "custom_fields.tag": "/tag"}  # fmt: skip
    type_into(browser, "#mapping", json.dumps(edited, indent=2))
    browser.wait_for("'first_name' in " + PREVIEW_ROWS_JS)
    rows = preview_rows(browser)
    assert rows["first_name"] == ["Ada", "/given"], rows
    assert rows["last_name"][0] == XSS  # hostile text stays text
    assert browser.js("window.__pwned") is None
    assert (
        browser.js("document.querySelectorAll('#preview-out script, #preview-out img').length") == 0
    )
    shot(browser, "source-editor")
    with http_session(service, org_a.key("admin")) as client:
        assert "first_name" not in client.get(f"/console/sources/{source_id}").text

    # typing is debounced: a burst of edits is one request
    before = previews_asked(browser)
    for n in range(6):
        type_into(browser, "#mapping", json.dumps({**edited, "city": f"/c{n}"}))
    time.sleep(1.2)
    assert previews_asked(browser) == before + 1

    # a broken mapping: the preview names the field, from the API's own check
    type_into(browser, "#mapping", '{"phone": ')
    browser.wait_for("document.querySelector('#preview-problems')?.textContent.includes('mapping')")
    type_into(browser, "#mapping", '{"phone": 12}')
    browser.wait_for(
        "document.querySelector('#preview-problems')?.textContent.startsWith('mapping')"
    )
    # Save with it: 422 naming the field, the edit kept in the box, nothing changed
    browser.submit("#mapping-form")
    assert "mapping" in browser.js("document.getElementById('mapping-error').textContent")
    assert browser.js("document.getElementById('mapping').value") == '{"phone": 12}'
    assert browser.js("window.__pwned") is None  # the sample shown back is text too
    admin = auth(org_a.key("admin"))
    got = httpx.get(f"{service.url}/v1/sources/{source_id}", headers=admin).json()
    assert got["mapping"] == {"phone": "/tel"}

    # Save the good one: what PATCH /v1/sources/{id} stores; the vendor's next post uses it
    type_into(browser, "#mapping", json.dumps(edited))
    browser.submit("#mapping-form")
    assert browser.js("!!document.getElementById('mapping-saved')")
    got = httpx.get(f"{service.url}/v1/sources/{source_id}", headers=admin).json()
    assert got["mapping"] == edited
    posted = httpx.post(url, json=sample, headers=auth(org_a.key("write,read")))
    assert posted.status_code == 201, posted.text
    made = httpx.get(
        f"{service.url}/v1/leads/{posted.json()['lead_id']}", headers=auth(org_a.key("read"))
    ).json()
    assert made["first_name"] == "Ada"

    # CSRF on Save and on the preview; another org's source is a 404
    with http_session(service, org_a.key("admin")) as client:
        resp = client.post(f"/console/sources/{source_id}", data={"mapping": '{"phone": "/x"}'})
        assert resp.status_code == 403
        resp = client.post(
            f"/console/sources/{source_id}/preview",
            json={"mapping": "", "sample": "{}", "content_type": "application/json"},
        )
        assert resp.status_code == 403
        # hostile drafts: answered, never a 500, nothing stored
        token = csrf_of(client.get(f"/console/sources/{source_id}").text)
        for mapping, sample in (
            ("[" * 100_000, "{}"),
            (json.dumps({"phone": "/tel"}), "[" * 100_000),
            (r'{"phone": "/tel\u0000"}', "{}"),
            ("", r'{"tel": "5125550942", "first_name": "\u0000"}'),
            ('"a string"', "{}"),
        ):
            resp = client.post(
                f"/console/sources/{source_id}/preview",
                json={"mapping": mapping, "sample": sample, "content_type": "application/json"},
                headers={"X-CSRF-Token": token},
            )
            assert resp.status_code == 200, (mapping[:20], resp.text)
            assert isinstance(resp.json(), dict)
        for bad in ("[" * 50_000, r'{"phone": "/tel\u0000"}'):
            resp = client.post(
                f"/console/sources/{source_id}", data={"csrf": token, "mapping": bad}
            )
            assert resp.status_code == 422 and "mapping" in resp.text, resp.text[:300]
    assert (
        httpx.get(f"{service.url}/v1/sources/{source_id}", headers=admin).json()["mapping"]
        == edited
    )
    with http_session(service, org_b.key("admin")) as other:
        token = csrf_of(other.get("/console/keys").text)
        resp = other.post(
            f"/console/sources/{source_id}",
            data={"csrf": token, "mapping": '{"phone": "/x"}'},
        )
        assert resp.status_code == 404


PREVIEW_ROWS_JS = (
    "Object.fromEntries([...document.querySelectorAll('#preview-fields tbody tr')]"
    ".map(tr => [tr.cells[0].textContent, 1]))"
)
CALENDLY_KEYS = ("calendly-key-one-0123456789", "calendly-key-two-0123456789",
                 "calendly-key-three-012345678")  # fmt: skip


def calendly_post(url: str, sample: bytes, key: str) -> httpx.Response:
    """The sample, signed as Calendly signs (each post its own body: a signature is good once)."""
    body = json.dumps({**json.loads(sample), "nonce": os.urandom(8).hex()}).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return httpx.post(
        url, content=body,
        headers={"Content-Type": "application/json",
                 "Calendly-Webhook-Signature": f"t={stamp},v1={mac}"},
    )  # fmt: skip


def test_a_vendors_signing_secret_is_set_in_the_page_write_only(browser, service, org_a):
    one, two, three = CALENDLY_KEYS
    body = fixture("calendly_invitee_created.json")
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/sources")
    browser.fill("#src-name", "calendly")
    browser.js("document.getElementById('src-preset').value = 'calendly'")
    browser.submit("#create-source")  # a preset with its own signature needs the vendor's key
    assert "secret" in browser.js("document.getElementById('source-error').textContent")
    browser.fill("#src-name", "calendly")
    browser.js("document.getElementById('src-preset').value = 'calendly'")
    browser.fill("#src-secret", one)
    browser.submit("#create-source")
    url = browser.js("document.getElementById('new-url').value")
    assert one not in browser.js("document.documentElement.outerHTML")  # never shown back
    assert calendly_post(url, body, one).status_code in (200, 201)
    source_id = url.split("/")[-2]

    browser.goto(f"{service.url}/console/sources/{source_id}")
    assert browser.js("document.getElementById('secret-secret').type") == "password"
    browser.fill("#secret-secret", two)
    browser.submit("#secrets-form")
    assert "signing secret" in browser.js("document.getElementById('secrets-saved').textContent")
    assert two not in browser.js("document.documentElement.outerHTML")
    assert calendly_post(url, body, one).status_code == 401  # the old key no longer signs
    assert calendly_post(url, body, two).status_code in (200, 201)

    # CSRF: refused, nothing changed; the API's PATCH replaces it the same way, write-only
    with http_session(service, org_a.key("admin")) as client:
        resp = client.post(f"/console/sources/{source_id}/secrets", data={"secret": three})
        assert resp.status_code == 403
        page = client.get(f"/console/sources/{source_id}").text
        assert two not in page and one not in page
        resp = client.post(
            f"/console/sources/{source_id}/secrets", data={"csrf": csrf_of(page), "secret": ""}
        )
        assert resp.status_code == 422
    assert calendly_post(url, body, two).status_code in (200, 201)
    resp = httpx.patch(
        f"{service.url}/v1/sources/{source_id}", json={"secret": three},
        headers=auth(org_a.key("admin")),
    )  # fmt: skip
    assert resp.status_code == 200 and three not in resp.text and "secret" in resp.json()["secrets"]
    assert calendly_post(url, body, two).status_code == 401
    assert calendly_post(url, body, three).status_code in (200, 201)

    # a source that checks no signature has no secret to set
    browser.goto(service.url + "/console/sources")
    browser.fill("#src-name", "unsigned")
    browser.submit("#create-source")
    plain = browser.js("document.getElementById('new-url').value").split("/")[-2]
    browser.goto(f"{service.url}/console/sources/{plain}")
    assert not browser.js("!!document.getElementById('secrets-form')")


def test_sessions_end_when_idle_or_past_their_lifetime_and_are_renewed_by_use(service, org_a):
    db = org_a.database_url
    for column in ("idle_expires_at", "expires_at"):
        with http_session(service, org_a.key("admin")) as client:
            assert client.get("/console/keys").status_code == 200
            token = client.cookies["l2i_console"]
            digest = hashlib.sha256(token.encode()).digest()
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(
                    f"UPDATE console_sessions SET {column} = now() - interval '1 second' "
                    "WHERE token_digest = %s",
                    (digest,),
                )
            resp = client.get("/console/keys", follow_redirects=False)
            assert resp.status_code == 303, column
            assert resp.headers["location"] == "/console/sign-in"
    # use renews the idle timeout, never past the absolute lifetime
    with http_session(service, org_a.key("admin")) as client:
        digest = hashlib.sha256(client.cookies["l2i_console"].encode()).digest()
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(
                "UPDATE console_sessions SET idle_expires_at = now() + interval '1 minute', "
                "expires_at = now() + interval '10 minutes' WHERE token_digest = %s",
                (digest,),
            )
        assert client.get("/console/leads").status_code == 200
        idle, lifetime = fetch(
            db,
            "SELECT idle_expires_at, expires_at FROM console_sessions WHERE token_digest = %s",
            digest,
        )[0]
        assert idle == lifetime  # 30 min of idle time would pass the 10 left: capped


# --- webhooks -------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def test_webhooks_page_creates_tests_lists_attempts_and_replays(
    browser, service, org_a, org_b, receiver
):
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/webhooks")
    assert browser.js("location.pathname") == "/console/webhooks"
    assert browser.js("!!document.querySelector('nav a[href=\"/console/webhooks\"]')")
    browser.fill("#wh-url", receiver.url)
    browser.fill("#wh-types", "lead.created")
    browser.fill("#wh-description", XSS)
    browser.submit("#create-webhook")
    secret = browser.js("document.getElementById('new-secret').value")
    assert secret.startswith("whsec_"), secret
    assert browser.js("!!document.querySelector('button[data-copy=\"new-secret\"]')")
    assert browser.js("window.__pwned") is None  # the description is text
    assert XSS in browser.js("document.querySelector('.endpoint').innerText")
    endpoint_id = browser.js("document.querySelector('.endpoint').dataset.endpoint")

    # send a test event: signed with the secret shown once, its answer on the page
    browser.submit(f"form[action='/console/webhooks/{endpoint_id}/test']")
    assert browser.js("document.querySelector('#tested .status').textContent") == "200"
    assert '{"ok": true}' in browser.js("document.querySelector('#tested pre').textContent")
    got = receiver.wait_for(1)[0]
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "webhook_endpoint.test"
    assert payload["data"] == {"endpoint_id": endpoint_id}

    # a lead's event fails both its tries (500): its attempts are listed, with a replay button
    receiver.statuses = [500, 500]
    posted = httpx.post(
        service.url + "/v1/leads", json=lead("5125550177", first_name="Hooked"),
        headers=auth(org_a.key("write,read")), timeout=30,
    )  # fmt: skip
    assert posted.status_code == 201, posted.text
    receiver.wait_for(3)
    replay = "document.querySelector('.endpoint form[action$=\"/replay\"]')"
    deadline = time.monotonic() + 30
    while not browser.js(f"!!{replay}"):
        assert time.monotonic() < deadline, "the failed attempt is not listed"
        time.sleep(0.3)
        browser.goto(service.url + "/console/webhooks")
    rows = browser.js("document.querySelector('.endpoint .attempts').innerText")
    assert "lead.created" in rows and "500" in rows and '{"ok": true}' in rows, rows
    shot(browser, "webhooks")
    event_id = browser.js(f"{replay}.querySelector('[name=event_id]').value")
    n = len(receiver.ids())
    browser.submit(".endpoint form[action$='/replay']")
    assert "scheduled again" in browser.js("document.getElementById('replayed').textContent")
    again = receiver.wait_for(n + 1)  # the replay: the same webhook-id
    assert all(json.loads(d.body)["type"] == "lead.created" for d in again[1:])
    assert {d.id for d in again[1:]} == {again[1].id}
    assert json.loads(again[-1].body)["id"] == event_id  # the event the button named
    deadline = time.monotonic() + 30
    while "200 (" not in browser.js("document.querySelector('.endpoint .attempts').innerText"):
        assert time.monotonic() < deadline, "the replay's attempt is not listed"
        time.sleep(0.3)
        browser.goto(service.url + "/console/webhooks")

    # CSRF on every POST; another org's endpoint is 404; the test mode lists none of these
    with http_session(service, org_a.key("admin")) as client:
        before = client.get("/console/webhooks").text
        assert before.count('class="card endpoint"') == 1
        for path in ("/console/webhooks", f"/console/webhooks/{endpoint_id}/test",
                     f"/console/webhooks/{endpoint_id}/replay"):  # fmt: skip
            resp = client.post(path, data={"url": receiver.url, "types": "*", "csrf": "0" * 64,
                                           "event_id": event_id})  # fmt: skip
            assert resp.status_code == 403, (path, resp.status_code)
        assert client.get("/console/webhooks").text.count('class="card endpoint"') == 1
        test_mode = client.get("/console/webhooks?mode=test").text
        assert endpoint_id not in test_mode and "No test endpoints yet." in test_mode
        bad = client.post("/console/webhooks", data={
            "csrf": csrf_of(before), "url": "ftp://example.com/x", "types": "*"})  # fmt: skip
        assert bad.status_code == 422 and "url" in bad.text
    with http_session(service, org_b.key("admin")) as other:
        page_b = other.get("/console/webhooks").text
        assert endpoint_id not in page_b
        resp = other.post(f"/console/webhooks/{endpoint_id}/test", data={"csrf": csrf_of(page_b)})
        assert resp.status_code == 404
    assert len(receiver.ids()) >= n + 1  # nothing sent for org b


def endpoint_form(browser: Browser, endpoint_id: str, action: str) -> str:
    return f".endpoint[data-endpoint='{endpoint_id}'] form[action$='/{action}']"


def confirm_and_submit(browser: Browser, selector: str, answer: str) -> None:
    """Submit a form that asks first: its <dialog> opens; `confirm-yes` goes on (and waits for
    the next page), `confirm-no` stays."""
    browser.js(f"document.querySelector({json.dumps(selector)}).requestSubmit()")
    browser.wait_for("document.getElementById('confirm').open")
    if answer == "confirm-no":
        browser.js("document.getElementById('confirm-no').click()")
        assert not browser.js("document.getElementById('confirm').open")
        return
    before = browser.js("performance.timeOrigin")
    browser.js("document.getElementById('confirm-yes').click()")
    browser.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")


def set_waiting_for_a_retry(db: str, endpoint_id: str) -> None:
    """Every delivery to the endpoint pending again, its next retry an hour away (as one that
    failed and waits for its next try)."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', done_at = NULL, "
            "next_attempt_at = now() + interval '1 hour' WHERE endpoint_id = %s",
            (endpoint_id,),
        )


def test_webhooks_page_rotates_disables_enables_deletes_and_replays_a_waiting_retry(
    browser, service, org_a, receiver
):
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/webhooks")
    assert browser.js("document.title") == "Webhooks · lead2inbound"
    assert browser.js("document.querySelectorAll('dialog').length") == 1
    browser.fill("#wh-url", receiver.url)
    browser.fill("#wh-types", "lead.created")
    browser.submit("#create-webhook")
    first = browser.js("document.getElementById('new-secret').value")
    endpoint_id = browser.js("[...document.querySelectorAll('.endpoint')].at(-1).dataset.endpoint")
    # each endpoint's action form: the newest endpoint is listed first
    endpoint_id = browser.js("document.querySelector('.endpoint').dataset.endpoint")

    # rotate: asked first (Cancel changes nothing), the new secret shown once; both sign
    confirm_and_submit(browser, endpoint_form(browser, endpoint_id, "rotate"), "confirm-no")
    assert not browser.js("!!document.getElementById('rotated')")
    browser.js(f"document.getElementById('overlap-{endpoint_id}').value = '3600'")
    confirm_and_submit(browser, endpoint_form(browser, endpoint_id, "rotate"), "confirm-yes")
    second = browser.js("document.getElementById('rotated-secret').value")
    assert second.startswith("whsec_") and second != first
    assert "1 hour" in browser.js("document.getElementById('rotated').textContent")
    n = len(receiver.ids())
    browser.submit(endpoint_form(browser, endpoint_id, "test"))
    got = receiver.wait_for(n + 1)[-1]
    Webhook(second).verify(got.body, got.headers)
    Webhook(first).verify(got.body, got.headers)  # the overlap: the old one still signs
    browser.goto(service.url + "/console/webhooks")
    assert second not in browser.js("document.documentElement.outerHTML")

    # disable: nothing is sent; enable: what waited is sent
    browser.submit(endpoint_form(browser, endpoint_id, "disable"))
    assert "disabled" in browser.js("document.getElementById('webhook-done').textContent")
    admin = auth(org_a.key("admin"))
    api_url = f"{service.url}/v1/webhook-endpoints/{endpoint_id}"
    shown = httpx.get(api_url, headers=admin).json()
    assert shown["enabled"] is False and shown["disabled_reason"] == "disabled"
    n = len(receiver.ids())
    posted = httpx.post(
        service.url + "/v1/leads", json=lead("5125550179", first_name="Paused"),
        headers=auth(org_a.key("write")), timeout=30,
    )  # fmt: skip
    assert posted.status_code == 201, posted.text
    time.sleep(2.0)
    assert len(receiver.ids()) == n
    browser.submit(endpoint_form(browser, endpoint_id, "enable"))
    assert "enabled" in browser.js("document.getElementById('webhook-done').textContent")
    came = receiver.wait_for(n + 1)[-1]
    assert json.loads(came.body)["data"]["lead_id"] == posted.json()["lead_id"]
    assert httpx.get(api_url, headers=admin).json()["enabled"] is True

    # a delivery waiting for its next retry: Replay sends it now (not in an hour), as the API's
    set_waiting_for_a_retry(org_a.database_url, endpoint_id)
    event_id = json.loads(came.body)["id"]
    with http_session(service, org_a.key("admin")) as client:
        page = client.get("/console/webhooks").text
        n = len(receiver.ids())
        resp = client.post(
            f"/console/webhooks/{endpoint_id}/replay",
            data={"csrf": csrf_of(page), "event_id": event_id},
        )
        assert resp.status_code == 200
        assert "to be sent now" in resp.text, resp.text
        receiver.wait_for(n + 1, timeout=10)
    set_waiting_for_a_retry(org_a.database_url, endpoint_id)
    n = len(receiver.ids())
    resp = httpx.post(f"{api_url}/replay", json={"event_id": event_id}, headers=admin)
    assert resp.status_code == 200 and resp.json() == {"scheduled": 1}, resp.text
    assert receiver.wait_for(n + 1, timeout=10)[-1].id == came.id  # the same webhook-id
    # one a worker is sending right now is left to its answer, and the page says why
    with psycopg.connect(org_a.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', done_at = NULL, "
            "lease_expires_at = now() + interval '1 hour' WHERE endpoint_id = %s",
            (endpoint_id,),
        )
    with http_session(service, org_a.key("admin")) as client:
        page = client.get("/console/webhooks").text
        resp = client.post(
            f"/console/webhooks/{endpoint_id}/replay",
            data={"csrf": csrf_of(page), "event_id": event_id},
        )
        assert "Not scheduled again: it is being sent at this moment" in resp.text, resp.text
    with psycopg.connect(org_a.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET state = 'delivered', lease_expires_at = NULL "
            "WHERE endpoint_id = %s",
            (endpoint_id,),
        )

    # CSRF on each action; then delete, asked first
    with http_session(service, org_a.key("admin")) as client:
        for action in ("rotate", "enable", "disable", "delete"):
            resp = client.post(f"/console/webhooks/{endpoint_id}/{action}", data={"csrf": "0"})
            assert resp.status_code == 403, action
    assert httpx.get(api_url, headers=admin).status_code == 200
    browser.goto(service.url + "/console/webhooks")
    confirm_and_submit(browser, endpoint_form(browser, endpoint_id, "delete"), "confirm-no")
    assert httpx.get(api_url, headers=admin).status_code == 200
    confirm_and_submit(browser, endpoint_form(browser, endpoint_id, "delete"), "confirm-yes")
    assert browser.js("location.pathname") == "/console/webhooks"
    assert endpoint_id not in browser.js("document.documentElement.outerHTML")
    assert httpx.get(api_url, headers=admin).status_code == 404


# --- the event stream for the Leads page -----------------------------------------------------


def test_signing_out_ends_the_open_event_stream(service, org_a):
    with http_session(service, org_a.key("admin")) as client:
        cookie = client.cookies["l2i_console"]
        page = client.get("/console/leads").text
        with httpx.Client(base_url=service.url, timeout=10) as streamer:
            streamer.cookies.set("l2i_console", cookie)
            with streamer.stream("GET", "/console/events/stream") as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                assert next(lines) == ": connected"
                resp = client.post("/console/sign-out", data={"csrf": csrf_of(page)})
                assert resp.status_code == 303
                signed_out = time.monotonic()
                for _ in lines:  # heartbeats at most; the stream ends
                    assert time.monotonic() - signed_out < 10
                assert time.monotonic() - signed_out < 6, "the stream outlived its session"


def test_leads_page_follows_the_event_stream_of_the_sessions_org_not_a_poll(
    browser, service, org_a, org_b
):
    assert httpx.get(service.url + "/console/events/stream").status_code == 303  # no session
    with http_session(service, org_a.key("admin")) as client:
        stream_url = "/console/events/stream?type=lead.created"
        with client.stream("GET", stream_url, timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == ": connected"
            for key in (org_b.key("write"), org_a.key("write", test=True), org_a.key("write")):
                posted = httpx.post(
                    service.url + "/v1/leads", json=lead("5125550188"), headers=auth(key),
                    timeout=30,
                )  # fmt: skip
                assert posted.status_code in (200, 201), posted.text
            mine = posted.json()["lead_id"]
            seen = []
            for line in lines:  # the first event this stream shows: org a's live lead only
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    break
            assert seen[0]["type"] == "lead.created" and seen[0]["lead_id"] == mine, seen

    # the page asks for rows when the stream says so, not on a timer
    sign_in(browser, service, org_a.key("admin"))
    browser.goto(service.url + "/console/leads")
    rows_asked = (
        "performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/console/leads/rows')).length"
    )
    time.sleep(1.0)
    idle = browser.js(rows_asked)
    time.sleep(2.0)
    assert browser.js(rows_asked) == idle  # nothing happened: nothing asked
    posted = httpx.post(
        service.url + "/v1/leads", json=lead("5125550189", first_name="Streamed"),
        headers=auth(org_a.key("write")), timeout=30,
    ).json()["lead_id"]  # fmt: skip
    browser.wait_for(f"!!document.querySelector('tr[data-lead=\"{posted}\"]')", 10)
    assert browser.js(rows_asked) > idle
    browser.goto(service.url + "/console/overview")  # its streams close (the server stops fast)
