"""The separate metrics listener (issue 21, item 7): with L2I_METRICS_ADDR set, `l2i serve`
serves Prometheus on that address (the sum over its workers) and the API port answers /metrics
404; without it, /metrics stays on the API port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lead2inbound.ops.config import Config, ConfigError
from tests.support import free_port
from tests.support.stack import auth, lead, make_org, service_env


@pytest.mark.parametrize(
    ("addr", "want"),
    [("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:9100", ("::1", 9100))],
)
def test_metrics_addr_is_parsed(addr, want):
    assert Config.from_env({"L2I_METRICS_ADDR": addr}).metrics_listen() == want


@pytest.mark.parametrize("addr", ["9100", "127.0.0.1:", ":9100", "127.0.0.1:99999", "h:x"])
def test_a_malformed_metrics_addr_is_refused(addr):
    with pytest.raises(ConfigError, match="L2I_METRICS_ADDR"):
        Config.from_env({"L2I_METRICS_ADDR": addr})


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
    full.pop("PROMETHEUS_MULTIPROC_DIR", None)
    full.update(env)
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lead2inbound.cli", "serve", "--port", str(port)],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _get(url: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _sample(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


@pytest.mark.timeout(120)
def test_metrics_on_their_own_address_and_not_on_the_api_port(
    tmp_path, pg_server, pg_template, redis_server
):
    url = pg_server.create_database(template=pg_template)
    key = make_org(url).key()
    port, mport = free_port(), free_port()
    env = service_env(url, redis_server.url, L2I_WORKERS="2", L2I_METRICS_ADDR=f"127.0.0.1:{mport}")
    proc = _serve(env, port, tmp_path / "serve.log")
    api = f"http://127.0.0.1:{port}"
    try:
        assert _get(f"{api}/healthz").status_code == 200, (tmp_path / "serve.log").read_text()
        n = 40  # on new connections: both workers answer some
        for _ in range(n):
            assert httpx.get(f"{api}/healthz", headers={"Connection": "close"}).status_code == 200
        posted = httpx.post(f"{api}/v1/leads", json=lead("5125550101"), headers=auth(key))
        assert posted.status_code == 201, posted.text

        api_metrics = httpx.get(f"{api}/metrics")
        assert api_metrics.status_code == 404
        assert "l2i_http_requests_total" not in api_metrics.text

        prefix = 'l2i_http_requests_total{method="GET",route="/healthz",status="200"}'
        deadline = time.monotonic() + 10
        while True:  # each worker's tally reaches the shared files within 0.5 s
            scraped = _get(f"http://127.0.0.1:{mport}/metrics")
            assert scraped.status_code == 200
            if _sample(scraped.text, prefix) >= n + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert _sample(scraped.text, prefix) >= n + 1, scraped.text[:3000]
        assert _sample(scraped.text, 'l2i_leads_total{outcome="created"') == 1
        assert 'l2i_dial_queue_depth{state="ready"}' in scraped.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        pg_server.drop_database(url.rsplit("/", 1)[1])
    # the listener went with the server
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{mport}/metrics", timeout=2)


@pytest.mark.timeout(120)
def test_without_metrics_addr_the_api_port_serves_metrics(
    tmp_path, pg_server, pg_template, redis_server
):
    url = pg_server.create_database(template=pg_template)
    port = free_port()
    proc = _serve(service_env(url, redis_server.url, L2I_WORKERS="1"), port, tmp_path / "s.log")
    try:
        got = _get(f"http://127.0.0.1:{port}/metrics")
        assert got.status_code == 200 and "l2i_dial_queue_depth" in got.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        pg_server.drop_database(url.rsplit("/", 1)[1])


def test_serve_refuses_to_start_when_the_metrics_address_is_taken(
    tmp_path, pg_server, pg_template, redis_server
):
    url = pg_server.create_database(template=pg_template)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        env = service_env(url, redis_server.url, L2I_METRICS_ADDR=addr)
        proc = _serve(env, free_port(), tmp_path / "serve.log")
        try:
            assert proc.wait(60) != 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        taken.close()
        pg_server.drop_database(url.rsplit("/", 1)[1])
    assert f"the metrics listener could not start on {addr}" in (tmp_path / "serve.log").read_text()
