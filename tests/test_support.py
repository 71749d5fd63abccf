"""The shared fixtures themselves: fresh databases, emptied Redis, private servers, servers."""

from __future__ import annotations

import http.client
import signal
import time

import psutil
import psycopg
import pytest
import redis

from tests.support import free_port
from tests.support.server import ServerProcess, ServerStartError, group_members
from tests.support.stores import NotControllable, PostgresHandle, RedisHandle

HELLO = "tests.support.hello_app:app"


def _get(url: str, path: str) -> tuple[int, str]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_database_url_is_fresh_and_migrated(database_url: str, pg_server: PostgresHandle) -> None:
    assert "/l2i_t_" in database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM l2i_schema_migrations")]
        assert 1 in versions
        conn.execute("CREATE TABLE scratch (v int)")  # must not leak into the next test


def test_database_url_is_fresh_again(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT to_regclass('scratch') IS NULL").fetchone()
        assert row == (True,)


def test_databases_are_dropped_after_the_test(pg_server: PostgresHandle) -> None:
    with psycopg.connect(pg_server.admin_url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'l2i\\_t\\_%'")
        assert rows.fetchall() == []


def test_redis_url_is_empty(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("leftover", "1")
    client.close()


def test_redis_url_is_empty_again(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.get("leftover") is None
    client.close()


def test_private_pg_can_be_killed_and_restarted(
    private_pg: PostgresHandle, pg_server: PostgresHandle
) -> None:
    assert private_pg.controllable and private_pg.port != getattr(pg_server, "port", None)
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        conn.execute("SELECT 1 FROM l2i_schema_migrations")  # migrated
    private_pg.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_pg.url, connect_timeout=2)
    private_pg.start()
    with psycopg.connect(private_pg.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_private_redis_can_be_stopped(private_redis: RedisHandle) -> None:
    client = redis.Redis.from_url(private_redis.url, socket_timeout=2)
    private_redis.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    private_redis.restart()
    assert client.ping()
    client.close()


def test_external_handles_refuse_control() -> None:
    handle = PostgresHandle(url="postgresql://x@127.0.0.1:1/x", admin_url="postgresql://x")
    with pytest.raises(NotControllable):
        handle.restart()
    with pytest.raises(NotControllable):
        RedisHandle(url="redis://127.0.0.1:1/0").kill()


def test_server_factory_runs_a_real_granian(server_factory, pg_server: PostgresHandle) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(env={"L2I_DATABASE_URL": pg_server.url, "HELLO": "world"}, app=HELLO)
    assert _get(srv.url, "/healthz") == (200, "ok")
    assert _get(srv.url, "/env/L2I_DATABASE_URL") == (200, pg_server.url)
    assert _get(srv.url, "/env/HELLO") == (200, "world")
    deadline = time.monotonic() + 5
    while "hello_app loaded" not in srv.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hello_app loaded" in srv.log_text()


def test_server_stop_takes_the_whole_group_down(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(app=HELLO, workers=2)
    workers = srv.worker_pids()
    assert len(workers) == 2
    pgid = srv.pid
    assert srv.stop() is not None
    assert not srv.is_running()
    assert group_members(pgid) == []
    for pid in workers:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_kill_worker(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(app=HELLO, workers=1, extra_args=["--respawn-failed-workers"])
    victim = srv.kill_worker()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = srv.worker_pids()
        if pids and victim not in pids and srv._healthz() == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker not respawned\n{srv.log_text()[-2000:]}")


def test_server_start_failure_shows_the_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = ServerProcess(app="tests.support.no_such_module:app", log_path=tmp_path / "s.log")
    with pytest.raises(ServerStartError, match="last lines of"):
        srv.start()
    assert not srv.is_running()


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert signal.SIGTERM  # the conftest turned SIGTERM into KeyboardInterrupt
