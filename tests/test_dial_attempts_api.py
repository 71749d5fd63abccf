"""Attempts, the retry policy and callbacks over HTTP (real Granian, Postgres, Redis; the real
clock, calling hours off: times and limits are tested with an injected clock in
test_dial_attempts.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from lead2inbound.cli.main import main
from tests.support.stack import lead, make_org, service_env
from tests.test_queue_api import call, problem


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url, L2I_CALLING_HOURS="off"))


@pytest.fixture
def org(database_url):
    return make_org(database_url, "acme")


def claim(service, key, limit=10):
    got = call(service, "POST", "/v1/dial-queue/claim", key, json={"limit": limit})
    assert got.status_code == 200, got.text
    return got.json()["data"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_attempts_schedule_and_show_on_the_lead(service, org):
    writer, dialer = org.key("write,read"), org.key("dial,read")
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550401", state="TX")).json()
    (got,) = claim(service, dialer)
    path = f"/v1/dial-queue/{made['lead_id']}/attempts"
    before = datetime.now(UTC)
    resp = call(service, "POST", path, dialer,
                json={"result": "no_answer", "duration_s": 25, "dialer": "agent-7",
                      "lease_id": got["lease_id"]})  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "new" and body["attempts"] == 1
    assert body["lease_expires_at"] is None and body["queued_at"] is not None
    last = at(body["last_attempt_at"])
    assert before - timedelta(seconds=5) <= last <= datetime.now(UTC)
    assert at(body["next_attempt_at"]) == last + timedelta(minutes=10)
    assert at(body["callable_at"]) == at(body["next_attempt_at"])
    # the lease ended: a second report is refused, and the lead is not claimable yet
    problem(call(service, "POST", path, dialer, json={"result": "busy"}), 409, "not_leased")
    assert claim(service, dialer) == []
    shown = call(service, "GET", f"/v1/leads/{made['lead_id']}", writer).json()
    assert shown["attempts"] == 1 and shown["next_attempt_at"] == body["next_attempt_at"]
    # the event log (issue 23): lead.attempted, its data the lead now and the attempt
    evts = call(service, "GET", f"/v1/leads/{made['lead_id']}/events", writer).json()["data"]
    assert [e["type"] for e in evts][-2:] == ["lead.claimed", "lead.attempted"]
    data = evts[-1]["data"]
    assert data["result"] == "no_answer" and data["attempt_no"] == 1 and data["dialer"] == "agent-7"
    assert data["duration_s"] == 25 and data["attempts"] == 1
    assert data["next_attempt_at"] is not None and data["lease_expires_at"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"result": "maybe"}, "result"),
        ({}, "result"),
        ({"result": "busy", "at": "2026-07-08T10:00:00"}, "at"),  # no offset
        ({"result": "busy", "at": "2999-01-01T00:00:00Z"}, "at"),
        ({"result": "busy", "at": "2000-01-01T00:00:00Z"}, "at"),
        ({"result": "busy", "duration_s": -1}, "duration_s"),
        ({"result": "busy", "dialer": "x" * 201}, "dialer"),
        ({"result": "busy", "dialer": "a\u0000b"}, "dialer"),
        ({"result": "busy", "lease_id": "nope"}, "lease_id"),
        ({"result": "busy", "extra": 1}, "extra"),
    ],
)
def test_attempt_validation_names_the_field(service, org, body, param):
    writer, dialer = org.key("write"), org.key("dial")
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550402")).json()
    claim(service, dialer)
    resp = call(service, "POST", f"/v1/dial-queue/{made['lead_id']}/attempts", dialer, json=body)
    problem_body = problem(resp, 422)
    assert param in json.dumps(problem_body["errors"]), problem_body


def test_attempt_scope_and_tenancy(service, org, database_url):
    writer, dialer = org.key("write"), org.key("dial")
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550403")).json()
    claim(service, dialer)
    path = f"/v1/dial-queue/{made['lead_id']}/attempts"
    problem(call(service, "POST", path, writer, json={"result": "busy"}), 403, "forbidden")
    stranger = make_org(database_url, "rival").key("dial")
    problem(call(service, "POST", path, stranger, json={"result": "busy"}), 404, "not_found")
    problem(call(service, "POST", "/v1/dial-queue/nope/attempts", dialer,
                 json={"result": "busy"}), 404)  # fmt: skip
    problem(call(service, "GET", "/v1/dial-policy", dialer), 403, "forbidden")


def test_policy_put_get_and_used(service, org, database_url):
    admin, writer, dialer = org.key("admin"), org.key("write"), org.key("dial")
    got = call(service, "GET", "/v1/dial-policy", admin).json()
    assert got == {"retry_after_s": [600, 3600, 14400, 86400], "max_attempts": 6,
                   "default": True, "updated_at": None}  # fmt: skip
    for bad, param in (({"retry_after_s": [], "max_attempts": 3}, "retry_after_s"),
                       ({"retry_after_s": [59], "max_attempts": 3}, "retry_after_s"),
                       ({"retry_after_s": [60], "max_attempts": 0}, "max_attempts"),
                       ({"retry_after_s": [60]}, "max_attempts")):  # fmt: skip
        body = problem(call(service, "PUT", "/v1/dial-policy", admin, json=bad), 422)
        assert param in json.dumps(body["errors"])
    put = call(service, "PUT", "/v1/dial-policy", admin,
               json={"retry_after_s": [120], "max_attempts": 2})  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["default"] is False and put.json()["updated_at"]
    assert call(service, "GET", "/v1/dial-policy", admin).json()["retry_after_s"] == [120]
    # another org keeps the defaults
    assert call(service, "GET", "/v1/dial-policy",
                make_org(database_url, "rival").key("admin")).json()["default"] is True  # fmt: skip
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550404")).json()
    claim(service, dialer)
    path = f"/v1/dial-queue/{made['lead_id']}/attempts"
    one = call(service, "POST", path, dialer, json={"result": "voicemail"}).json()
    assert at(one["next_attempt_at"]) == at(one["last_attempt_at"]) + timedelta(seconds=120)


def test_last_attempt_ends_unreachable_over_http(service, org):
    admin, writer, dialer = org.key("admin"), org.key("write,read"), org.key("dial")
    call(service, "PUT", "/v1/dial-policy", admin, json={"retry_after_s": [60], "max_attempts": 1})
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550405")).json()
    claim(service, dialer)
    resp = call(service, "POST", f"/v1/dial-queue/{made['lead_id']}/attempts", dialer,
                json={"result": "no_answer"})  # fmt: skip
    assert resp.json()["status"] == "unreachable" and resp.json()["queued_at"] is None
    assert resp.json()["callable_at"] is None
    evts = call(service, "GET", f"/v1/leads/{made['lead_id']}/events", writer).json()["data"]
    assert [e["type"] for e in evts][-2:] == ["lead.attempted", "lead.completed"]
    assert evts[-1]["data"]["outcome"] == "unreachable"
    assert evts[-1]["data"]["reason"] == "max_attempts"


def test_callback_over_http(service, org):
    writer, dialer = org.key("write,read"), org.key("dial")
    made = call(service, "POST", "/v1/leads", writer, json=lead("5125550406")).json()
    path = f"/v1/dial-queue/{made['lead_id']}/complete"
    claim(service, dialer)
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    local = when.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    bad = problem(call(service, "POST", path, dialer,
                       json={"outcome": "qualified", "callback_at": local}), 422)  # fmt: skip
    assert "callback_at" in json.dumps(bad["errors"])
    bad = problem(call(service, "POST", path, dialer, json={"outcome": "callback_requested",
                  "callback_at": "2026-07-09T07:30:00"}), 422)  # fmt: skip
    assert "callback_at" in json.dumps(bad["errors"])
    resp = call(
        service,
        "POST",
        path,
        dialer,
        json={"outcome": "callback_requested", "callback_at": local, "dialer": "a"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "callback_requested" and body["attempts"] == 1
    assert at(body["callback_at"]) == when and at(body["next_attempt_at"]) == when
    assert claim(service, dialer) == []  # not before the time asked
    # without callback_at: as before, the lead leaves the queue
    other = call(service, "POST", "/v1/leads", writer, json=lead("5125550407")).json()
    claim(service, dialer)
    done = call(service, "POST", f"/v1/dial-queue/{other['lead_id']}/complete", dialer,
                json={"outcome": "callback_requested"}).json()  # fmt: skip
    assert done["status"] == "callback_requested" and done["queued_at"] is None


def test_default_order_is_newest_first_over_http(service, org):
    writer, dialer = org.key("write"), org.key("dial")
    ids = [call(service, "POST", "/v1/leads", writer, json=lead(f"51255504{i}0")).json()["lead_id"]
           for i in range(3)]  # fmt: skip
    assert [d["lead_id"] for d in claim(service, dialer)] == ids[::-1]


def test_cli_policy_set_and_show(service, org, database_url):
    env = {"L2I_DATABASE_URL": database_url}
    runner = CliRunner()
    out = runner.invoke(main, ["dial", "policy", "set", "--org", "acme", "--retry-after",
                               "10m,2h,1d", "--max-attempts", "4"], env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.splitlines()[-1])["retry_after_s"] == [600, 7200, 86400]
    got = call(service, "GET", "/v1/dial-policy", org.key("admin")).json()
    assert got["retry_after_s"] == [600, 7200, 86400] and got["max_attempts"] == 4
    shown = runner.invoke(main, ["dial", "policy", "show", "--org", org.org_id], env=env)
    assert json.loads(shown.output.splitlines()[-1])["max_attempts"] == 4
    for args in (["--retry-after", "10x", "--max-attempts", "3"],
                 ["--retry-after", "10s", "--max-attempts", "3"],
                 ["--retry-after", "10m", "--max-attempts", "0"]):  # fmt: skip
        bad = runner.invoke(main, ["dial", "policy", "set", "--org", "acme", *args], env=env)
        assert bad.exit_code == 2, bad.output
