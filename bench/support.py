"""What the bench scripts that start their own stores share (bench_export, bench_import,
bench_retention): an embedded Postgres (not durable) and Redis, migrated, with one org and one
key; leads stored by one SQL statement; the service's environment for a Granian server.

    with seeded_stack(["read"]) as seeded:
        took = store_leads(seeded, LEADS, 1_000_000)
        with ServerProcess(env=seeded.env(L2I_WORKERS="1"), ...) as server:
            ...
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from lead2inbound.access.keystore import create_key, create_org
from lead2inbound.ops.embedded import EmbeddedStack
from lead2inbound.store.migrate import migrate

PEPPER = "bench-pepper"


@dataclass
class Seeded:
    tmp: Path  # a scratch folder removed with the stack (server logs go here)
    stack: EmbeddedStack
    org: str
    key: str  # the org's key, with the scopes asked for and a limit no bench reaches

    def env(self, **extra: str) -> dict[str, str]:
        """The service's environment against these stores, plus `extra`."""
        return {
            "L2I_DATABASE_URL": self.stack.database_url,
            "L2I_REDIS_URL": self.stack.redis_url,
            "L2I_KEY_PEPPER": PEPPER,
            "L2I_LOG_LEVEL": "warning",
            **extra,
        }


@contextmanager
def seeded_stack(scopes: list[str]) -> Iterator[Seeded]:
    """Embedded stores, migrated, with an org ("bench") and a key of `scopes`."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedStack(Path(tmp) / "stores", durable=False, persistent_redis=False) as stack,
    ):
        migrate(stack.database_url)
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            org = create_org(conn, "bench")
            key, _ = create_key(
                conn,
                org_id=org,
                name="bench",
                scopes=scopes,
                pepper=PEPPER.encode(),
                rate_limit=1_000_000,
            )
        yield Seeded(Path(tmp), stack, org, key)


def store_leads(seeded: Seeded, insert: str, n: int) -> float:
    """Runs `insert` (one statement taking the org id and `n`, e.g. over generate_series), then
    VACUUM ANALYZE leads; the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(seeded.stack.database_url, autocommit=True) as conn:
        conn.execute(insert.encode(), (seeded.org, n))
        conn.execute("VACUUM ANALYZE leads")
    return time.perf_counter() - started
