"""Nothing a vendor sent is lost (issue 22, item 6): a delivery that did not become a lead is
kept with its raw body and headers (credentials and signatures removed), listed, and replayed
after the mapping is fixed through the same path as a live post (a second replay: a duplicate,
not a second lead)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner

from lead2inbound.cli import main
from tests.support.sources import SECRET_KEY, create_source, stored_leads
from tests.support.stack import PEPPER, auth, make_org, service_env

BODY = {"contact": {"tel": "(512) 555-0177", "name": "Rae"}, "google_key": "body-secret-77"}


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url, L2I_SECRET_KEY=SECRET_KEY))


@pytest.fixture
def org(database_url):
    return make_org(database_url, "deliveries-org")


def test_a_refused_delivery_is_kept_listed_and_replayed(service, database_url, org):
    admin = org.key("admin")
    source = create_source(
        service.url,
        admin,
        name="vendor",
        mapping={"phone": "/contact/phone", "first_name": "/contact/name"},  # the wrong path
        options={"body_secret_at": "/google_key"},
        body_secret="body-secret-77",
    )
    sid = source["source_id"]
    hook = f"{service.url}{source['hook_url']}"
    refused = httpx.post(hook, json=BODY, headers={"X-Vendor-Signature": "abc", "X-Trace": "t1"})
    assert refused.status_code == 422
    bad_secret = httpx.post(hook, json={**BODY, "google_key": "guess"})
    assert bad_secret.status_code == 401
    assert stored_leads(database_url, org.org_id) == []

    listed = httpx.get(f"{service.url}/v1/sources/{sid}/deliveries", headers=auth(admin))
    assert listed.status_code == 200
    by_outcome = {d["outcome"]: d for d in listed.json()["data"]}
    kept = by_outcome["refused"]
    assert kept["status"] == 422 and kept["problem"]["code"] == "validation_error"
    assert json.loads(kept["body"])["contact"]["tel"] == "(512) 555-0177"
    assert "body-secret-77" not in kept["body"]  # the body secret is cut out
    assert kept["headers"]["x-trace"] == "t1" and "x-vendor-signature" not in kept["headers"]
    assert kept["headers"]["content-type"] == "application/json"
    assert by_outcome["unauthorized"]["body"] is None  # counted, not kept

    # a key cannot replay another org's delivery; nothing to replay for the unauthorized one
    other = make_org(database_url, "other").key("admin")
    replay = f"{service.url}/v1/sources/{sid}/deliveries/{kept['delivery_id']}/replay"
    assert httpx.post(replay, headers=auth(other)).status_code == 404
    nothing = by_outcome["unauthorized"]["delivery_id"]
    gone = httpx.post(
        f"{service.url}/v1/sources/{sid}/deliveries/{nothing}/replay", headers=auth(admin)
    )
    assert gone.status_code == 409 and gone.json()["code"] == "nothing_to_replay"

    # replayed before the fix: the same 422; fixed, then replayed: one lead; again: a duplicate
    assert httpx.post(replay, headers=auth(admin)).status_code == 422
    fixed = httpx.patch(
        f"{service.url}/v1/sources/{sid}",
        json={"mapping": {"phone": "/contact/tel", "first_name": "/contact/name"}},
        headers=auth(admin),
    )
    assert fixed.status_code == 200, fixed.text
    first = httpx.post(replay, headers=auth(admin))
    assert first.status_code == 201, first.text
    second = httpx.post(replay, headers=auth(admin))
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    [lead] = stored_leads(database_url, org.org_id)
    assert lead["phone"] == "+15125550177" and lead["first_name"] == "Rae"
    assert lead["api_key_id"] == f"src:{sid}"
    assert "google_key" not in (lead["custom_fields"] or {})
    after = httpx.get(
        f"{service.url}/v1/sources/{sid}/deliveries",
        params={"outcome": "refused"},
        headers=auth(admin),
    ).json()["data"]
    assert after[0]["replay_status"] == 200 and after[0]["lead_id"] == str(lead["lead_id"])

    # a live post that makes a lead is listed too, without its body
    ok = httpx.post(hook, json={**BODY, "contact": {"tel": "+15125550178"}})
    assert ok.status_code == 201
    made = httpx.get(
        f"{service.url}/v1/sources/{sid}/deliveries",
        params={"outcome": "created"},
        headers=auth(admin),
    ).json()["data"]
    assert len(made) == 1 and made[0]["body"] is None and made[0]["lead_id"]

    # the CLI: list from the database, replay through the running service
    env = {"L2I_DATABASE_URL": database_url, "L2I_KEY_PEPPER": PEPPER}
    lines = CliRunner().invoke(
        main, ["sources", "deliveries", "--org", "deliveries-org", sid], env=env
    )
    assert lines.exit_code == 0 and len(lines.stdout.splitlines()) == 3
    run = CliRunner().invoke(
        main,
        ["sources", "replay", "--url", service.url, "--key", admin, "--since", "2000-01-01", sid],
        env=env,
    )
    assert run.exit_code == 0, run.output
    assert f"{kept['delivery_id']}  200  duplicate" in run.stdout
    assert len(stored_leads(database_url, org.org_id)) == 2


def test_kept_deliveries_are_bounded_and_unauthorized_ones_never_push_out_refused_ones(
    database_url, org, monkeypatch
):
    import asyncio

    import psycopg

    from lead2inbound.dnc.crypto import SecretBox
    from lead2inbound.sources import deliveries
    from lead2inbound.sources.store import create, plan

    monkeypatch.setattr(deliveries, "MAX_PER_SOURCE", 3)
    monkeypatch.setattr(deliveries, "MAX_UNAUTHORIZED_PER_SOURCE", 2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        source = create(
            conn, SecretBox(SECRET_KEY), org.org_id, plan(name="s", mapping={"phone": "/p"})
        )

    async def post(outcome: str, n: int) -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for i in range(n):
                await deliveries.record(
                    conn,
                    source.org_id,
                    source.source_id,
                    outcome=outcome,
                    status=422 if outcome == "refused" else 401,
                    problem=None,
                    content_type="application/json",
                    headers={},
                    body=f'{{"n": {i}}}'.encode() if outcome == "refused" else None,
                    lead_id=None,
                )

    asyncio.run(post("refused", 5))
    asyncio.run(post("unauthorized", 50))  # a flood of bad signatures
    with psycopg.connect(database_url) as conn:
        kept = deliveries.list_sync(
            conn, source.org_id, source.source_id, since=datetime(1970, 1, 1, tzinfo=UTC)
        )
    refused = [d for d in kept if d.outcome == "refused"]
    assert [json.loads(d.body)["n"] for d in refused] == [4, 3, 2]  # the newest 3, all there
    assert len([d for d in kept if d.outcome == "unauthorized"]) == 2
