"""The org's suppression list (opt-outs): add, take queued leads out, list, check, remove.

Adding numbers and taking the org's waiting leads for them out of the dial queue happen in one
transaction (`add`), so a suppression takes effect at once; the writer's statement checks the
list for every later lead, and the claim query excludes suppressed numbers as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, Connection

from lead2inbound.store.queries import sql

CHANNEL = "l2i:suppressions"  # broadcast: "<org_id> <phone> <phone> ..." or "<org_id> *"

# Seconds after a suppression's commit when its numbers are taken out of the queue once more: a
# lead whose writer statement ran alongside the suppression saw no suppression, and the
# suppression's dequeue did not see the lead (each snapshot predates the other's commit). By
# then the writer transactions of that moment have committed.
RECHECK_AFTER_S = 3.0

# A bulk import at least this large is followed by an ANALYZE of the table: the writer's prepared
# statement may hold a plan made while the list was small (a hashed sub-plan: the whole list
# scanned per batch), kept until autovacuum's next ANALYZE (up to its naptime, a minute, later).
# ANALYZE updates the statistics and invalidates every session's cached plans on the table.
ANALYZE_AFTER_ROWS = 1_000


async def add(
    conn: AsyncConnection, org_id: str, phones: list[str], reason: str | None, *, now: datetime
) -> list[str]:
    """Add E.164 numbers; returns the newly added ones. Call inside a transaction."""
    return (await add_and_dequeue(conn, org_id, phones, reason, now=now))[0]


async def add_and_dequeue(
    conn: AsyncConnection, org_id: str, phones: list[str], reason: str | None, *, now: datetime
) -> tuple[list[str], list[str]]:
    """Add E.164 numbers: (the newly added ones, the ids of the queued leads they took out of
    the dial queue). Call inside a transaction."""
    cur = await conn.execute(
        sql("suppressions_add"), {"org": org_id, "phones": phones, "reason": reason}
    )
    added = [r[0] for r in await cur.fetchall()]
    return added, await dequeue(conn, org_id, phones, now=now)


async def dequeue(
    conn: AsyncConnection, org_id: str, phones: list[str], *, now: datetime
) -> list[str]:
    cur = await conn.execute(
        sql("suppressions_dequeue"), {"org": org_id, "phones": phones, "now": now}
    )
    return [str(r[0]) for r in await cur.fetchall()]


def dequeue_sync(conn: Connection, org_id: str, phones: list[str], now: datetime) -> list[str]:
    rows = conn.execute(
        sql("suppressions_dequeue"), {"org": org_id, "phones": phones, "now": now}
    ).fetchall()
    return [str(r[0]) for r in rows]


def import_numbers(
    conn: Connection, org_id: str, phones: list[str], reason: str | None, now: datetime
) -> tuple[int, int]:
    """Bulk add (the CLI): COPY into a temp table, then one INSERT ... SELECT, then take the
    org's queued leads for them out, all in the caller's one transaction.
    Returns (added, dequeued)."""
    conn.execute("CREATE TEMP TABLE l2i_import (phone text) ON COMMIT DROP")
    with conn.cursor().copy("COPY l2i_import (phone) FROM STDIN") as copy:
        for phone in phones:
            copy.write_row((phone,))
    added = conn.execute(
        "INSERT INTO suppressions (org_id, phone, reason)"
        " SELECT DISTINCT %s::uuid, phone, %s FROM l2i_import"
        " ON CONFLICT (org_id, phone) DO NOTHING",
        (org_id, reason),
    ).rowcount
    return added, len(dequeue_sync(conn, org_id, phones, now))


def analyze_after_import(conn: Connection, added: int) -> bool:
    """ANALYZE the list after a bulk import of `ANALYZE_AFTER_ROWS` or more (see above)."""
    if added < ANALYZE_AFTER_ROWS:
        return False
    conn.execute("ANALYZE suppressions")
    return True


def row_json(row: Any) -> dict[str, Any]:
    phone, reason, created_at = row
    return {"phone": phone, "reason": reason, "created_at": created_at.isoformat()}
