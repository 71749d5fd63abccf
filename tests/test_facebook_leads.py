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
from hypothesis import given
from hypothesis import strategies as st

from lead2inbound.cli import main
from tests.fakes.graph import PAGE_TOKEN, GraphFake
from tests.support.sources import SECRET_KEY, create_source, fixture, stored_leads
from tests.support.stack import auth, fetch, make_org, service_env
from tests.support.tcp_proxy import TcpProxy

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


def graph_env(graph: GraphFake, **extra: str) -> dict[str, str]:
    """The operator's settings pointing the fetcher at the local fake Graph API (an http
    address on 127.0.0.1: allowed by L2I_FACEBOOK_GRAPH_ALLOW_PRIVATE only)."""
    return {
        "L2I_SECRET_KEY": SECRET_KEY,
        "L2I_FACEBOOK_GRAPH_URL": graph.graph_url,
        "L2I_FACEBOOK_GRAPH_ALLOW_PRIVATE": "true",
        "L2I_FACEBOOK_TIMEOUT_MS": "300",
        "L2I_FACEBOOK_RETRY_INTERVAL_S": "0.2",
        "L2I_FACEBOOK_RETRY_MAX_BACKOFF_S": "0.5",
        **extra,
    }


@pytest.fixture
def service(server_factory, database_url, redis_url, graph):
    return server_factory(service_env(database_url, redis_url, **graph_env(graph)))


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
        "options": _preset_options(),
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
    assert resp.json() == {"received": 1, "kept": 1, "refused": 0}
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
    assert again.json() == {"received": 1, "kept": 0, "refused": 0}
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
    assert resp.json() == {"received": 2, "kept": 2, "refused": 0}
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


# --- issue 21: SSRF, amplification, starvation, bounded retries, a huge answer -----------------


def notification(*leadgen_ids) -> bytes:
    """A leadgen notification carrying these ids (one change each), as Facebook shapes it."""
    base = json.loads(NOTIFICATION)
    template = base["entry"][0]["changes"][0]
    changes = []
    for lid in leadgen_ids:
        change = json.loads(json.dumps(template))
        change["value"]["leadgen_id"] = lid
        changes.append(change)
    base["entry"][0]["changes"] = changes
    return json.dumps(base).encode()


def post(service, source, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{service.url}{source['ingest_url']}", content=body, headers=signed(body), timeout=30
    )


def test_graph_url_is_not_a_source_option(service, database_url, org, graph):
    """A tenant once chose where the service sends its page token (SSRF): refused at creation;
    a source stored with one before still fetches from the operator's Graph API only."""
    victim = GraphFake().start()  # "an internal service" the tenant aims at
    victim.leads[LEADGEN_ID] = LEAD
    try:
        resp = httpx.post(
            f"{service.url}/v1/sources",
            json={
                "name": "fb",
                "preset": "facebook",
                "secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
                "page_token": PAGE_TOKEN,
                "options": {**_preset_options(), "graph_url": victim.graph_url},
            },
            headers=auth(org.key("admin")),
        )
        assert resp.status_code == 422, resp.text
        [err] = resp.json()["errors"]
        assert "graph_url" in err["pointer"] and "L2I_FACEBOOK_GRAPH_URL" in err["detail"]

        source = facebook_source(service, org, graph)
        fetch(  # an old row, written when the option was accepted
            database_url,
            "UPDATE lead_sources SET options = options || jsonb_build_object('graph_url', %s::text)"
            " WHERE source_id = %s RETURNING source_id",
            victim.graph_url,
            source["source_id"],
        )
        assert post(service, source, NOTIFICATION).status_code == 200
        wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
        assert graph.fetches == [LEADGEN_ID] and victim.hits == 0
    finally:
        victim.stop()


def test_a_leadgen_id_is_facebook_digits_or_never_fetched(service, database_url, org, graph):
    source = facebook_source(service, org, graph)
    hostile = [
        "../../admin?x=1#frag",
        "555971704561545/../../admin",
        "555971704561545?fields=access_token",
        "55597 1704561545",
        "\u0665\u0665\u0665",  # Arabic-Indic digits: digits, but not Facebook's
        "-5",
        True,
        1.5,
        {"id": 1},
    ]
    resp = post(service, source, notification(*hostile, LEADGEN_ID))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"received": 1, "kept": 1, "refused": len(hostile)}
    wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"])
    assert [r[0] for r in rows(database_url)] == [LEADGEN_ID]
    assert graph.paths == [f"/v21.0/{LEADGEN_ID}?fields={graph_fields()}"]

    # a row kept before ids were checked is never put in a path: failed, nothing sent
    fetch(
        database_url,
        "INSERT INTO facebook_leads (org_id, leadgen_id, source_id, notification) "
        "VALUES (%s, '../../admin?x=1#frag', %s, '{}') RETURNING leadgen_id",
        org.org_id,
        source["source_id"],
    )
    [row] = wait_for(lambda: [r for r in rows(database_url) if r[1] == "failed"])
    assert "not digits" in row[3] and row[2] == 1
    assert len(graph.paths) == 1 and not any("admin" in p for p in graph.paths)


