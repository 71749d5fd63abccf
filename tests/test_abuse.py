"""Abuse by a tenant's own keys (issue 21): idempotency scopes, stored URLs, amplification.

Every test here speaks HTTP to a real Granian process over real Postgres and Redis.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead2inbound.contract.problems import MAX_LISTED_ERRORS
from lead2inbound.intake.csvimport import MAX_LINE_CHARS, CsvRows, LineTooLong
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


# --- amplification: what an answer may list (docs/errors.md) --------------------------------------


def test_an_error_lists_at_most_20_fields_and_counts_the_rest(service, database_url):
    key = make_org(database_url).key()
    body = lead("5125550120")
    body.update({f"unknown{i:05d}": 1 for i in range(50_000)})
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert 700_000 < len(raw) < 1_048_576  # the 0.74 MB body, under the body cap
    resp = httpx.post(
        f"{service.url}/v1/leads",
        content=raw,
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text[:300]
    problem = resp.json()
    assert len(resp.content) < 8_192, len(resp.content)  # was 5.2 MB
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["detail"].startswith("50000 fields are invalid: ")
    assert problem["detail"].endswith(f"and {50_000 - MAX_LISTED_ERRORS} more.")


def test_a_long_field_name_is_cut_in_the_answer(service, database_url):
    key = make_org(database_url).key()
    body = {**lead("5125550121"), "x" * 500_000: "y"}
    resp = httpx.post(f"{service.url}/v1/leads", json=body, headers=bearer(key))
    assert resp.status_code == 422 and len(resp.content) < 4_096, len(resp.content)


def test_a_batch_answer_is_bounded(service, database_url):
    """The issue's 16.6 MB batch (120 leads x 11,500 unknown fields) got a 139.6 MB answer; the
    same shape, smaller (120 x 3,000, 4.6 MB), must answer in a size independent of the count
    of unknown fields."""
    key = make_org(database_url).key()
    item = {**lead("5125550122"), **{f"unknown_{i:05d}": "x" for i in range(3_000)}}
    raw = json.dumps({"leads": [item] * 120}).encode()
    resp = httpx.post(
        f"{service.url}/v1/leads/batch",
        content=raw,
        headers={**bearer(key), "Content-Type": "application/json"},
        timeout=120,
    )
    assert resp.status_code == 200, resp.text[:300]
    answer = resp.json()
    assert answer["summary"]["failed"] == 120
    assert all(len(r["body"]["errors"]) == MAX_LISTED_ERRORS for r in answer["results"])
    assert len(resp.content) < 120 * 4_096, len(resp.content)


# --- the CSV reader: linear, and a bounded line ---------------------------------------------------


def _records(pieces: list[str]) -> list[tuple[int, list[str]]]:
    rows = CsvRows()
    out = [r for p in pieces for r in rows.feed(p)]
    return out + list(rows.close())


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_csv_records_do_not_depend_on_how_the_text_is_cut(data):
    cell = st.text(st.sampled_from('ab,"\r\n '), max_size=8)
    text = "\n".join(data.draw(st.lists(cell, max_size=12)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert _records(pieces) == _records([text])


def test_an_endless_csv_line_is_refused_after_a_bounded_read():
    """64 MB with no newline, in 64 KiB pieces: refused once the line passes the cap, after
    about 1 MiB was read (it took 39 s of one core before, re-copying the line each piece)."""
    rows = CsvRows()
    piece, fed = "a" * 65_536, 0
    with pytest.raises(LineTooLong) as refused:
        for _ in range(64 * 16):
            fed += len(piece)
            list(rows.feed(piece))
    assert refused.value.line == 1
    assert fed <= MAX_LINE_CHARS + len(piece)
    # a long line that fits is still read, whole, in one join
    rows = CsvRows()
    assert list(rows.feed("phone,notes\n")) == [(1, ["phone", "notes"])]
    for _ in range(15):
        assert list(rows.feed("b" * 65_536)) == []
    assert list(rows.feed("\n")) == [(2, ["b" * 65_536 * 15])]
    # a quoted record spanning lines is bounded as a whole
    rows = CsvRows()
    with pytest.raises(LineTooLong) as refused:
        list(rows.feed('phone\n"' + ("c" * 1000 + "\n") * 1100))
    assert refused.value.line == 2


def _post_raw_until_answered(port: int, head: bytes, piece: bytes, total: int) -> bytes:
    """Send `head`, then `piece` repeatedly (up to `total` bytes) until the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)
        sent = 0
        with contextlib.suppress(OSError):
            while sent < total:
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    break
                s.sendall(piece)
                sent += len(piece)
        chunks = []
        with contextlib.suppress(OSError):
            while True:
                part = s.recv(65_536)
                if not part:
                    break
                chunks.append(part)
                if b"\r\n\r\n" in b"".join(chunks) and b"}" in chunks[-1]:
                    break
    return b"".join(chunks)


