"""Shared fixtures: hypothesis profiles, Postgres and Redis for the tests, real server processes.

See docs/testing.md. In short:

- `pg_server` / `redis_server` (session): a `PostgresHandle` / `RedisHandle`, embedded unless
  `L2I_TEST_DATABASE_URL` / `L2I_TEST_REDIS_URL` name external servers.
- `database_url` (function): URL of a fresh, migrated database, cloned from `l2i_template`.
- `redis_url` (function): URL of an emptied Redis database.
- `private_pg` / `private_redis` (function): a fresh embedded server the test may stop, restart or
  kill (`private_pg.url` is migrated).
- `server_factory` (function): starts real Granian processes, stops them all at teardown.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import psutil
import psycopg
import pytest
import redis
from hypothesis import HealthCheck, settings
from psycopg import sql

from lead2inbound.ops.embedded import EmbeddedPostgres, EmbeddedRedis
from lead2inbound.store.migrate import migrate
from tests.support import server as server_mod
from tests.support.server import DEFAULT_APP, ServerProcess
from tests.support.stores import PostgresHandle, RedisHandle, with_database

# --- hypothesis -------------------------------------------------------------------------------
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TEMPLATE_DB = "l2i_template"


_OWN_BASETEMP = pytest.StashKey[Path]()


# --- process hygiene --------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    # A temp dir of this run's own (unless --basetemp is given): pytest's shared
    # /tmp/pytest-of-<user> is pruned and reset to 0700 by every new run, which takes the
    # search bit from a concurrent run's embedded Postgres (it runs as another user) and kills it.
    if config.option.basetemp is None:
        own = Path(tempfile.gettempdir()) / f"l2i-pytest-{os.getpid()}"
        config.option.basetemp = str(own)
        config.stash[_OWN_BASETEMP] = own
    # A SIGTERM to the test run unwinds like Ctrl-C, so fixture teardown stops the servers.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def on_sigterm(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, on_sigterm)


def leftover_servers() -> list[psutil.Process]:
    """Postgres, Redis or Granian processes started by this test run that are still alive."""
    me = psutil.Process()
    found = []
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(child.cmdline())
            if child.name() in {"postgres", "redis-server"} or "granian" in cmd:
                found.append(child)
    return found


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    result = yield  # fixtures (the session servers too) are torn down inside this hook
    for srv in list(server_mod.LIVE):
        srv.stop()
    left = leftover_servers()
    if left:
        lines = [f"  pid {p.pid}: {' '.join(p.cmdline())[:120]}" for p in left]
        sys.stderr.write("\nERROR: test servers still running at session end:\n")
        sys.stderr.write("\n".join(lines) + "\n")
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    own = session.config.stash.get(_OWN_BASETEMP, None)
    if own is not None and session.exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(own, ignore_errors=True)  # a failed run's files stay for a look
    return result


# --- Postgres ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHandle]:
    """The session's Postgres: `L2I_TEST_DATABASE_URL` (an admin URL) or an embedded server."""
    external = os.environ.get("L2I_TEST_DATABASE_URL")
    if external:
        yield PostgresHandle(url=external, admin_url=external)
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg_session"), durable=False)
    try:
        server.start()
        yield PostgresHandle(url=server.url, admin_url=server.admin_url, embedded=server)
    finally:
        _stop_quietly(server)


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresHandle) -> Iterator[str]:
    """Name of a database with every migration applied, the template for `database_url`."""
    name = TEMPLATE_DB if pg_server.controllable else f"{TEMPLATE_DB}_{secrets.token_hex(4)}"
    pg_server.drop_database(name)
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate(with_database(pg_server.admin_url, name))
        yield name
    finally:
        with contextlib.suppress(psycopg.Error):
            pg_server.drop_database(name)


@pytest.fixture
def database_url(pg_server: PostgresHandle, pg_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test (dropped afterwards)."""
    url = pg_server.create_database(template=pg_template)
    try:
        yield url
    finally:
        with contextlib.suppress(psycopg.Error):
            pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PostgresHandle]:
    """A Postgres of this test's own (embedded, durable=False, `url` migrated) to stop/kill."""
    server = EmbeddedPostgres(tmp_path / "private_pg", durable=False)
    try:
        server.start()
        migrate(server.url)
        yield PostgresHandle(url=server.url, admin_url=server.admin_url, embedded=server)
    finally:
        _stop_quietly(server)


# --- Redis ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisHandle]:
    """The session's Redis: `L2I_TEST_REDIS_URL` or an embedded, non-persistent server."""
    external = os.environ.get("L2I_TEST_REDIS_URL")
    if external:
        yield RedisHandle(url=external)
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis_session"), persistent=False)
    try:
        server.start()
        yield RedisHandle(url=server.url, embedded=server)
    finally:
        _stop_quietly(server)


@pytest.fixture
def redis_url(redis_server: RedisHandle) -> str:
    """The session Redis, emptied for this test (FLUSHALL when embedded, FLUSHDB on the URL's
    database when external)."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        if redis_server.controllable:
            client.flushall()
        else:
            client.flushdb()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisHandle]:
    """A Redis of this test's own (embedded, not persistent) to stop/restart/kill."""
    server = EmbeddedRedis(tmp_path / "private_redis", persistent=False)
    try:
        server.start()
        yield RedisHandle(url=server.url, embedded=server)
    finally:
        _stop_quietly(server)


def _stop_quietly(server: EmbeddedPostgres | EmbeddedRedis) -> None:
    try:
        server.stop()
    except Exception:
        server.kill()


# --- real server processes --------------------------------------------------------------------
ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """`server_factory(env=None, app=DEFAULT_APP, workers=1, extra_args=(), **kw)` starts a
    Granian process (waits for /healthz) and returns its `ServerProcess`; all are stopped at
    teardown."""
    started: list[ServerProcess] = []

    def factory(
        env: Mapping[str, str] | None = None,
        app: str = DEFAULT_APP,
        workers: int = 1,
        extra_args: Sequence[str] = (),
        **kwargs: object,
    ) -> ServerProcess:
        log_path = tmp_path / f"server-{len(started)}.log"
        srv = ServerProcess(
            env=env,
            app=app,
            workers=workers,
            extra_args=extra_args,
            log_path=log_path,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(srv)
        return srv.start()

    try:
        yield factory
    finally:
        for srv in reversed(started):
            srv.stop()
