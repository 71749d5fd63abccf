"""Source URLs that are their own credential (issue 22, item 1): `POST /v1/hooks/<token>` with
no header at all; shown once, stored as a digest, rotated with an overlap, revoked; limited like
a key; the token never in the access log nor in a problem body; a source with a signature
scheme requires both."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from click.testing import CliRunner

from lead2inbound.cli import main
from lead2inbound.sources import hooks
from tests.support.sources import SECRET_KEY, create_source, fixture, stored_leads
from tests.support.stack import PEPPER, auth, fetch, make_org, service_env

JSON = {"Content-Type": "application/json"}
HUBSPOT = fixture("hubspot_workflow_contact.json")
TYPEFORM_SECRET = "typeform-webhook-secret-0123456789"


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(
        service_env(database_url, redis_url, L2I_SECRET_KEY=SECRET_KEY, L2I_LOG_LEVEL="info")
    )


@pytest.fixture
def org(database_url):
    return make_org(database_url, "hooks-org")


def post(service, hook_url: str, body: bytes = HUBSPOT, headers=None) -> httpx.Response:
    return httpx.post(f"{service.url}{hook_url}", content=body, headers=headers or JSON, timeout=10)


def token_of(hook_url: str) -> str:
    return hook_url.rsplit("/", 1)[1]


def test_token_format_checksum_and_digest():
    token, hook_id = hooks.mint()
    assert token.startswith("l2i_hook_") and len(token) == hooks.TOKEN_LEN
    assert hooks.parse(token) == hook_id
    # every single-character typo is caught by the checksum or the format, with no store
    for i in range(len("l2i_hook_"), len(token)):
        for ch in "0aZ_":
            typo = token[:i] + ch + token[i + 1 :]
            if typo != token:
                assert hooks.parse(typo) is None, typo
    assert hooks.parse(token + "x") is None and hooks.parse("") is None
    stored = hooks.digest(b"pepper", token)
    assert hooks.matches(b"pepper", token, stored)
    assert not hooks.matches(b"other", token, stored) and not hooks.matches(b"pepper", token, None)
    assert token not in hooks.public(hook_id) and hooks.public(hook_id).endswith("_…")


def test_a_source_url_takes_a_vendor_post_with_no_header(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="hubspot", preset="hubspot")
    hook_url = source["hook_url"]
    token = token_of(hook_url)
    assert hook_url.startswith("/v1/hooks/l2i_hook_") and hooks.parse(token)
    # shown once: never again, and stored only as its digest
    shown = httpx.get(
        f"{service.url}/v1/sources/{source['source_id']}", headers=auth(org.key("admin"))
    ).json()
    assert shown.get("hook_url") is None and token not in json.dumps(shown)
    [(digest,)] = fetch(database_url, "SELECT digest FROM source_hooks")
    assert bytes(digest) == hooks.digest(PEPPER.encode(), token)

    bad_tokens = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # checksum broken
        hooks.mint()[0],  # well formed, unknown
        "l2i_hook_" + token[9:21] + "_" + hooks.mint()[0][22:],  # its id, another secret
        "nothing",
    ]
    for bad in bad_tokens:
        resp = post(service, f"/v1/hooks/{bad}")
        assert resp.status_code == 401, (bad, resp.text)
        assert bad[22:40] not in resp.text or len(bad) < 40
    assert stored_leads(database_url, org.org_id) == []

    resp = post(service, hook_url)  # no Authorization, no signature
    assert resp.status_code == 201, resp.text
    [lead] = stored_leads(database_url, org.org_id)
    assert lead["source"] == "hubspot" and lead["phone"] == "+15125550143"
    assert lead["api_key_id"] == f"src:{source['source_id']}"
    again = post(service, hook_url)  # a vendor's retry: a duplicate, a success
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert len(stored_leads(database_url, org.org_id)) == 1


def test_rotation_keeps_the_old_url_for_the_overlap_then_only_the_new(service, database_url, org):
    admin = org.key("admin")
    source = create_source(service.url, admin, name="hubspot", preset="hubspot")
    first = source["hook_url"]
    urls = f"{service.url}/v1/sources/{source['source_id']}/urls"
    rotated = httpx.post(urls, json={"overlap_s": 3}, headers=auth(admin))
    assert rotated.status_code == 201, rotated.text
    second = rotated.json()["hook_url"]
    assert second != first
    listed = httpx.get(urls, headers=auth(admin)).json()["data"]
    assert [u["active"] for u in listed] == [True, True]
    assert listed[0]["expires_at"] is not None and listed[1]["expires_at"] is None
    assert token_of(first) not in json.dumps(listed) and token_of(second) not in json.dumps(listed)

    assert post(service, first).status_code == 201  # the overlap: both work
    assert post(service, second).status_code == 200  # (the same lead: a duplicate)
    time.sleep(3.5)
    assert post(service, first).status_code == 401
    assert post(service, second).status_code == 200

    # revoked: 401 at once; the CLI rotates with no overlap
    hook_id = rotated.json()["hook_id"]
    gone = httpx.delete(f"{urls}/{hook_id}", headers=auth(admin))
    assert gone.status_code == 200 and gone.json() == {"hook_id": hook_id, "revoked": True}
    assert post(service, second).status_code == 401
    assert httpx.delete(f"{urls}/{hook_id}", headers=auth(admin)).status_code == 404
    # a path id with a NUL or of another shape is a 404, never a 500 (schemathesis found it)
    for bad in (hook_id[:1] + "%00" + hook_id[2:], "x" * 200, "%C3%A9" * 12):
        assert httpx.delete(f"{urls}/{bad}", headers=auth(admin)).status_code == 404, bad
    env = {"L2I_DATABASE_URL": database_url, "L2I_KEY_PEPPER": PEPPER}
    run = CliRunner().invoke(
        main,
        ["sources", "rotate-url", "--org", "hooks-org", "--overlap-s", "0", source["source_id"]],
        env=env,
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    third = run.stdout.strip()
    assert third.startswith("/v1/hooks/l2i_hook_")
    assert post(service, third).status_code == 200
    cli_list = CliRunner().invoke(
        main, ["sources", "urls", "--org", "hooks-org", source["source_id"]], env=env
    )
    assert [json.loads(x)["active"] for x in cli_list.stdout.splitlines()] == [False, False, True]
    # another org's admin sees none of it
    other = make_org(database_url, "other-org").key("admin")
    assert httpx.get(urls, headers=auth(other)).status_code == 404
    assert httpx.post(urls, json={}, headers=auth(other)).status_code == 404


def test_the_token_is_never_logged_nor_echoed(service, database_url, org):
    source = create_source(service.url, org.key("admin"), name="hubspot", preset="hubspot")
    token = token_of(source["hook_url"])
    hook_id = hooks.parse(token)
    secret = token[22:]
    assert post(service, source["hook_url"]).status_code == 201
    unknown = hooks.mint()[0]
    refused = post(service, f"/v1/hooks/{unknown}")
    assert refused.status_code == 401 and unknown[22:] not in refused.text
    bad_body = post(service, source["hook_url"], b"{not json")
    assert bad_body.status_code == 400
    assert secret not in bad_body.text
    assert f"/v1/hooks/l2i_hook_{hook_id}_…" in bad_body.json()["instance"]
    service.stop()
    text = service.log_text()
    assert secret not in text and unknown[22:] not in text
    assert f"/v1/hooks/l2i_hook_{hook_id}_…" in text


def typeform_signature(body: bytes) -> str:
    mac = hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def test_a_source_with_a_signature_requires_it_at_its_url_too(service, database_url, org):
    source = create_source(
        service.url, org.key("admin"), name="typeform", preset="typeform", secret=TYPEFORM_SECRET
    )
    body = fixture("typeform_form_response.json")
    assert post(service, source["hook_url"], body).status_code == 401  # the token alone
    wrong = {**JSON, "Typeform-Signature": typeform_signature(b"other")}
    assert post(service, source["hook_url"], body, wrong).status_code == 401
    signed = {**JSON, "Typeform-Signature": typeform_signature(body)}
    assert post(service, f"/v1/hooks/{hooks.mint()[0]}", body, signed).status_code == 401
    assert stored_leads(database_url, org.org_id) == []
    assert post(service, source["hook_url"], body, signed).status_code == 201


def test_limited_like_a_key(server_factory, database_url, redis_url, org):
    service = server_factory(service_env(database_url, redis_url, L2I_AUTH_FAILURES_PER_MINUTE="3"))
    source = create_source(
        service.url, org.key("admin"), name="hubspot", preset="hubspot", rate_limit=2
    )
    hook_url = source["hook_url"]
    # the source's own rate limit
    assert post(service, hook_url).status_code == 201
    assert post(service, hook_url).status_code == 200
    limited = post(service, hook_url)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    # failures per client address: past the limit, refused before any look-up (even a good one)
    codes = [post(service, f"/v1/hooks/{hooks.mint()[0]}").status_code for _ in range(4)]
    assert codes[:3] == [401, 401, 401] and codes[3] == 429


def test_success_status_200_for_vendors_that_need_it(service, database_url, org):
    source = create_source(
        service.url, org.key("admin"), name="hubspot", preset="hubspot", success_status=200
    )
    assert source["success_status"] == 200
    created = post(service, source["hook_url"])
    assert created.status_code == 200 and created.json()["outcome"] == "created"
    dup = post(service, source["hook_url"])
    assert dup.status_code == 200 and dup.json()["outcome"] == "duplicate"
    assert len(stored_leads(database_url, org.org_id)) == 1
    bad = httpx.post(
        f"{service.url}/v1/sources",
        json={"name": "x", "preset": "hubspot", "success_status": 204},
        headers=auth(org.key("admin")),
    )
    assert bad.status_code == 422
