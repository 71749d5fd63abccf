"""Operations: SIGTERM drains (`l2i serve`), JSON access logs with the request id and no secrets,
and every metric the service exposes is documented in docs/operations.md."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support import free_port
from tests.support.stack import auth, fetch, lead, make_org, service_env

ROOT = Path(__file__).resolve().parents[1]


def _serve(env: dict[str, str], port: int, log: Path, workers: int = 2) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
    full.update(env)
    with log.open("w") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lead2inbound.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(log.read_text()[-3000:])


def _slow_post(port: int, key: str, phone: str, results: dict, started: threading.Event) -> None:
    """Headers and half the body now; the rest once the test says so (after SIGTERM)."""
    body = json.dumps(lead(phone)).encode()
    head = (
        f"POST /v1/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(head + body[:10])
            started.wait(20)
            s.sendall(body[10:])
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        status = int(raw.split(b" ", 2)[1])
        payload = json.loads(raw.partition(b"\r\n\r\n")[2]) if status in (200, 201) else None
        results[phone] = (status, payload["lead_id"] if payload else None)
    except Exception as exc:  # recorded, asserted below
        results[phone] = (type(exc).__name__, None)


def test_sigterm_drains_in_flight_requests(tmp_path, database_url, redis_url):
    org = make_org(database_url)
    key = org.key()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = service_env(database_url, redis_url, L2I_SHUTDOWN_TIMEOUT_S="10")
    proc = _serve(env, port, log)
    try:
        _wait_healthy(url, proc, log)
        for i in range(4):  # every worker warm
            assert httpx.post(f"{url}/v1/leads", json=lead(f"51255590{i:02d}"), headers=auth(key))
        results: dict[str, tuple] = {}
        go = threading.Event()
        phones = [f"51255591{i:02d}" for i in range(40)]
        threads = [
            threading.Thread(target=_slow_post, args=(port, key, p, results, go)) for p in phones
        ]
        for t in threads:
            t.start()
        time.sleep(1.0)  # all 40 are accepted and waiting for the rest of their bodies
        sigterm_at = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        go.set()  # the bodies complete while the service is draining
        for t in threads:
            t.join(30)
        proc.wait(30)
        exited_after = time.monotonic() - sigterm_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    counts: dict[str, int] = {}
    for status, _ in results.values():
        counts[str(status)] = counts.get(str(status), 0) + 1
    print(f"\ndrain: {len(phones)} in flight at SIGTERM: {counts}; exit after {exited_after:.2f}s")
    assert exited_after < 10 + 3, "exits within L2I_SHUTDOWN_TIMEOUT_S"
    statuses = {p: r[0] for p, r in results.items()}
    assert all(s == 201 for s in statuses.values()), statuses
    ids = [r[1] for r in results.values()]
    stored = fetch(
        database_url, "SELECT lead_id::text FROM leads WHERE lead_id = ANY(%s::uuid[])", ids
    )
    assert len(stored) == len(phones), "every 201 given while draining is stored"
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_json_access_log_with_request_id_and_no_secrets(server_factory, database_url, redis_url):
    service = server_factory(service_env(database_url, redis_url, L2I_LOG_LEVEL="info"))
    key = make_org(database_url).key()
    r = httpx.post(
        f"{service.url}/v1/leads",
        json=lead("5125559200"),
        headers={**auth(key), "X-Request-Id": "trace-abc-1"},
    )
    assert r.status_code == 201
    httpx.post(f"{service.url}/v1/leads?api_key={key}", json=lead("5125559201"))
    httpx.post(f"{service.url}/v1/leads", json=lead("5125559202"), headers=auth(key[:-2] + "xx"))
    service.stop()
    lines = [json.loads(x) for x in service.log_text().splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "lead2inbound.access"]
    first = next(x for x in access if x["request_id"] == "trace-abc-1")
    assert first["status"] == 201 and first["method"] == "POST" and first["route"] == "/v1/leads"
    assert first["key_id"] == key.split("_")[2] and first["duration_ms"] >= 0
    assert {x["status"] for x in access} >= {201, 401}
    assert all(x["level"] in {"debug", "info", "warning", "error"} for x in lines)
    text = service.log_text()
    assert key not in text and key.split("_", 3)[3][:32] not in text
    assert "api_key=" not in text and "Bearer" not in text


def test_access_log_keeps_only_the_id_of_a_key_in_the_path(server_factory, database_url, redis_url):
    """The form endpoint carries a key in its path: a secret key posted there by mistake (401)
    and a publishable one both leave only their public id in the log."""
    service = server_factory(service_env(database_url, redis_url, L2I_LOG_LEVEL="info"))
    key = make_org(database_url).key()
    r = httpx.post(f"{service.url}/v1/forms/{key}", data={"phone": "5125559210"})
    assert r.status_code == 401
    service.stop()
    text = service.log_text()
    secret = key.split("_", 3)[3]
    assert secret[:24] not in text
    assert f"/v1/forms/{key.rsplit('_', 1)[0]}_…" in text


def test_log_level_warning_silences_the_access_log(server_factory, database_url, redis_url):
    service = server_factory(service_env(database_url, redis_url, L2I_LOG_LEVEL="warning"))
    httpx.get(f"{service.url}/healthz")
    service.stop()
    assert "lead2inbound.access" not in service.log_text()


def test_every_metric_is_documented(server_factory, database_url, redis_url):
    service = server_factory(service_env(database_url, redis_url))
    key = make_org(database_url).key(rate_limit=2)
    for i in range(3):
        httpx.post(f"{service.url}/v1/leads", json=lead(f"51255593{i:02d}"), headers=auth(key))
    httpx.post(f"{service.url}/v1/leads", json=lead("5125559300"), headers=auth(key))
    text = httpx.get(f"{service.url}/metrics").text
    families = {
        f for f in re.findall(r"^# TYPE (l2i_\w+) ", text, re.M) if not f.endswith("_created")
    }
    for needed in (
        "l2i_http_requests_total",
        "l2i_http_request_seconds",
        "l2i_leads_total",
        "l2i_writer_batch_size",
        "l2i_writer_commit_seconds",
        "l2i_ratelimit_decisions_total",
        "l2i_ratelimit_degraded",
        "l2i_dial_queue_depth",
    ):
        assert needed in families, (needed, sorted(families))
    assert re.search(r'^l2i_dial_queue_depth\{state="ready"\} 2(\.0)?$', text, re.M), text[-800:]
    doc = (ROOT / "docs" / "operations.md").read_text()
    missing = [f for f in families if f"`{f}" not in doc]
    assert not missing, f"document these metrics in docs/operations.md: {missing}"