def graph_fields() -> str:
    from lead2inbound.sources.facebook import LEAD_FIELDS

    return LEAD_FIELDS


def test_a_notification_is_charged_per_leadgen_id_and_fetches_each_once(
    service, database_url, org, graph
):
    """One signed request of 2,000 ids was 1 rate-limit unit and thousands of GETs, forever."""
    source = facebook_source(service, org, graph, rate_limit=150)
    too_many = post(service, source, notification(*(str(10**14 + i) for i in range(2000))))
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["errors"][0]["pointer"] == "#/entry"
    assert rows(database_url) == [] and graph.paths == []

    # the same id 500 times: one lead to fetch, one unit
    same = post(service, source, notification(*[LEADGEN_ID] * 500))
    assert same.json() == {"received": 1, "kept": 1, "refused": 0}
    # 100 ids Graph does not know (code 100): 100 units, one GET each, then failed for good
    first = post(service, source, notification(*(str(10**14 + i) for i in range(100))))
    assert first.status_code == 200 and first.json()["kept"] == 100
    # 150 - 1 (the refused 2,000) - 1 - 100 = 48 left (a few refill while the test runs;
    # the same three requests left 147 before)
    assert 48 <= int(first.headers["X-RateLimit-Remaining"]) <= 60
    # the source's 150 a minute are spent: 100 more ids are refused whole, nothing kept
    second = post(service, source, notification(*(str(2 * 10**14 + i) for i in range(100))))
    assert second.status_code == 429, second.text
    wait_for(lambda: len([r for r in rows(database_url) if r[1] != "pending"]) == 101, 60)
    time.sleep(1.0)  # nothing is fetched again
    assert len(graph.paths) == 101 and len(rows(database_url)) == 101
    failed = [r for r in rows(database_url) if r[1] == "failed"]
    assert len(failed) == 100 and all(r[2] == 1 and "100" in r[3] for r in failed)


def test_one_orgs_silent_fetches_do_not_hold_up_another_orgs_lead(
    server_factory, database_url, redis_url, graph
):
    """200 notices of org A hang on a silent Graph host (every fetch waits the full 5 s
    timeout); org B's lead must still be fetched within seconds, not after A's queue."""
    service = server_factory(
        service_env(
            database_url,
            redis_url,
            **graph_env(graph, L2I_FACEBOOK_TIMEOUT_MS="5000", L2I_FACEBOOK_RETRY_INTERVAL_S="1"),
        )
    )
    org_a, org_b = make_org(database_url, "org-a"), make_org(database_url, "org-b")
    silent_token = "EAAGsilentPageToken" + "s" * 30
    graph.silent_tokens.add(silent_token)
    graph.silent_s = 8.0
    source_a = facebook_source(service, org_a, graph, page_token=silent_token, rate_limit=1000)
    source_b = facebook_source(service, org_b, graph)
    resp = post(service, source_a, notification(*(str(10**14 + i) for i in range(200))))
    assert resp.json()["kept"] == 200
    wait_for(lambda: len(graph.paths) >= 4)  # A's fetches are hanging
    started = time.monotonic()
    assert post(service, source_b, NOTIFICATION).status_code == 200
    wait_for(
        lambda: fetch(
            database_url,
            "SELECT 1 FROM facebook_leads WHERE org_id = %s AND status = 'done'",
            org_b.org_id,
        ),
        timeout_s=30,
    )
    waited = time.monotonic() - started
    print(f"org B's lead fetched {waited:.2f} s after its notification")
    assert waited < 6.0, f"org B's lead waited {waited:.1f} s behind org A's silent fetches"
    assert len(stored_leads(database_url, org_b.org_id)) == 1


def test_the_fetcher_survives_a_postgres_outage_and_resumes(
    server_factory, database_url, redis_url, org, graph
):
    """The fetcher runs on the shared RetryLoop: rounds that fail while Postgres is away (every
    connection dropped, new ones refused) are logged and tried again; the loop never dies and
    fetches the kept lead once Postgres is back."""
    proxy, proxied_url = TcpProxy.for_url(database_url)
    proxy.start()
    try:
        env = graph_env(graph, L2I_FACEBOOK_MAX_ATTEMPTS="1000", L2I_DB_TIMEOUT_S="1")
        service = server_factory(service_env(proxied_url, redis_url, **env))
        source = facebook_source(service, org, graph)
        graph.mode = "error500"  # kept, but not fetched yet
        assert post(service, source, NOTIFICATION).status_code == 200
        wait_for(lambda: graph.hits >= 2)
        proxy.cut()
        graph.mode = "ok"
        time.sleep(3.0)  # several rounds against a Postgres that is not there
        assert [r[1] for r in rows(database_url)] == ["pending"]
        assert "l2i-facebook-retrier round failed" in service.log_text()
        proxy.start()
        [row] = wait_for(lambda: [r for r in rows(database_url) if r[1] == "done"], 40)
        assert row[4] is not None
        assert len(stored_leads(database_url, org.org_id)) == 1
    finally:
        proxy.cut()


