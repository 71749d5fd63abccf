"""Forward-only schema migrations: numbered SQL files applied in order, each in its own transaction.

The applied versions live in `l2i_schema_migrations`. An advisory lock serialises concurrent
migrators (several nodes starting at once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

_LOCK_ID = 0x6C3269  # "l2i"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("lead2inbound.store.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda mig: mig.version)


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS l2i_schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def applied(conn: psycopg.Connection) -> set[int]:
    exists = conn.execute("SELECT to_regclass('l2i_schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM l2i_schema_migrations")}


def pending(url: str) -> list[Migration]:
    """Migrations not yet applied to the database at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        done = applied(conn)
    return [m for m in available() if m.version not in done]


def migrate(url: str) -> list[Migration]:
    """Apply every pending migration; returns what was applied."""
    ran: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            _ensure_table(conn)
            done = applied(conn)
            for mig in available():
                if mig.version in done:
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO l2i_schema_migrations (version, name) VALUES (%s, %s)",
                        (mig.version, mig.name),
                    )
                ran.append(mig)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return ran
