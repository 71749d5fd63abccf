"""Webhook endpoints and deliveries (docs/events.md): Standard Webhooks signatures verified with
the `standardwebhooks` package, retries until a 2xx, 410 disables, replay keeps the webhook-id,
per-lead order, the URL rules, tenant isolation, SKIP LOCKED leases across two nodes and a
SIGKILLed node (real Granian, Postgres, Redis; receivers are real HTTP servers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fakes.receiver import Receiver
from tests.support.sources import SECRET_KEY
from tests.support.stack import auth, lead, make_org, service_env

FAST = "0,0.2,0.2,0.2,0.2"  # retry schedule for the tests: five tries, 0.2 s apart


def env(database_url, redis_url, **extra):
    base = {
        "L2I_SECRET_KEY": SECRET_KEY,
        "L2I_WEBHOOKS_ALLOW_HTTP": "1",
        "L2I_WEBHOOKS_ALLOW_PRIVATE": "1",
        "L2I_WEBHOOK_RETRY_SCHEDULE": FAST,
        "L2I_CALLING_HOURS": "off",
    }
    base.update(extra)
    return service_env(database_url, redis_url, **base)


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(env(database_url, redis_url))


@pytest.fixture
def org(database_url):
    return make_org(database_url, "acme")


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def call(service, method, path, key, **kw):
    return httpx.request(method, f"{service.url}{path}", headers=auth(key), timeout=30, **kw)


def endpoint(service, key, url, types=("*",), **more):
    resp = call(service, "POST", "/v1/webhook-endpoints", key,
                json={"url": url, "types": list(types), **more})  # fmt: skip
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["secret"].startswith("whsec_")
    return made


def post_lead(service, key, phone):
    resp = call(service, "POST", "/v1/leads", key, json=lead(phone))
    assert resp.status_code == 201, resp.text
    return resp.json()["lead_id"]


def wait_until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_delivery_is_signed_and_verifies_with_standardwebhooks(service, org, receiver):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"], description="crm")
    lead_id = post_lead(service, key, "5125550501")
    (got,) = receiver.wait_for(1)
    payload = Webhook(made["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "lead.created" and payload["data"]["lead_id"] == lead_id
    assert set(payload) >= {"type", "timestamp", "data"}
    event = call(service, "GET", "/v1/events?type=lead.created", key).json()["data"][0]
    assert got.id == event["id"] == payload["id"]
    assert got.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    time.sleep(1.0)
    assert len(receiver.deliveries) == 1  # lead.queued is not in the filter
    listed = call(service, "GET", "/v1/webhook-endpoints", key).json()["data"]
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]


def test_three_failures_then_200_is_delivered_once_more_per_retry(service, org, receiver):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    receiver.statuses = [500, 503, 400]
    post_lead(service, key, "5125550502")
    got = receiver.wait_for(4)
    time.sleep(1.5)
    assert len(receiver.deliveries) == 4  # nothing after the 200
    assert len(set(receiver.ids())) == 1  # the same webhook-id every time
    for d in got:
        Webhook(made["secret"]).verify(d.body, d.headers)
    attempts = call(service, "GET", f"/v1/webhook-endpoints/{made['id']}/attempts", key).json()
    assert [a["status"] for a in attempts["data"]] == [200, 400, 503, 500]
    assert [a["attempt"] for a in attempts["data"]] == [4, 3, 2, 1]
    assert attempts["data"][0]["response"] == '{"ok": true}'


def test_an_endpoint_that_always_fails_is_failed_after_the_schedule(service, org, receiver):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    receiver.statuses = [500] * 20
    post_lead(service, key, "5125550503")
    receiver.wait_for(5)
    time.sleep(1.5)
    assert len(receiver.deliveries) == 5  # the schedule's five tries, then failed
    # replay sends it again, same webhook-id
    event = call(service, "GET", "/v1/events?type=lead.created", key).json()["data"][0]
    resp = call(service, "POST", f"/v1/webhook-endpoints/{made['id']}/replay", key,
                json={"event_id": event["id"]})  # fmt: skip
    assert resp.json() == {"scheduled": 1}
    receiver.statuses = []
    got = receiver.wait_for(6)
    assert got[-1].id == event["id"]
    Webhook(made["secret"]).verify(got[-1].body, got[-1].headers)


def test_410_gone_disables_the_endpoint_and_says_so(service, org, receiver):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    receiver.statuses = [410]
    post_lead(service, key, "5125550504")
    receiver.wait_for(1)

    def disabled():
        got = call(service, "GET", f"/v1/webhook-endpoints/{made['id']}", key).json()
        return got if not got["enabled"] else None

    got = wait_until(disabled)
    assert got["disabled_reason"] == "gone"
    said = call(service, "GET", "/v1/events?type=webhook_endpoint.disabled", key).json()["data"]
    assert said[0]["data"] == {"endpoint_id": made["id"], "url": receiver.url, "reason": "gone"}
    post_lead(service, key, "5125550505")
    time.sleep(1.5)
    assert len(receiver.deliveries) == 1  # nothing more is sent to it
    # the receiver is fixed: PATCH enabled turns it on, and what came meanwhile is sent
    back = call(service, "PATCH", f"/v1/webhook-endpoints/{made['id']}", key,
                json={"enabled": True})  # fmt: skip
    assert back.status_code == 200, back.text
    assert back.json()["enabled"] is True and back.json()["disabled_reason"] is None
    lead_id = post_lead(service, key, "5125550506")
    got = receiver.wait_for(3)
    assert [json.loads(d.body)["data"]["phone"] for d in got[1:]] == [
        "+15125550505", "+15125550506"
    ]  # fmt: skip
    assert json.loads(got[2].body)["data"]["lead_id"] == lead_id


def test_patch_changes_an_endpoint_and_checks_it_as_create_does(service, org, database_url,
                                                                receiver):  # fmt: skip
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"], description="crm")
    path = f"/v1/webhook-endpoints/{made['id']}"
    for body, field in [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"types": ["lead.nope"]}, "types"),
        ({"types": []}, "types"),
        ({"enabled": "yes"}, "enabled"),
        ({"secret": "whsec_x"}, "secret"),
    ]:
        resp = call(service, "PATCH", path, key, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert [e["param"] for e in resp.json()["errors"]] == [field], resp.text
    deep = httpx.patch(
        f"{service.url}{path}",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={**auth(key), "Content-Type": "application/json"},
        timeout=30,
    )
    assert deep.status_code in (400, 413), deep.text  # a problem body, never a 500
    assert deep.headers["content-type"].startswith("application/problem+json")
    nul = call(service, "PATCH", path, key, json={"description": "a\u0000b"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["param"] == "description", nul.text
    rival = make_org(database_url, "rival").key("admin")
    assert call(service, "PATCH", path, rival, json={"enabled": False}).status_code == 404
    assert call(service, "POST", f"{path}/test", rival).status_code == 404
    # disabled by the org: nothing is sent; the description can be cleared with null
    off = call(service, "PATCH", path, key, json={"enabled": False, "description": None})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["disabled_reason"] == "disabled"
    assert off.json()["description"] is None and off.json()["url"] == receiver.url
    waited = post_lead(service, key, "5125550511")
    time.sleep(1.5)
    assert receiver.deliveries == []
    # on again with a wider filter: the waiting lead's events and the new lead's, by the filter
    on = call(service, "PATCH", path, key, json={"enabled": True, "types": ["lead.*"]})
    assert on.json()["types"] == ["lead.*"] and on.json()["enabled"] is True
    lead_id = post_lead(service, key, "5125550512")
    got = receiver.wait_for(4)
    sent_types = sorted((json.loads(d.body)["data"]["lead_id"], json.loads(d.body)["type"])
                        for d in got)  # fmt: skip
    assert sent_types == sorted([(waited, "lead.created"), (waited, "lead.queued"),
                                 (lead_id, "lead.created"), (lead_id, "lead.queued")])  # fmt: skip
    # a test event: signed with the endpoint's secret, not logged
    sent = call(service, "POST", f"{path}/test", key)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == 200
    test_msg = receiver.wait_for(5)[4]
    payload = Webhook(made["secret"]).verify(test_msg.body, test_msg.headers)
    assert payload["type"] == "webhook_endpoint.test" and test_msg.id == sent.json()["id"]


def test_a_2xx_with_a_long_answer_is_delivered_and_its_first_kb_kept(service, org, receiver):
    """A receiver answering 200 with 300 KiB of body: delivered once (it was a failure, retried,
    while the answer passed 64 KiB); the attempt keeps the first 1 KB; the rest is not read."""
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    receiver.answer = b"<html>" + b"x" * (300 << 10)
    post_lead(service, key, "5125550509")
    receiver.wait_for(1)
    path = f"/v1/webhook-endpoints/{made['id']}/attempts"
    attempts = wait_until(lambda: call(service, "GET", path, key).json()["data"])
    time.sleep(1.0)  # no retry follows
    assert len(receiver.deliveries) == 1
    [attempt] = call(service, "GET", path, key).json()["data"]
    assert attempt["status"] == 200 and attempt["error"] is None, attempt
    assert attempt["response"] == receiver.answer[:1024].decode()
    assert attempts[0]["attempt"] == 1


def test_a_leads_events_arrive_in_order_even_across_retries(service, org, receiver):
    key = org.key("admin,write,read,dial")
    endpoint(service, key, receiver.url, ["lead.*"])
    receiver.statuses = [500, 500]  # the first event of the lead fails twice
    lead_id = post_lead(service, key, "5125550506")
    call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": 1})
    call(service, "POST", f"/v1/dial-queue/{lead_id}/complete", key, json={"outcome": "qualified"})
    receiver.wait_for(7)
    seen = [json.loads(d.body)["type"] for d in receiver.deliveries]
    firsts = list(dict.fromkeys(seen))
    # `complete` records the call as the lead's last attempt (docs/dial-queue.md)
    assert firsts == [
        "lead.created",
        "lead.queued",
        "lead.claimed",
        "lead.attempted",
        "lead.completed",
    ]
    assert seen[:3] == ["lead.created"] * 3


def test_rotation_signs_with_both_secrets_during_the_overlap(service, org, receiver):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    resp = call(service, "POST", f"/v1/webhook-endpoints/{made['id']}/rotate", key,
                json={"overlap_seconds": 3600})  # fmt: skip
    new = resp.json()["secret"]
    assert new != made["secret"] and new.startswith("whsec_")
    post_lead(service, key, "5125550507")
    (got,) = receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(got.body, got.headers)
    Webhook(made["secret"]).verify(got.body, got.headers)
    # no overlap: the old secret stops at once
    newer = call(service, "POST", f"/v1/webhook-endpoints/{made['id']}/rotate", key,
                 json={"overlap_seconds": 0}).json()["secret"]  # fmt: skip
    post_lead(service, key, "5125550508")
    got = receiver.wait_for(2)[-1]
    Webhook(newer).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(got.body, got.headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ],
)
def test_urls_the_operator_did_not_allow_are_422_naming_url(
    server_factory, database_url, redis_url, url
):
    # http allowed, private addresses not: every refusal here is the address (or the scheme)
    service = server_factory(env(database_url, redis_url, L2I_WEBHOOKS_ALLOW_PRIVATE="0"))
    key = make_org(database_url).key("admin")
    resp = call(service, "POST", "/v1/webhook-endpoints", key, json={"url": url})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["param"] == "url"
    strict = call(service, "POST", "/v1/webhook-endpoints", key,
                  json={"url": "http://93.184.215.14/hook"})  # fmt: skip
    assert strict.status_code == 201, strict.text
    # a PATCH to the same URL goes through the same guard
    moved = call(service, "PATCH", f"/v1/webhook-endpoints/{strict.json()['id']}", key,
                 json={"url": url})  # fmt: skip
    assert moved.status_code == 422, moved.text
    assert moved.json()["errors"][0]["param"] == "url"


def test_https_only_unless_allowed(server_factory, database_url, redis_url):
    service = server_factory(
        env(database_url, redis_url, L2I_WEBHOOKS_ALLOW_HTTP="0", L2I_WEBHOOKS_ALLOW_PRIVATE="1")
    )
    key = make_org(database_url).key("admin")
    resp = call(service, "POST", "/v1/webhook-endpoints", key, json={"url": "http://x.test/h"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["param"] == "url"
    for types in (["nope.created"], [], ["*"] * 51):
        resp = call(service, "POST", "/v1/webhook-endpoints", key,
                    json={"url": "https://x.test/h", "types": types})  # fmt: skip
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["param"] == "types"


def test_tenant_and_mode_isolation(service, org, database_url, receiver):
    other = make_org(database_url, "rival")
    mine, theirs = org.key("admin,write,read"), other.key("admin,write,read")
    made = endpoint(service, mine, receiver.url)
    for method, suffix, body in (
        ("GET", "", None),
        ("DELETE", "", None),
        ("PATCH", "", {"enabled": False}),
        ("POST", "/rotate", {}),
        ("POST", "/replay", {"since": "2020-01-01T00:00:00Z"}),
        ("GET", "/attempts", None),
    ):
        resp = call(service, method, f"/v1/webhook-endpoints/{made['id']}{suffix}", theirs,
                    json=body)  # fmt: skip
        assert resp.status_code == 404, (method, suffix, resp.text)
    assert call(service, "GET", "/v1/webhook-endpoints", theirs).json()["data"] == []
    test_key = org.key("admin,write,read", test=True)
    assert call(service, "GET", "/v1/webhook-endpoints", test_key).json()["data"] == []
    # the rival's leads and this org's sandbox leads never reach this endpoint
    post_lead(service, theirs, "5125550510")
    post_lead(service, test_key, "5125550511")
    mine_id = post_lead(service, mine, "5125550512")
    got = receiver.wait_for(2)
    time.sleep(1.0)
    assert {json.loads(d.body)["data"]["lead_id"] for d in receiver.deliveries} == {mine_id}
    assert call(service, "DELETE", f"/v1/webhook-endpoints/{made['id']}", mine).status_code == 200
    assert len(got) == 2


def test_an_endpoint_is_disabled_and_enabled_again_and_what_came_meanwhile_is_sent(
    service, org, receiver
):
    key = org.key("admin,write,read")
    made = endpoint(service, key, receiver.url, ["lead.created"])
    path = f"/v1/webhook-endpoints/{made['id']}"
    off = call(service, "PATCH", path, key, json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["disabled_reason"] == "disabled"
    waited = post_lead(service, key, "5125550531")
    time.sleep(2.0)
    assert receiver.deliveries == []  # nothing is sent while it is off
    on = call(service, "PATCH", path, key, json={"enabled": True})
    assert on.status_code == 200 and on.json()["enabled"] is True
    assert on.json()["disabled_reason"] is None
    got = receiver.wait_for(1)
    assert json.loads(got[0].body)["data"]["lead_id"] == waited
    for body in ({"enabled": "no"}, {"enabled": True, "url": "gopher://x.example"}):
        resp = call(service, "PATCH", path, key, json=body)
        assert resp.status_code in (400, 422), (body, resp.text)
    assert call(service, "PATCH", path, key, json={}).json()["enabled"] is True  # no change
    assert call(service, "PATCH", path + "x", key, json={"enabled": True}).status_code == 404


def test_two_nodes_never_send_an_event_twice(server_factory, database_url, redis_url, receiver):
    nodes = [server_factory(env(database_url, redis_url)) for _ in range(2)]
    org = make_org(database_url)
    key = org.key("admin,write,read")
    endpoint(nodes[0], key, receiver.url, ["lead.created"])
    ids = [post_lead(nodes[i % 2], key, f"51255506{i:02d}") for i in range(40)]
    receiver.wait_for(40, timeout=60)
    time.sleep(2.0)
    counts = Counter(receiver.ids())
    assert len(counts) == 40 and set(counts.values()) == {1}, counts
    assert {json.loads(d.body)["data"]["lead_id"] for d in receiver.deliveries} == set(ids)


def test_a_sigkilled_node_holding_a_lease_is_covered_after_it_expires(
    server_factory, database_url, redis_url, receiver
):
    a = server_factory(env(database_url, redis_url, L2I_WEBHOOK_LEASE_S="3"))
    org = make_org(database_url)
    key = org.key("admin,write,read")
    endpoint(a, key, receiver.url, ["lead.created"])
    receiver.hang_s = 60.0  # node A's send never ends
    post_lead(a, key, "5125550701")
    first = receiver.wait_for(1)[0]
    for pid in a.worker_pids():
        os.kill(pid, signal.SIGKILL)
    os.kill(a.pid, signal.SIGKILL)
    receiver.hang_s = 0.0
    server_factory(env(database_url, redis_url, L2I_WEBHOOK_LEASE_S="3"))  # node B
    got = receiver.wait_for(2, timeout=60)
    assert got[1].id == first.id  # the same event, delivered at least once
    time.sleep(1.5)
    assert len(receiver.deliveries) == 2


def test_an_endpoint_made_outside_the_service_is_delivered_to_within_seconds(
    service, org, database_url, receiver
):
    """The delivery worker wakes only for orgs with an enabled endpoint (intake's commits of
    every other org wake nothing); an endpoint made by `l2i webhooks create` (or another node)
    is learnt at the worker's next timed round, so its first lead still arrives."""
    from click.testing import CliRunner

    from lead2inbound.cli import main

    key = org.key("admin,write,read")
    post_lead(service, key, "5125550601")  # the worker has read its (empty) set of orgs
    time.sleep(1.5)
    env = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY,
           "L2I_WEBHOOKS_ALLOW_HTTP": "1", "L2I_WEBHOOKS_ALLOW_PRIVATE": "1"}  # fmt: skip
    made = CliRunner().invoke(
        main, ["webhooks", "create", "--org", "acme", "--url", receiver.url, "--types",
               "lead.created"], env=env, catch_exceptions=False,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lead_id = post_lead(service, key, "5125550602")
    got = receiver.wait_for(1, timeout=10)
    assert [json.loads(d.body)["data"]["lead_id"] for d in got] == [lead_id]


async def test_only_orgs_with_an_endpoint_wake_the_delivery_worker(database_url, org):
    from psycopg_pool import AsyncConnectionPool

    from lead2inbound.dnc.crypto import SecretBox
    from lead2inbound.ops.config import Config
    from lead2inbound.webhooks import endpoints
    from lead2inbound.webhooks.delivery import Deliverer

    other = make_org(database_url, "quiet")
    cfg = Config(secret_key=SECRET_KEY, webhooks_allow_http=True, webhooks_allow_private=True)
    box = SecretBox(SECRET_KEY)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        async with pool.connection() as conn, conn.transaction():
            await endpoints.create(conn, box, org_id=org.org_id, sandbox=False,
                                   url="http://127.0.0.1:9/x", types=["*"],
                                   description=None)  # fmt: skip
        worker = Deliverer(pool, box, cfg)
        worker._wake = asyncio.Event()
        worker.on_events({other.org_id})  # not read yet: wakes (nothing may be missed)
        assert worker._wake.is_set()
        await worker.round()
        worker._wake.clear()
        worker.on_events({other.org_id})
        assert not worker._wake.is_set()  # an org without endpoints wakes nothing
        worker.on_events({other.org_id, org.org_id})
        assert worker._wake.is_set()
        worker._wake.clear()
        worker.on_events(None)  # the listener reconnected: everyone catches up
        assert worker._wake.is_set()