@pytest.mark.parametrize(
    "bound", [{"L2I_FACEBOOK_MAX_ATTEMPTS": "3"}, {"L2I_FACEBOOK_GIVE_UP_S": "1.5"}]
)
def test_a_fetch_that_keeps_failing_gives_up_and_shows_failed(
    server_factory, database_url, redis_url, org, graph, bound
):
    service = server_factory(service_env(database_url, redis_url, **graph_env(graph, **bound)))
    source = facebook_source(service, org, graph)
    graph.mode = "error500"
    assert post(service, source, NOTIFICATION).status_code == 200
    [row] = wait_for(lambda: [r for r in rows(database_url) if r[1] == "failed"], 30)
    assert row[3].startswith(f"gave up after {row[2]} attempts: Graph API HTTP 500")
    if "L2I_FACEBOOK_MAX_ATTEMPTS" in bound:
        assert row[2] == 3
    hits = graph.hits
    time.sleep(1.5)
    assert graph.hits == hits  # no more tries
    assert hits == row[2]

    shown = httpx.get(
        f"{service.url}/v1/sources/{source['source_id']}", headers=auth(org.key("admin"))
    ).json()
    assert shown["facebook_leads"] == {"failed": {"count": 1, "last_error": row[3]}}
    env = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY}
    result = CliRunner().invoke(
        main, ["sources", "show", "--org", org.org_id, source["source_id"]], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["facebook_leads"]["failed"]["count"] == 1


def test_a_huge_graph_answer_is_cut_at_one_mib(server_factory, database_url, redis_url, org, graph):
    """A 400 MB answer took a worker from 590 MB to 1.73 GB: now reading stops at 1 MiB."""
    service = server_factory(
        service_env(
            database_url,
            redis_url,
            **graph_env(graph, L2I_FACEBOOK_MAX_ATTEMPTS="2", L2I_FACEBOOK_TIMEOUT_MS="10000"),
        )
    )
    source = facebook_source(service, org, graph)
    rss_before = _rss(service.pid)
    graph.mode = "huge"
    assert post(service, source, NOTIFICATION).status_code == 200
    [row] = wait_for(lambda: [r for r in rows(database_url) if r[1] == "failed"], 60)
    assert "larger than 1048576 bytes" in row[3] and row[2] == 2
    # 2 tries x (1 MiB read + what the sockets buffered) of the 800 MiB offered
    assert graph.huge_sent < 2 * 48 << 20, graph.huge_sent
    grew = _rss(service.pid) - rss_before
    sent_mib, grew_mib = graph.huge_sent / 2**20, grew / 2**20
    print(f"huge answers: {sent_mib:.1f} MiB written, server RSS +{grew_mib:.1f} MiB")
    assert grew < 100 << 20  # was +1.1 GB for one 400 MB answer


def _rss(pid) -> int:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _as_facebook_sends(raw):
    if type(raw) is int and raw >= 0:
        raw = str(raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 32:
        return raw
    return None


@given(
    st.lists(
        st.one_of(JSONISH, st.from_regex(r"[0-9]{1,20}", fullmatch=True), st.integers(0, 10**18)),
        max_size=20,
    )
)
def test_leadgen_notices_keep_only_digit_ids_and_count_the_rest(ids):
    from lead2inbound.sources.facebook import leadgen_notices

    got = leadgen_notices(json.loads(notification(*ids)))
    present = [i for i in ids if i is not None and i != ""]
    good = [_as_facebook_sends(i) for i in present]
    assert [n.leadgen_id for n in got.kept] == list(dict.fromkeys(g for g in good if g))
    assert got.refused == good.count(None)


def test_the_graph_url_setting_is_https_unless_the_operator_allows_private():
    from lead2inbound.ops.config import Config, ConfigError

    with pytest.raises(ConfigError, match="L2I_FACEBOOK_GRAPH_URL"):
        Config(facebook_graph_url="http://127.0.0.1:9/v21.0").validate()
    Config(facebook_graph_url="http://127.0.0.1:9/v21.0", facebook_graph_allow_private=True)
    with pytest.raises(ConfigError, match="ORG_CONCURRENCY"):
        Config(facebook_concurrency=2, facebook_org_concurrency=3).validate()


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
