"""What an operator and a new user do: the README quickstart, `l2i serve` on the embedded
default, the key commands, and the service riding out a Redis or Postgres outage."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import free_port
from tests.support.stack import PEPPER, auth, fetch, lead, make_org, service_env

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"l2i_(?:live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")


def readme_curl() -> str:
    """The quickstart's curl, exactly as the README shows it."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(curl -X POST .*?)\n```", text, re.S)
    assert len(blocks) == 1, "the README has exactly one quickstart curl block"
    return blocks[0]


def run_curl(command: str, url: str, key: str) -> tuple[int, dict]:
    command = command.replace("YOUR_API_KEY", key).replace("http://127.0.0.1:8000", url)
    out = subprocess.run(
        ["bash", "-c", command + " -s -o /dev/stdout -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    body, _, code = out.rpartition("\n")
    import json

    return int(code), json.loads(body)


def test_readme_quickstart_verbatim(server_factory, database_url, redis_url):
    service = server_factory(service_env(database_url, redis_url))
    key = make_org(database_url).key()
    command = readme_curl()
    assert "http://127.0.0.1:8000/v1/leads" in command and "YOUR_API_KEY" in command
    status, body = run_curl(command, service.url, key)
    assert status == 201, body
    assert re.fullmatch(r"[0-9a-f-]{36}", body["lead_id"]) and body["status"] == "new"
    status2, body2 = run_curl(command, service.url, key)
    assert status2 == 200 and body2["outcome"] == "duplicate"
    assert body2["lead_id"] == body["lead_id"]


# --- l2i serve on the embedded default ----------------------------------------------------------


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
    env.update({"L2I_DATA_DIR": str(data_dir), "L2I_WORKERS": "1", "L2I_LOG_LEVEL": "warning"})
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lead2inbound.cli", "serve", "--port", str(port)],
            env=env,
            cwd=data_dir.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"l2i serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"l2i serve not ready:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise


def _servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data_dir) in cmd and p.info["name"] in {"postgres", "redis-server"}:
            found.append(p)
    return found


def test_serve_embedded_default(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = _serve(data, port, log)
    try:
        _wait_ready(url, proc, log)
        keys = KEY.findall(log.read_text())
        assert len(set(keys)) == 1, log.read_text()
        key = keys[0]
        assert f"curl -X POST {url}/v1/leads" in log.read_text()
        first = httpx.post(f"{url}/v1/leads", json=lead("5125550143"), headers=auth(key))
        assert first.status_code == 201, first.text
        # the console's URL and a one-time sign-in link next to the key (docs/console.md)
        link = re.search(rf"{re.escape(url)}/console/link#([A-Za-z0-9_-]+)", log.read_text())
        assert link, log.read_text()
        with httpx.Client(base_url=url) as browser_like:
            signed = browser_like.post("/console/link", data={"token": link.group(1)})
            assert signed.status_code == 303 and "l2i_console=" in signed.headers["set-cookie"]
            assert browser_like.get("/console/overview").status_code == 200
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
    finally:
        _stop(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]
    time.sleep(0.5)
    assert _servers_using(data) == [], "stopping the service stops what it started"

    log2 = tmp_path / "serve2.log"
    proc = _serve(data, port, log2)
    try:
        _wait_ready(url, proc, log2)
        assert KEY.findall(log2.read_text()) == [], "a second start prints no new key"
        again = httpx.post(f"{url}/v1/leads", json=lead("5125550143"), headers=auth(key))
        assert again.status_code == 200 and again.json()["lead_id"] == first.json()["lead_id"]
    finally:
        _stop(proc)
    assert _servers_using(data) == []


def test_serve_refuses_a_schema_that_is_behind(tmp_path, pg_server, redis_url):
    url = pg_server.create_database()  # empty: no migrations
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
        env.update({"L2I_DATABASE_URL": url, "L2I_REDIS_URL": redis_url, "L2I_KEY_PEPPER": PEPPER})
        res = subprocess.run(
            [sys.executable, "-m", "lead2inbound.cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode != 0
        assert "l2i migrate" in res.stderr
        res = subprocess.run(
            [sys.executable, "-m", "lead2inbound.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        assert "applied 0001_init" in res.stderr
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])


# --- keys from the command line -------------------------------------------------------------------


def _l2i(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "lead2inbound.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_keys_and_revocation_across_workers(server_factory, database_url, redis_url):
    env = service_env(database_url, redis_url)
    org = _l2i("orgs", "create", "acme", env=env)
    assert org.returncode == 0, org.stderr
    created = _l2i(
        "keys",
        "create",
        "--org",
        "acme",
        "--name",
        "webform",
        "--scopes",
        "write,read",
        "--rate-limit",
        "500",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert KEY.fullmatch(key), "stdout holds the key and nothing else"
    key_id = key.split("_")[2]
    listing = _l2i("keys", "list", "--org", "acme", env=env)
    assert key_id in listing.stdout and key[-4:] in listing.stdout
    assert key not in listing.stdout
    assert fetch(
        database_url, "SELECT count(*) FROM api_keys WHERE digest::text LIKE %s", f"%{key}%"
    ) == [(0,)]
    bad = _l2i("keys", "create", "--org", "acme", "--name", "x", "--scopes", "root", env=env)
    assert bad.returncode != 0 and "scopes" in bad.stderr

    service = server_factory(env, workers=2)
    for i in range(6):  # warm both workers' caches
        resp = httpx.post(
            f"{service.url}/v1/leads", json=lead(f"51255503{i:02d}"), headers=auth(key)
        )
        assert resp.status_code == 201, resp.text
    revoked = _l2i("keys", "revoke", key_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(1.0)
    for i in range(6):
        resp = httpx.post(
            f"{service.url}/v1/leads", json=lead(f"51255504{i:02d}"), headers=auth(key)
        )
        assert resp.status_code == 401, "revoked on every worker within one second"


# --- outages --------------------------------------------------------------------------------------


def test_redis_outage_falls_back_and_recovers(server_factory, database_url, private_redis):
    service = server_factory(service_env(database_url, private_redis.url))
    key = make_org(database_url).key(rate_limit=1000)
    url = f"{service.url}/v1/leads"
    assert httpx.post(url, json=lead("5125550500"), headers=auth(key)).status_code == 201
    private_redis.kill()
    for i in range(10):
        resp = httpx.post(url, json=lead(f"51255505{i + 10:02d}"), headers=auth(key), timeout=10)
        assert resp.status_code == 201, resp.text
        assert "X-RateLimit-Remaining" in resp.headers
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["degraded"] is True and ready["status"] == "degraded", ready
    assert "l2i_ratelimit_degraded 1.0" in httpx.get(f"{service.url}/metrics").text
    private_redis.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        httpx.post(url, json=lead("5125550599"), headers=auth(key))
        if httpx.get(f"{service.url}/readyz").json()["degraded"] is False:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the limiter did not recover after Redis returned")
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(12,)]


def test_postgres_outage_is_503_never_201(server_factory, private_pg, redis_url):
    env = service_env(private_pg.url, redis_url, L2I_DB_TIMEOUT_S="1")
    service = server_factory(env)
    key = make_org(private_pg.url).key()
    url = f"{service.url}/v1/leads"
    assert httpx.post(url, json=lead("5125550600"), headers=auth(key)).status_code == 201
    private_pg.stop()
    for i in range(5):
        resp = httpx.post(url, json=lead(f"51255506{i + 10:02d}"), headers=auth(key), timeout=15)
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{service.url}/readyz").status_code == 503
    private_pg.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        resp = httpx.post(url, json=lead("5125550699"), headers=auth(key), timeout=15)
        if resp.status_code == 201:
            break
        assert resp.status_code == 503
        time.sleep(0.25)
    else:
        pytest.fail("the service did not recover after Postgres returned")
    assert fetch(private_pg.url, "SELECT count(*) FROM leads") == [(2,)]
