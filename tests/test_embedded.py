"""The embedded Postgres and Redis: lifecycle, persistence, isolation, no leftovers."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from lead2inbound.ops.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServerError,
    EmbeddedStack,
    free_port,
)


def _gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _pg_value(url: str, query: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


# --- Postgres ---------------------------------------------------------------------------------
def test_postgres_lifecycle_and_persistence(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")  # durable: the serve default
    url = pg.start()
    try:
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/l2i"
        assert pg.is_running()
        assert _pg_value(url, "SHOW fsync") == "on"
        assert _pg_value(url, "SHOW listen_addresses") == "127.0.0.1"
        assert _pg_value(url, "SHOW max_connections") == "200"
        assert _pg_value(url, "SELECT current_database()") == "l2i"
        if os.geteuid() == 0:
            assert _pg_value(url, "SELECT current_setting('data_directory')") == str(pg.pgdata)
            assert pg.pgdata.stat().st_uid != 0
        assert pg.socket_dir is not None and len(str(pg.socket_dir)) < 40
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v int)")
            conn.execute("INSERT INTO t VALUES (1)")
        port, pid = pg.port, pg.pid

        # restart: same port, data kept
        assert pg.restart() == url
        assert pg.port == port and pg.pid != pid and _gone(pid)
        assert _pg_value(url, "SELECT sum(v) FROM t") == 1

        # crash: SIGKILL the postmaster; a new start recovers, same port, committed data kept
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        pid = pg.pid
        pg.kill()
        assert not pg.is_running() and _gone(pid)
        assert (pg.pgdata / "postmaster.pid").exists()  # stale, must not block the next start
        assert pg.start() == url
        assert _pg_value(url, "SELECT sum(v) FROM t") == 3

        # stop; a second instance on the same data dir reuses the persisted port
        pid = pg.pid
        pg.stop()
        assert not pg.is_running() and _gone(pid)
        assert (pg.data_dir / "port").read_text().strip() == str(port)
        again = EmbeddedPostgres(tmp_path / "pg")
        assert again.start() == url
        again.stop()
        assert "database system is shut down" in pg.log_path.read_text()
    finally:
        pg.stop()


def test_postgres_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    pg.start()
    try:
        with pytest.raises(EmbeddedServerError, match="in use by a running postgres"):
            EmbeddedPostgres(tmp_path / "pg", durable=False).start()
        assert pg.is_running()
    finally:
        pg.stop()


def test_postgres_not_durable_settings(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    url = pg.start()
    try:
        assert _pg_value(url, "SHOW fsync") == "off"
        assert _pg_value(url, "SHOW synchronous_commit") == "off"
        assert _pg_value(url, "SHOW full_page_writes") == "off"
    finally:
        pg.stop()
    assert pg.socket_dir is None


def test_postgres_start_failure_carries_the_log_tail(tmp_path: Path) -> None:
    blocker = free_port()
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False, settings={"shared_buffers": "nonsense"})
    with pytest.raises(EmbeddedServerError) as info:
        pg.start()
    assert "shared_buffers" in str(info.value)
    assert "last lines of" in str(info.value)
    assert not pg.is_running()
    del blocker


def test_two_postgres_instances_at_once(tmp_path: Path) -> None:
    a = EmbeddedPostgres(tmp_path / "a", durable=False)
    b = EmbeddedPostgres(tmp_path / "b", durable=False)
    try:
        a.start()
        b.start()
        assert a.port != b.port
        with psycopg.connect(a.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE only_in_a ()")
        assert _pg_value(b.url, "SELECT to_regclass('only_in_a') IS NULL") is True
    finally:
        a.stop()
        b.stop()


# --- Redis ------------------------------------------------------------------------------------
def test_redis_lifecycle(tmp_path: Path) -> None:
    r = EmbeddedRedis(tmp_path / "r")
    url = r.start()
    try:
        assert url == f"redis://127.0.0.1:{r.port}/0"
        client = redis.Redis.from_url(url)
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.set("k", "v")
        port, pid = r.port, r.pid
        r.restart()
        assert r.port == port and _gone(pid)
        assert client.get("k") is None  # not persistent: a restart forgets
        pid = r.pid
        r.kill()
        assert not r.is_running() and _gone(pid)
        assert r.start() == url
        assert client.ping()
        client.close()
    finally:
        r.stop()
    assert not r.is_running()


def test_redis_persistent_keeps_keys_across_restart(tmp_path: Path) -> None:
    r = EmbeddedRedis(tmp_path / "r", persistent=True)
    url = r.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.set("survivor", "1")
        client.close()
        r.restart()
        client = redis.Redis.from_url(url)
        assert client.get("survivor") == b"1"
        client.close()
    finally:
        r.stop()


def test_two_redis_instances_at_once(tmp_path: Path) -> None:
    a, b = EmbeddedRedis(tmp_path / "a"), EmbeddedRedis(tmp_path / "b")
    try:
        a.start()
        b.start()
        assert a.port != b.port
        ca, cb = redis.Redis.from_url(a.url), redis.Redis.from_url(b.url)
        ca.set("x", "a")
        assert cb.get("x") is None
        ca.close()
        cb.close()
    finally:
        a.stop()
        b.stop()


# --- both -------------------------------------------------------------------------------------
def test_stack_stops_both_on_exception(tmp_path: Path) -> None:
    pids: list[int | None] = []
    with pytest.raises(RuntimeError, match="boom"), EmbeddedStack(tmp_path / "stack") as stack:
        assert stack.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert stack.redis_url.startswith("redis://127.0.0.1:")
        assert stack.redis.persistent and stack.postgres.durable
        pids = [stack.postgres.pid, stack.redis.pid]
        raise RuntimeError("boom")
    assert all(_gone(pid) for pid in pids)
    assert signal.getsignal(signal.SIGTERM) is not None


def test_data_dir_parents_are_made_traversable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root needs another user to reach the data dir")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    pg = EmbeddedPostgres(private / "nested" / "pg", durable=False)
    pg.start()
    try:
        mode = private.stat().st_mode
        assert mode & stat.S_IXOTH and not mode & stat.S_IROTH  # search only, never listing
    finally:
        pg.stop()
