"""Gate 4 end to end: a real Granian process, real Postgres and Redis, fake DNC providers."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from click.testing import CliRunner

from lead2inbound.cli import main
from tests.fakes import dncscrub, tcpa
from tests.fakes.dncscrub import DncScrubFake
from tests.fakes.tcpa import TcpaFake
from tests.support.stack import auth, fetch, lead, make_org, service_env

SECRET = "test-secret-key-" + "k" * 40
SECRETS = (tcpa.PASSWORD, tcpa.USERNAME, dncscrub.LOGIN_ID, SECRET)


def cli(database_url, *args, env=None, tmp=None):
    full = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET, **(env or {})}
    if tmp is not None:
        full["L2I_DNC_REGISTRY_DIR"] = str(tmp)
    result = CliRunner().invoke(main, list(args), env=full, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def env(database_url, redis_url, **extra):
    return service_env(
        database_url,
        redis_url,
        L2I_SECRET_KEY=SECRET,
        L2I_DNC_RESCRUB_INTERVAL_S="0.2",
        L2I_DNC_RESCRUB_MAX_BACKOFF_S="0.4",
        L2I_DNC_CACHE_TTL_S="0.2",
        **extra,
    )


def post(service, key, body):
    resp = httpx.post(f"{service.url}/v1/leads", json=body, headers=auth(key), timeout=10)
    assert resp.status_code in (200, 201), resp.text
    for secret in SECRETS:
        assert secret not in resp.text
    return resp.json()


def queued(database_url, lead_id):
    return (
        fetch(database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = %s", lead_id)[0][0]
        == 1
    )


@pytest.fixture
def tcpa_fake():
    fake = TcpaFake().start()
    fake.timeout_delay_s = 1.0
    fake.lists = {
        "5125550201": ["dnc_complainers"],
        "5125550202": ["tcpa"],
        "5125550213": ["dnc_complainers"],
    }
    yield fake
    fake.stop()


def test_tcpa_intake_fails_closed_and_recovers(tcpa_fake, server_factory, database_url, redis_url):
    org = make_org(database_url)
    key = org.key()
    out = cli(
        database_url,
        "dnc",
        "connect",
        "--org",
        org.org_id,
        "--provider",
        "tcpa-litigator-list",
        "--username",
        tcpa.USERNAME,
        "--base-url",
        tcpa_fake.url,
        "--timeout-ms",
        "300",
        env={"L2I_DNC_PASSWORD": tcpa.PASSWORD},
    )
    assert tcpa.PASSWORD not in out.output
    sealed = fetch(database_url, "SELECT credentials FROM dnc_connections")[0][0]
    assert tcpa.PASSWORD.encode() not in bytes(sealed)
    service = server_factory(env(database_url, redis_url))

    clear = post(service, key, lead("5125550200"))
    assert clear["status"] == "new" and clear["checks"]["dnc"] == "clear"
    assert queued(database_url, clear["lead_id"])
    dnc = post(service, key, lead("5125550201"))
    assert (dnc["status"], dnc["reasons"], dnc["checks"]["dnc"]) == (
        "ineligible",
        ["dnc_hit"],
        "dnc_hit",
    )
    lit = post(service, key, {"phone": "5125550202"})
    assert lit["reasons"] == ["litigator_hit", "missing_consent"]
    assert not queued(database_url, dnc["lead_id"]) and not queued(database_url, lit["lead_id"])
    evidence, scrubbed_at = fetch(
        database_url,
        "SELECT dnc_evidence, last_scrubbed_at FROM leads WHERE lead_id = %s",
        dnc["lead_id"],
    )[0]
    assert scrubbed_at is not None and evidence["outcome"] == "dnc_hit"
    assert "dnc_complainers" in evidence["raw"] and evidence["provider"] == "tcpa-litigator-list"
    assert fetch(database_url, "SELECT count(*) FROM dnc_scrubs") == [(3,)]

    # duplicates cost no paid scrub
    hits = tcpa_fake.hits
    for phone in ("5125550200", "512-555-0201", "(512) 555-0202"):
        assert post(service, key, lead(phone))["outcome"] == "duplicate"
    assert tcpa_fake.hits == hits

    # the provider fails in every way: each lead is pending_scrub, none is ever queued
    pending = []
    for i, mode in enumerate(["timeout", "error500", "garbage", "down"]):
        if mode == "down":
            tcpa_fake.stop()
        else:
            tcpa_fake.mode = mode
        body = post(service, key, lead(f"51255502{10 + i}"))
        assert (body["status"], body["reasons"], body["eligible"], body["checks"]["dnc"]) == (
            "pending_scrub",
            ["dnc_unavailable"],
            False,
            "unavailable",
        ), (mode, body)
        pending.append(body["lead_id"])
        no_consent = post(service, key, {"phone": f"51255502{20 + i}"})
        assert no_consent["status"] == "ineligible"
        assert no_consent["reasons"] == ["dnc_unavailable", "missing_consent"]
    time.sleep(1.0)  # the re-scrubber keeps failing meanwhile
    assert fetch(
        database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = ANY(%s::uuid[])", pending
    ) == [(0,)]
    assert fetch(database_url, "SELECT count(*) FROM leads WHERE status = 'pending_scrub'") == [
        (4,)
    ]
    assert fetch(database_url, "SELECT max(scrub_attempts) FROM leads")[0][0] >= 1

    # the provider recovers: the re-scrubber settles every pending lead
    tcpa_fake.mode = "ok"
    tcpa_fake.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = fetch(database_url, "SELECT count(*) FROM leads WHERE status = 'pending_scrub'")
        if left == [(0,)]:
            break
        time.sleep(0.2)
    rows = dict(
        fetch(
            database_url, "SELECT phone, status FROM leads WHERE lead_id = ANY(%s::uuid[])", pending
        )
    )
    assert rows == {
        "+15125550210": "new",
        "+15125550211": "new",
        "+15125550212": "new",
        "+15125550213": "ineligible",
    }
    assert fetch(
        database_url, "SELECT count(*) FROM dial_queue WHERE lead_id = ANY(%s::uuid[])", pending
    ) == [(3,)]
    got = httpx.get(f"{service.url}/metrics").text
    assert 'l2i_dnc_scrubs_total{outcome="unavailable",provider="tcpa-litigator-list"}' in got
    service.stop()
    log = service.log_text()
    assert "pending_scrub" in log  # the failures were logged ...
    for secret in SECRETS:
        assert secret not in log  # ... and never a credential


def test_dncscrub_registry_and_unconnected_orgs(server_factory, database_url, redis_url, tmp_path):
    fake = DncScrubFake().start()
    fake.codes = {"5125550301": ("D", "Litigator"), "5125550302": ("D", "National (USA);;;")}
    a, b, c = (make_org(database_url, name) for name in ("scrubbed", "bare", "registered"))
    cli(
        database_url,
        "dnc",
        "connect",
        "--org",
        "scrubbed",
        "--provider",
        "dncscrub",
        "--base-url",
        fake.url,
        env={"L2I_DNC_LOGIN_ID": dncscrub.LOGIN_ID},
    )
    src = tmp_path / "registry.txt"
    src.write_text("512,5550302\n5125550303\n")
    cli(database_url, "dnc", "import", str(src), "--org", "registered", tmp=tmp_path / "reg")
    cli(
        database_url,
        "dnc",
        "connect",
        "--org",
        "registered",
        "--provider",
        "registry",
        tmp=tmp_path / "reg",
    )
    service = server_factory(
        env(database_url, redis_url, L2I_DNC_REGISTRY_DIR=str(tmp_path / "reg"))
    )
    ka, kb, kc = a.key(), b.key(), c.key()
    try:
        assert post(service, ka, lead("5125550300"))["checks"]["dnc"] == "clear"
        assert post(service, ka, lead("5125550301"))["reasons"] == ["litigator_hit"]
        assert post(service, ka, lead("5125550302"))["reasons"] == ["dnc_hit"]
        assert fake.requests[-1].headers["loginId"] == dncscrub.LOGIN_ID

        assert post(service, kc, lead("5125550302"))["reasons"] == ["dnc_hit"]
        assert post(service, kc, lead("5125550304"))["checks"]["dnc"] == "clear"

        for phone in ("5125550300", "5125550301"):
            body = post(service, kb, lead(phone))
            assert body["checks"]["dnc"] == "not_connected" and body["status"] == "new"
        metrics = httpx.get(f"{service.url}/metrics").text
        assert f'l2i_leads_unscrubbed_total{{org_id="{b.org_id}"}} 2.0' in metrics
        assert f'org_id="{a.org_id}"' not in metrics

        status = cli(database_url, "dnc", "status")
        assert f"WARNING: {b.org_id}" in status.output
        assert "2 lead(s) stored unscrubbed" in status.output
        assert "scrubbed: dncscrub" in status.output and "registered: registry" in status.output
        as_json = cli(database_url, "dnc", "status", "--org", "scrubbed", "--json").output
        assert json.loads(as_json)["provider"] == "dncscrub"
        for secret in SECRETS:
            assert secret not in status.output and secret not in as_json

        cli(database_url, "dnc", "disconnect", "--org", "scrubbed")
        time.sleep(0.5)  # past the workers' cache TTL
        hits = fake.hits
        assert post(service, ka, lead("5125550305"))["checks"]["dnc"] == "not_connected"
        assert fake.hits == hits
    finally:
        fake.stop()
    service.stop()
    for secret in SECRETS:
        assert secret not in service.log_text()


@pytest.mark.slow
def test_scrub_overhead(tcpa_fake, server_factory, database_url, redis_url):
    """Latency of POST /v1/leads with a provider connected (fake on loopback) vs none.

    .venv/bin/pytest -m slow -s tests/test_dnc_intake.py::test_scrub_overhead
    """
    import statistics

    connected, bare = make_org(database_url, "connected"), make_org(database_url, "bare")
    cli(
        database_url,
        "dnc",
        "connect",
        "--org",
        "connected",
        "--provider",
        "tcpa-litigator-list",
        "--username",
        tcpa.USERNAME,
        "--password",
        tcpa.PASSWORD,
        "--base-url",
        tcpa_fake.url,
    )
    service = server_factory(env(database_url, redis_url))
    n = 300
    with httpx.Client(base_url=service.url, timeout=10) as client:
        results = {}
        for name, org, base in (("none", bare, 5_000_000), ("tcpa", connected, 6_000_000)):
            key = org.key()
            headers = auth(key)
            for i in range(20):  # warm up connections and caches
                client.post("/v1/leads", json=lead(f"+1303{base + 90_000 + i}"), headers=headers)
            times = []
            for i in range(n):
                t = time.perf_counter()
                resp = client.post("/v1/leads", json=lead(f"+1303{base + i}"), headers=headers)
                times.append(time.perf_counter() - t)
                assert resp.status_code == 201
            results[name] = times
    for name, times in results.items():
        q = statistics.quantiles(times, n=100)
        print(
            f"\n{name}: median {statistics.median(times) * 1e3:.2f} ms, "
            f"p90 {q[89] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms over {n} sequential posts"
        )
    overhead = statistics.median(results["tcpa"]) - statistics.median(results["none"])
    print(f"scrub overhead per lead (median): {overhead * 1e3:.2f} ms")
