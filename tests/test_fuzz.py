"""Bad input against a real server over raw sockets: never a 500, never a hang, always a problem.

Hypothesis builds whole HTTP/1.1 requests (method, path, query, headers, content type, body and
its framing) from hostile parts: random bytes, invalid UTF-8, NUL, 10,000-deep nesting, huge
numbers, enormous strings, duplicate keys, random content types and headers, chunked bodies past
the cap. Separate tests cover slow bodies and slow header sections (the server answers 408 or
drops the connection within its timeout while other requests are served) and malformed framing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.stack import auth, fetch, lead, make_org, service_env

ANSWER_TIMEOUT_S = 15.0
BODY_TIMEOUT_S = 2
BODY_READ_TIMEOUT_S = 2
LEAKS = (b"Traceback", b"psycopg", b"SELECT ", b"INSERT ", b'File "', b"redis.exceptions")
COUNTS = {"requests": 0}


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, pg_server, pg_template, redis_server):
    """One server for the module (hypothesis runs many examples against it)."""
    from tests.support.server import ServerProcess

    url = pg_server.create_database(template=pg_template)
    env = service_env(
        url,
        redis_server.url,
        L2I_AUTH_FAILURES_PER_MINUTE="0",
        L2I_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        L2I_BODY_READ_TIMEOUT_S=str(BODY_READ_TIMEOUT_S),
        L2I_MAX_BODY_BYTES="65536",
    )
    srv = ServerProcess(
        env=env,
        log_path=tmp_path_factory.mktemp("fuzz") / "server.log",
        extra_args=["--http1-header-read-timeout", str(BODY_TIMEOUT_S * 1000)],
    )
    srv.start()
    try:
        key = make_org(url).key(rate_limit=1_000_000)
        yield srv, key, url
    finally:
        srv.stop()
        pg_server.drop_database(url.rsplit("/", 1)[1])


# --- raw HTTP -----------------------------------------------------------------------------------


def exchange(
    port: int, data: bytes, timeout: float = ANSWER_TIMEOUT_S
) -> tuple[int | None, dict, bytes]:
    """Send `data`, read until the server closes; (status or None if dropped, headers, body)."""
    COUNTS["requests"] += 1
    deadline = time.monotonic() + timeout
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        # the server may refuse mid-send (e.g. a body past the cap): read its answer anyway
        with contextlib.suppress(OSError):
            s.sendall(data)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no answer within {timeout}s (hang): {data[:200]!r}")
            s.settimeout(left)
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(
                    f"no answer within {timeout}s (hang): {data[:200]!r}"
                ) from None
            if not part:
                break
            raw += part
            if _complete(raw):
                break
    if not raw:
        return None, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, body


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


def request_bytes(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    chunked: bool = False,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        step = 16384
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step])
            for i in range(0, len(body), step)
        )
        payload += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + payload


def check_answer(status: int | None, headers: dict, body: bytes, sent: bytes) -> None:
    assert status is not None, f"connection dropped without an answer: {sent[:300]!r}"
    assert status < 500 or status == 503, (status, body[:500], sent[:300])
    assert status != 503 or "retry-after" in headers
    if "x-request-id" not in headers:
        # refused by Granian's HTTP parser before the app (e.g. a '"' in the request target):
        # a bare 4xx with no body is the only acceptable answer there
        COUNTS["granian_refused"] = COUNTS.get("granian_refused", 0) + 1
        assert 400 <= status < 500 and not body, (status, headers, body[:200])
        return
    for leak in LEAKS:
        assert leak not in body, (leak, body[:500])
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/problem+json"), (
            status,
            headers,
            body[:300],
        )
        problem = json.loads(body)
        assert problem["status"] == status and problem["code"] and problem["request_id"]


# --- strategies ---------------------------------------------------------------------------------

VALID = json.dumps(lead("5125550143", source="fuzz")).encode()


def _deep(n: int, open_: str, close: str) -> bytes:
    return (open_ * n + close * n).encode()


hostile_json = st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=64).map(lambda b: b'{"phone": "' + b + b'"}'),
    st.just(b'{"phone": "\xff\xfe\xfd"}'),
    st.just(b'{"phone": "512555\x000143"}'),
    st.just(b'{"phone": "5125550143", "source": "a\\u0000b"}'),
    st.just(b'{"phone": "5125550143", "source": "\\ud800"}'),
    st.sampled_from([10, 100, 1000, 10_000]).map(lambda n: _deep(n, "[", "]")),
    st.sampled_from([10, 1000, 10_000]).map(
        lambda n: (
            b'{"phone": "5125550143", "custom_fields": '
            + _deep(n, '{"a":', "}")[:-n]
            + b"1"
            + b"}" * n
            + b"}"
        )
    ),
    st.sampled_from([10_000]).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from(["1e400", "-1e400", "9" * 5000, "1" + "0" * 400, "NaN", "Infinity", "-0"]).map(
        lambda num: b'{"phone": "5125550143", "custom_fields": {"n": ' + num.encode() + b"}}"
    ),
    st.sampled_from(["9" * 5000, "1e400"]).map(lambda num: b'{"phone": ' + num.encode() + b"}"),
    st.integers(min_value=1000, max_value=60_000).map(
        lambda n: b'{"phone": "5125550143", "first_name": "' + b"x" * n + b'"}'
    ),
    st.just(b'{"phone": "5125550143", "phone": "5125550144"}'),
    st.just(
        b'{"phone": "5125550143", "consent": {"consent_timestamp": "x", "consent_timestamp": 1}}'
    ),
    st.dictionaries(
        st.text(max_size=12),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=20,
        ),
        max_size=8,
    ).map(lambda d: json.dumps({"phone": "5125550143", **d}).encode()),
    st.just(VALID),
)

hostile_form = st.one_of(
    st.binary(max_size=1024),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"phone=5125550143&" + b"a[" * 5000 + b"]" * 5000 + b"=1"),
    st.just(b"phone=5125550143&consent[consent_timestamp]=%FF%FE&x=%00"),
    st.just(b"phone=%E0%A4%A&first_name=%ZZ"),
    st.just(b"&" * 10_000),
)

content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "application/json; charset=bogus",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-16",
            "application/vnd.api+json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
            "application/json;;;=",
            "*/*",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
)

header_token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=':()<>@,;\\"/[]?={}'),
    min_size=1,
    max_size=20,
)
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
path_text = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#%"), max_size=40
)


@st.composite
def requests_(draw: Any, key: str) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["json", "json", "form", "other"]))
    if kind == "form":
        body = draw(hostile_form)
        ctype = draw(st.one_of(st.just("application/x-www-form-urlencoded"), content_types))
    else:
        body = draw(hostile_json)
        ctype = draw(st.one_of(st.just("application/json"), content_types))
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    path = draw(
        st.one_of(
            st.just("/v1/leads"),
            st.sampled_from(["/healthz", "/readyz", "/v1/leads/", "/v1//leads", "/v1/leads/x/y"]),
            path_text.map(lambda p: "/" + p),
        )
    )
    query = draw(st.one_of(st.just(""), path_text.map(lambda q: "?" + q)))
    authz = draw(
        st.sampled_from(
            [
                f"Bearer {key}",
                f"Bearer {key}",
                f"bearer  {key} ",
                "Bearer ",
                "Basic !!!",
                "Bearer l2i_live_" + "A" * 60,
                None,
            ]
        )
    )
    headers = []
    if authz is not None:
        headers.append(("Authorization", authz))
    if ctype:
        headers.append(("Content-Type", ctype))
    headers += draw(
        st.lists(st.tuples(header_token.map(lambda t: "X-" + t), header_value), max_size=6)
    )
    if draw(st.booleans()):
        headers.append(("X-Request-Id", draw(header_value)))
    chunked = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:  # past the 64 KB cap
        body = body + b" " * 70_000
    return request_bytes(method, path + query, headers, body, chunked), kind


@settings(
    max_examples=int(os.environ.get("L2I_FUZZ_EXAMPLES", "150")),
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    deadline=None,
)
@given(data=st.data())
def test_fuzz_raw_requests(fuzz_stack, data):
    srv, key, _ = fuzz_stack
    sent, _kind = data.draw(requests_(key))
    status, headers, body = exchange(srv.port, sent)
    check_answer(status, headers, body, sent)


def test_fuzz_summary_and_nothing_half_stored(fuzz_stack):
    srv, key, url = fuzz_stack
    # after the storm the service is healthy and every stored lead is whole
    assert httpx.get(f"{srv.url}/healthz").status_code == 200
    resp = httpx.post(f"{srv.url}/v1/leads", json=lead("5125550777"), headers=auth(key))
    assert resp.status_code in (200, 201), resp.text
    broken = fetch(
        url,
        "SELECT count(*) FROM leads l LEFT JOIN dial_queue q USING (org_id, lead_id) "
        "WHERE l.status = 'new' AND NOT l.sandbox AND q.lead_id IS NULL",
    )
    assert broken == [(0,)]
    print(
        f"fuzz: {COUNTS['requests']} raw requests sent, "
        f"{COUNTS.get('granian_refused', 0)} refused by Granian's parser before the app"
    )


# --- slow bodies and header sections, malformed framing ------------------------------------------


def _stall(port: int, data: bytes, results: list, timeout: float = ANSWER_TIMEOUT_S) -> None:
    started = time.monotonic()
    try:
        status, headers, body = exchange(port, data, timeout)
    except AssertionError as exc:
        results.append(("hang", str(exc), time.monotonic() - started))
        return
    results.append((status, (headers, body), time.monotonic() - started))


def test_slow_body_is_answered_408_and_the_worker_keeps_serving(fuzz_stack):
    srv, key, _ = fuzz_stack
    body = json.dumps(lead("5125550888")).encode()
    partial = request_bytes(
        "POST",
        "/v1/leads",
        [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")],
        body,
    )
    partial = partial[: -len(body) + 10]  # headers and 10 bytes of the body, then silence
    results: list = []
    threads = [threading.Thread(target=_stall, args=(srv.port, partial, results)) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    # the (single) worker still answers other requests at once while 5 bodies stall
    t0 = time.monotonic()
    ok = httpx.post(f"{srv.url}/v1/leads", json=lead("5125550889"), headers=auth(key), timeout=5)
    assert ok.status_code in (200, 201) and time.monotonic() - t0 < 1.5
    for t in threads:
        t.join(ANSWER_TIMEOUT_S + 5)
    assert len(results) == 5
    for status, (headers, answer), elapsed in results:
        assert status == 408, (status, answer)
        assert elapsed < BODY_TIMEOUT_S + 3
        check_answer(status, headers, answer, partial)


def test_slow_header_section_is_dropped(fuzz_stack):
    srv, _, _ = fuzz_stack
    results: list = []
    _stall(srv.port, b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nX-Slow: ", results)
    status, _, elapsed = results[0]
    assert status != "hang", results
    assert elapsed < BODY_TIMEOUT_S + 3, results
    assert status is None or 400 <= status < 500


POST = b"POST /v1/leads HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        # malformed chunked bodies: Granian reports them to the app as a disconnect; the body
        # guard (web/http.py, BodyReads) answers 400 (Granian alone answered a bare 500)
        POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\n\r\n5" + b";e=x" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\nhello\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"POST /v1/leads HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /v1/le\x00ads HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_malformed_framing(fuzz_stack, raw):
    """Broken HTTP never reaches the app: Granian answers 4xx or closes; never 5xx, never a hang."""
    srv, _, _ = fuzz_stack
    status, headers, body = exchange(srv.port, raw)
    assert status is None or 400 <= status < 500, (status, body[:300])
    if status is not None and headers.get("content-type", "").startswith("application/"):
        check_answer(status, headers, body, raw)
    assert httpx.get(f"{srv.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # bad chunk size
        b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",  # chunk size overflows
        b"5" + b";e=x" * 5000 + b"\r\nhello\r\n0\r\n\r\n",  # chunk-extension flood
        b"2\r\n{}\r\nzz\r\n0\r\n\r\n",  # a good first chunk, then a bad one
    ],
)
def test_malformed_chunked_body_is_a_400_problem(fuzz_stack, chunks):
    """Issue 21: Granian answered these with its own bare 500 (it tells the app a disconnect,
    and Falcon returns without answering). The body guard answers a 400 problem, and a body cut
    after a good chunk (`{}`) is never taken as whole."""
    srv, key, _ = fuzz_stack
    head = (
        f"POST /v1/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    status, headers, body = exchange(srv.port, head + chunks)
    assert status == 400, (status, body[:300])
    check_answer(status, headers, body, head + chunks)
    assert json.loads(body)["code"] == "bad_request"
    assert httpx.get(f"{srv.url}/healthz").status_code == 200


def test_a_body_that_never_starts_is_answered_408(fuzz_stack):
    """Headers complete, not one byte of the body: Falcon waits for the first body event before
    any of our code runs, so only the body guard's read timeout can answer (408)."""
    srv, key, _ = fuzz_stack
    head = (
        f"POST /v1/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    t0 = time.monotonic()
    status, headers, body = exchange(srv.port, head)
    assert status == 408, (status, body[:300])
    assert time.monotonic() - t0 < BODY_READ_TIMEOUT_S + 3
    check_answer(status, headers, body, head)
