"""Facebook Lead Ads end to end: the subscription handshake, signed leadgen notifications, the
lead fetched from a fake Graph API through its failures (timeouts, 500s, an expired token) and
recovery; nothing lost, and a lead fetched twice is one lead."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from click.testing import CliRunner

from lead2inbound.cli import main
from tests.fakes.graph import PAGE_TOKEN, GraphFake
from tests.support.sources import SECRET_KEY, create_source, fixture, stored_leads
from tests.support.stack import auth, fetch, make_org, service_env

APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY_TOKEN = "verify-me-" + "v" * 16
NOTIFICATION = fixture("facebook_leadgen_notification.json")
LEAD = json.loads(fixture("facebook_graph_lead.json"))
LEADGEN_ID = "555971704561545"


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={mac}"}


@pytest.fixture
def graph():
    fake = GraphFake().start()
    fake.timeout_delay_s = 1.0
    fake.leads[LEADGEN_ID] = LEAD
    yield fake
    fake.stop()


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(
        service_env(
            database_url,
            redis_url,
            L2I_SECRET_KEY=SECRET_KEY,
            L2I_FACEBOOK_TIMEOUT_MS="300",
            L2I_FACEBOOK_RETRY_INTERVAL_S="0.2",
            L2I_FACEBOOK_RETRY_MAX_BACKOFF_S="0.5",
        )
    )


@pytest.fixture
def org(database_url):
    return make_org(database_url)


def facebook_source(service, org, graph, **over):
    body = {
        "name": "facebook-lead-ads",
        "preset": "facebook",
        "secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "page_token": PAGE_TOKEN,
        "options": {**_preset_options(), "graph_url": graph.graph_url},
        **over,
    }
    return create_source(service.url, org.key("admin"), **body)


def _preset_options():
    from lead2inbound.sources.presets import PRESETS

    return dict(PRESETS["facebook"].options)


def rows(database_url):
    return fetch(
        database_url,
        "SELECT leadgen_id, status, attempts, last_error, lead_id FROM facebook_leads",
    )


def wait_for(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_subscription_handshake(service, org, graph):
    source = facebook_source(service, org, graph)
    url = f"{service.url}{source['ingest_url']}"
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ):
        assert httpx.get(url, params=params).status_code == 403
    other = create_source(service.url, org.key("admin"), name="x", mapping={"phone": "/p"})
    assert httpx.get(f"{service.url}{other['ingest_url']}", params=params).status_code == 404


def test_signed_notification_fetches_the_lead(service, database_url, org, graph):
    source = facebook_source(service, org, graph)
    url = f"{service.url}{source['ingest_url']}"
    for headers in (
        {"Content-Type": "application/json"},  # unsigned
        signed(NOTIFICATION, "not-the-app-secret"),
    ):
        resp = httpx.post(url, content=NOTIFICATION, headers=headers)
        assert resp.status_code == 401
    assert rows(database_url) == [] and graph.fetches == []

    resp = httpx.post(url, content=NOTIFICATION, headers=signed(NOTIFICATION))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"received": 1, "kept": 1}
    done = wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
    assert done[0][0] == LEADGEN_ID and done[0][3] is None

    [lead] = stored_leads(database_url, org.org_id)
    assert str(lead["lead_id"]) == str(done[0][4])
    assert lead["source"] == "facebook-lead-ads"
    assert lead["api_key_id"] == f"src:{source['source_id']}"
    assert lead["phone"] == "+15125550171"
    assert (lead["first_name"], lead["last_name"]) == ("James", "Oak")  # full_name, split
    assert lead["email"] == "james.oak@example.org"
    assert (lead["state"], lead["postal_code"]) == ("TX", "78702")
    assert lead["external_id"] == LEADGEN_ID
    assert lead["consent"] == {
        "consent_timestamp": "2025-07-05T12:00:00Z",  # the form was submitted, disclaimer ticked
        "consent_text_version": "facebook-form:551111744595541",
    }
    assert lead["attribution"] == {
        "utm_source": "facebook",
        "ad_id": "23851234567890123",
        "campaign_id": "23851234567890001",
    }
    assert lead["custom_fields"] == {"when_do_you_want_to_start?": "within_a_month"}
    assert lead["status"] == "new"
    req = next(r for r in graph.requests if r.path.endswith(LEADGEN_ID))
    assert req.headers["Authorization"] == f"Bearer {PAGE_TOKEN}"
    assert "access_token" not in req.query  # the token stays out of URLs

    # the same notification again (Facebook retries): one row, no second fetch, one lead
    again = httpx.post(url, content=NOTIFICATION, headers=signed(NOTIFICATION))
    assert again.json() == {"received": 1, "kept": 0}
    time.sleep(0.6)
    assert len(rows(database_url)) == 1 and graph.fetches == [LEADGEN_ID]
    assert len(stored_leads(database_url, org.org_id)) == 1


@pytest.mark.parametrize("failure", ["timeout", "error500", "graph500", "expired"])
def test_a_failed_fetch_is_kept_and_retried_until_it_works(
    service, database_url, org, graph, failure
):
    source = facebook_source(service, org, graph)
    graph.mode = failure
    resp = httpx.post(
        f"{service.url}{source['ingest_url']}", content=NOTIFICATION, headers=signed(NOTIFICATION)
    )
    assert resp.status_code == 200
    tried = wait_for(lambda: [r for r in rows(database_url) if r[2] >= 2])
    _, status, _, error, lead_id = tried[0]
    assert status == "pending" and lead_id is None and error
    if failure == "expired":
        assert "access token is expired" in error and "190" in error
    elif failure == "timeout":
        assert "timeout" in error
    else:
        assert "500" in error
    assert stored_leads(database_url, org.org_id) == []
    assert PAGE_TOKEN not in error

    graph.mode = "ok"  # recovery
    wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
    [lead] = stored_leads(database_url, org.org_id)
    assert lead["external_id"] == LEADGEN_ID and lead["phone"] == "+15125550171"


def test_an_expired_token_recovers_with_a_new_one_from_the_cli(service, database_url, org, graph):
    source = facebook_source(service, org, graph)
    graph.token = "EAAGnewPageToken" + "n" * 30  # the stored one has expired
    httpx.post(
        f"{service.url}{source['ingest_url']}", content=NOTIFICATION, headers=signed(NOTIFICATION)
    )
    wait_for(lambda: [r for r in rows(database_url) if r[3] and "190" in r[3]])
    env = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY}
    result = CliRunner().invoke(
        main,
        [
            "sources",
            "secrets",
            "--org",
            org.org_id,
            source["source_id"],
            "--page-token",
            graph.token,
        ],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert graph.token not in result.output
    wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
    assert len(stored_leads(database_url, org.org_id)) == 1


def test_a_lead_fetched_twice_is_one_lead(service, database_url, org, graph):
    """Two leadgen ids for the same person (or a fetch repeated after a crash between the write
    and its record): the duplicate check makes them one lead."""
    source = facebook_source(service, org, graph)
    graph.leads["777000111222333"] = {**LEAD, "id": "777000111222333"}
    two = json.loads(NOTIFICATION)
    second = json.loads(json.dumps(two["entry"][0]["changes"][0]))
    second["value"]["leadgen_id"] = "777000111222333"
    two["entry"][0]["changes"].append(second)
    body = json.dumps(two).encode()
    resp = httpx.post(f"{service.url}{source['ingest_url']}", content=body, headers=signed(body))
    assert resp.json() == {"received": 2, "kept": 2}
    done = wait_for(lambda: len([r for r in rows(database_url) if r[1] == "done"]) == 2)
    assert done
    [lead] = stored_leads(database_url, org.org_id)
    assert {str(r[4]) for r in rows(database_url)} == {str(lead["lead_id"])}


def test_a_lead_that_does_not_validate_is_kept_as_failed(service, database_url, org, graph):
    graph.leads[LEADGEN_ID] = {
        **LEAD,
        "field_data": [{"name": "phone_number", "values": ["12"]}],
    }
    source = facebook_source(service, org, graph)
    httpx.post(
        f"{service.url}{source['ingest_url']}", content=NOTIFICATION, headers=signed(NOTIFICATION)
    )
    [row] = wait_for(lambda: [r for r in rows(database_url) if r[1] == "failed"])
    assert "invalid_phone" in row[3] and "/field_data/" in row[3]
    assert stored_leads(database_url, org.org_id) == []


def test_facebook_source_needs_its_secrets(service, org):
    resp = httpx.post(
        f"{service.url}/v1/sources",
        json={"name": "fb", "preset": "facebook", "secret": APP_SECRET},
        headers=auth(org.key("admin")),
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["pointer"] in ("#/verify_token", "#/page_token")


def test_a_time_no_calendar_holds_does_not_leave_the_row_pending(service, database_url, org, graph):
    """Issue 21: the conversion raised, the fetcher retried forever (`pending`). Now the lead is
    written, its consent time kept as given (invalid_consent: the gate fails closed)."""
    graph.leads[LEADGEN_ID] = {**LEAD, "created_time": 99999999999999999999}
    source = facebook_source(service, org, graph)
    httpx.post(
        f"{service.url}{source['ingest_url']}", content=NOTIFICATION, headers=signed(NOTIFICATION)
    )
    wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
    [lead] = stored_leads(database_url, org.org_id)
    assert lead["consent"]["consent_timestamp"] == "99999999999999999999"
    assert "invalid_consent" in lead["reasons"]