def test_a_64_mb_csv_line_is_a_413_naming_the_line(service, database_url):
    key = make_org(database_url).key()
    total = 64 * 1024 * 1024
    head = (
        f"POST /v1/leads/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {total + 12}\r\n\r\nphone,notes\n"
    ).encode()
    answer = _post_raw_until_answered(service.port, head, b"9" * 65_536, total)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"413", answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == "payload_too_large" and "Line 2 " in body["detail"], body
    assert httpx.get(f"{service.url}/healthz").status_code == 200


def test_a_quote_opened_inside_a_csv_cell_is_not_a_500(service, database_url):
    """`a","` opens a quoted cell inside an unquoted one; the reader shared by a chunk's records
    then swallowed the next record and the import answered 500 (found by the property above)."""
    key = make_org(database_url).key()
    csv_text = (
        'phone,notes,consent_timestamp\n5125550130,a",",2026-07-05T12:00:00Z\n'
        "5125550131,b,2026-07-05T12:00:00Z\n"
    )
    resp = httpx.post(
        f"{service.url}/v1/leads/import",
        content=csv_text.encode(),
        headers={**bearer(key), "Content-Type": "text/csv"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 2, resp.text


# --- the key cache ----------------------------------------------------------------------------


async def test_unknown_key_ids_never_grow_the_key_cache_without_bound(database_url):
    """40,000 unknown ids cost 4 MB per worker before; now the unknown and revoked ids are an LRU
    of `negative_cap` entries, and a real key stays cached and served."""
    from psycopg_pool import AsyncConnectionPool

    from lead2inbound import _core
    from lead2inbound.access.auth import KeyRing
    from lead2inbound.contract.problems import ProblemError
    from tests.support.stack import PEPPER

    org = make_org(database_url)
    real, revoked = org.key(), org.key()
    fetch(
        database_url,
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s RETURNING 1",
        revoked.split("_")[2],
    )
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        ring = KeyRing(pool, PEPPER.encode(), negative_cap=50)
        assert (await ring.authenticate(f"Bearer {real}")).org_id == org.org_id
        for _ in range(300):
            unknown, _ = _core.mint_key("live")
            with pytest.raises(ProblemError):
                await ring.authenticate(f"Bearer {unknown}")
        with pytest.raises(ProblemError):
            await ring.authenticate(f"Bearer {revoked}")
        assert ring.cached == (1, 50)
        assert (await ring.authenticate(f"Bearer {real}")).org_id == org.org_id
        ring.forget_all()
        assert ring.cached == (0, 0)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--options", '{"graph_url": "https://graph.example/\\r\\nx"}'], "graph_url"),
        (["--options", '{"graph_url": "ftp://graph.example/"}'], "graph_url"),
        (["--mapping", '{"phone": "/ph\\u0000one", "consent.consent_timestamp": "/t"}'],
         "mapping[phone]"),
        (["--mapping", '{"phone": ' + "[" * 5000 + "]" * 5000 + "}"], "nested deeper"),
    ],
    ids=["crlf-url", "ftp-url", "nul-path", "deep"],
)  # fmt: skip
def test_the_cli_refuses_a_bad_source_naming_the_field(database_url, args, named):
    from click.testing import CliRunner

    from lead2inbound.cli.main import main
    from tests.support.sources import SECRET_KEY

    org = make_org(database_url, "cli-abuse")
    env = {"L2I_DATABASE_URL": database_url, "L2I_SECRET_KEY": SECRET_KEY}
    base = ["sources", "create", "--org", org.org_id, "--name", "bad"]
    if "--mapping" not in args:
        args = [*args, "--mapping", '{"phone": "/phone", "consent.consent_timestamp": "/t"}']
    result = CliRunner().invoke(main, [*base, *args], env=env)
    assert result.exit_code != 0 and named in result.output, result.output
    assert fetch(database_url, "SELECT count(*) FROM lead_sources WHERE name = 'bad'") == [(0,)]
