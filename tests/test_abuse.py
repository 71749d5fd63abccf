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
