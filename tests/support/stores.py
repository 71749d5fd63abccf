"""Handles on the Postgres and Redis servers a test run uses: embedded ones we control, or external
ones named by `L2I_TEST_DATABASE_URL` / `L2I_TEST_REDIS_URL`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from lead2inbound.ops.embedded import EmbeddedPostgres, EmbeddedRedis


class NotControllable(RuntimeError):
    """The server is external: the tests cannot stop, restart or kill it (use private_pg/_redis)."""


def with_database(url: str, name: str) -> str:
    """`url` with its database (path) replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class _Controls:
    """Start, stop, restart and kill of the embedded server behind a handle; an external server
    raises NotControllable (the tests that need control ask for a private one)."""

    embedded: EmbeddedPostgres | EmbeddedRedis | None
    _name: ClassVar[str]
    _private_fixture: ClassVar[str]

    @property
    def controllable(self) -> bool:
        return self.embedded is not None

    def _server(self) -> EmbeddedPostgres | EmbeddedRedis:
        if self.embedded is None:
            raise NotControllable(
                f"external {self._name}: ask for the {self._private_fixture} fixture instead"
            )
        return self.embedded

    @property
    def port(self) -> int:
        return self._server().port

    def start(self) -> str:
        return self._server().start()

    def stop(self, mode: str = "fast") -> None:
        self._server().stop(mode)

    def restart(self, mode: str = "fast") -> str:
        return self._server().restart(mode)

    def kill(self) -> None:
        self._server().kill()

    def is_running(self) -> bool:
        return self._server().is_running()


@dataclass
class PostgresHandle(_Controls):
    """`url`: the default database (`l2i` when embedded).

    `admin_url`: a database where we may CREATE / DROP DATABASE (`postgres` when embedded).
    """

    url: str
    admin_url: str
    embedded: EmbeddedPostgres | None = None
    _name: ClassVar[str] = "Postgres"
    _private_fixture: ClassVar[str] = "private_pg"

    def create_database(self, template: str | None = None, prefix: str = "l2i_t_") -> str:
        """Create a uniquely named database (optionally from `template`); returns its URL."""
        name = f"{prefix}{secrets.token_hex(6)}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(query)
        return with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        """DROP ... WITH (FORCE): terminates the database's connections first."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class RedisHandle(_Controls):
    url: str
    embedded: EmbeddedRedis | None = None
    _name: ClassVar[str] = "Redis"
    _private_fixture: ClassVar[str] = "private_redis"

    @property
    def admin_url(self) -> str:
        return self.url
