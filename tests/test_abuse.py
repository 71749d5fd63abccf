"""Abuse by a tenant's own keys (issue 21): idempotency scopes, stored URLs, amplification.

Every test here speaks HTTP to a real Granian process over real Postgres and Redis.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.stack import auth as bearer
from tests.support.stack import fetch, lead, make_org, service_env

ORIGIN = "https://shop.example"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url))


# --- idempotency scope (docs/idempotency.md) ------------------------------------------------------


def test_form_key_cannot_poison_a_secret_keys_idempotency_key(service, database_url):
    org = make_org(database_url)
    form_key, secret = org.form_key(ORIGIN), org.key()
    idem = {"Idempotency-Key": "crm-contact-1001"}
    junk = httpx.post(
        f"{service.url}/v1/leads",
        json=lead("5125550101", first_name="junk"),
        headers={**bearer(form_key), "Origin": ORIGIN, **idem},
    )
    assert junk.status_code == 201, junk.text
    real = httpx.post(
        f"{service.url}/v1/leads",
        json=lead("5125550102", first_name="Real"),
        headers={**bearer(secret), **idem},
    )
    assert real.status_code == 201, real.text
    assert "Idempotent-Replayed" not in real.headers
    stored = fetch(
        database_url,
        "SELECT first_name FROM leads WHERE lead_id = %s",
        real.json()["lead_id"],
    )
    assert stored == [("Real",)]
    # each side still replays its own answer
    again = httpx.post(
        f"{service.url}/v1/leads",
        json=lead("5125550102", first_name="Real"),
        headers={**bearer(secret), **idem},
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["lead_id"] == real.json()["lead_id"]


def test_two_form_keys_of_one_org_never_share_a_record(service, database_url):
    org = make_org(database_url)
    one, two = org.form_key(ORIGIN), org.form_key(ORIGIN)
    idem = {"Idempotency-Key": "form-1", "Origin": ORIGIN}
    a = httpx.post(
        f"{service.url}/v1/leads", json=lead("5125550111"), headers={**bearer(one), **idem}
    )
    b = httpx.post(
        f"{service.url}/v1/leads", json=lead("5125550112"), headers={**bearer(two), **idem}
    )
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)


def test_sandbox_record_is_never_replayed_to_the_live_key(service, database_url):
    org = make_org(database_url)
    sandbox, live = org.key(test=True), org.key()
    idem = {"Idempotency-Key": "crm-rec-555"}
    body = lead("5125550103")
    first = httpx.post(f"{service.url}/v1/leads", json=body, headers={**bearer(sandbox), **idem})
    assert first.status_code == 201, first.text
    second = httpx.post(f"{service.url}/v1/leads", json=body, headers={**bearer(live), **idem})
    assert second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["lead_id"] != first.json()["lead_id"]
    sandboxes = fetch(
        database_url, "SELECT sandbox FROM leads WHERE org_id = %s ORDER BY sandbox", org.org_id
    )
    assert sandboxes == [(False,), (True,)]
    queued = fetch(
        database_url, "SELECT lead_id::text FROM dial_queue WHERE org_id = %s", org.org_id
    )
    assert queued == [(second.json()["lead_id"],)]  # the live lead, queued; the sandbox one not
    # and the batch route is scoped the same way
    batch = {"leads": [lead("5125550104")]}
    idem = {"Idempotency-Key": "crm-batch-9"}
    s = httpx.post(f"{service.url}/v1/leads/batch", json=batch, headers={**bearer(sandbox), **idem})
    lv = httpx.post(f"{service.url}/v1/leads/batch", json=batch, headers={**bearer(live), **idem})
    assert s.status_code == lv.status_code == 200, (s.text, lv.text)
    assert "Idempotent-Replayed" not in lv.headers
    assert lv.json()["results"][0]["body"]["lead_id"] != s.json()["results"][0]["body"]["lead_id"]
    assert lv.json()["results"][0]["status"] == 201


# --- URLs a key or source stores ------------------------------------------------------------------

BAD_URLS = [
    "https://shop.example/thanks\r\nSet-Cookie: a=b",
    "https://shop.example/\nx",
    "https://shop.example/\tx",
    "https://shop.example/\x7f",
    "https://shop.example/\x85",
    "https://shop.example/a b",
    "javascript:alert(1)",
    "//shop.example/thanks",
    "/thanks",
    "https://",
    "https://shop.example:99999/",
    "https://shop.example/" + "a" * 2001,
]


@pytest.mark.parametrize("field", ["success_url", "error_url"])
@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
def test_a_bad_redirect_url_is_refused_through_the_api(service, database_url, field, url):
    admin = make_org(database_url).key("admin")
    body = {"name": "form", "kind": "publishable", "scopes": ["write"],
            "allowed_origins": [ORIGIN], field: url}  # fmt: skip
    resp = httpx.post(f"{service.url}/v1/api-keys", json=body, headers=bearer(admin))
    assert resp.status_code == 422, resp.text
    assert [e["param"] for e in resp.json()["errors"]] == [field]
    assert fetch(database_url, "SELECT count(*) FROM api_keys WHERE name = 'form'") == [(0,)]


@pytest.mark.parametrize("url", BAD_URLS[:6], ids=range(6))
def test_a_bad_redirect_url_is_refused_through_the_cli(database_url, url):
    from click.testing import CliRunner

    from lead2inbound.cli.main import main
    from tests.support.stack import PEPPER

    org = make_org(database_url)
    env = {"L2I_DATABASE_URL": database_url, "L2I_KEY_PEPPER": PEPPER}
    for option in ("--success-url", "--error-url"):
        made = CliRunner().invoke(
            main,
            ["keys", "create", "--org", org.org_id, "--name", "form", "--publishable",
             "--allowed-origins", ORIGIN, option, url],
            env=env,
        )  # fmt: skip
        assert made.exit_code != 0, made.output
        assert option[2:].replace("-", "_") in made.output, made.output
    assert fetch(database_url, "SELECT count(*) FROM api_keys WHERE name = 'form'") == [(0,)]


def test_a_bad_graph_url_is_refused_for_a_source(service, database_url):
    admin = make_org(database_url).key("admin")
    body = {"name": "s", "mapping": {"phone": "/phone", "consent.consent_timestamp": "/t"},
            "options": {"graph_url": "https://graph.example/\r\nx"}}  # fmt: skip
    resp = httpx.post(f"{service.url}/v1/sources", json=body, headers=bearer(admin))
    assert resp.status_code == 422, resp.text
    assert "graph_url" in resp.json()["errors"][0]["param"], resp.text


def test_a_key_stored_with_a_crlf_url_never_answers_500(service, database_url):
    """A key made before URLs were checked (written straight to the table here) may hold a CR/LF:
    its form posts commit the lead and must then redirect as if it had no URL, not 500."""
    org = make_org(database_url)
    key = org.form_key(ORIGIN, success_url="https://shop.example/ok",
                       error_url="https://shop.example/oops")  # fmt: skip
    fetch(
        database_url,
        "UPDATE api_keys SET success_url = %s, error_url = %s WHERE org_id = %s RETURNING 1",
        "https://shop.example/ok\r\nSet-Cookie: a=b",
        "https://shop.example/oops\r\nX: y",
        org.org_id,
    )
    url = f"{service.url}/v1/forms/{key}"
    browser = {"Origin": ORIGIN, "Accept": "text/html"}
    ok = httpx.post(url, data={"phone": "5125550141", "consent_timestamp": "2026-07-05T12:00:00Z"},
                    headers=browser)  # fmt: skip
    assert ok.status_code == 303, ok.text
    assert ok.headers["Location"] == "/v1/form-sent" and "set-cookie" not in ok.headers
    bad = httpx.post(url, data={"phone": "12"}, headers=browser)
    assert bad.status_code == 422 and "location" not in bad.headers, bad.text
