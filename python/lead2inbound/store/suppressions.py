"""The org's suppression list (opt-outs): add, take queued leads out, list, check, remove.

Adding numbers and taking the org's waiting leads for them out of the dial queue happen in one
transaction (`add`), so a suppression takes effect at once; the writer's statement checks the
list for every later lead, and the claim query excludes suppressed numbers as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, Connection

from lead2inbound.store import events
from lead2inbound.store.events import Event, LeadEvent
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


def _added_events(org_id: str, phones: list[str], reason: str | None, sandbox: bool) -> list[Event]:
    return [
        Event(org_id, "suppression.added", {"phone": p, "reason": reason}, sandbox=sandbox)
        for p in phones
    ]


async def add(
    conn: AsyncConnection,
    org_id: str,
    phones: list[str],
    reason: str | None,
    *,
    now: datetime,
    sandbox: bool = False,
) -> list[str]:
    """Add E.164 numbers; returns the newly added ones. Call inside a transaction. Records
    suppression.added per new number (`sandbox`: the caller's key's mode) and lead.suppressed
    per lead taken out of the queue."""
    cur = await conn.execute(
        sql("suppressions_add"), {"org": org_id, "phones": phones, "reason": reason}
    )
    added = [r[0] for r in await cur.fetchall()]
    await events.record_many(conn, _added_events(org_id, added, reason, sandbox))
    await dequeue(conn, org_id, phones, now=now)
    return added


async def dequeue(
    conn: AsyncConnection, org_id: str, phones: list[str], *, now: datetime
) -> list[str]:
    """Take the org's waiting leads for these numbers out of the queue (lead.suppressed each)."""
    cur = await conn.execute(
        sql("suppressions_dequeue"), {"org": org_id, "phones": phones, "now": now}
    )
    gone = [str(r[0]) for r in await cur.fetchall()]
    await events.record_leads(conn, "lead.suppressed", [LeadEvent(org_id, g) for g in gone])
    return gone


def dequeue_sync(conn: Connection, org_id: str, phones: list[str], now: datetime) -> list[str]:
    rows = conn.execute(
        sql("suppressions_dequeue"), {"org": org_id, "phones": phones, "now": now}
    ).fetchall()
    gone = [str(r[0]) for r in rows]
    events.record_leads_sync(conn, "lead.suppressed", [LeadEvent(org_id, g) for g in gone])
    return gone


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
    cur = conn.execute(
        "INSERT INTO suppressions (org_id, phone, reason)"
        " SELECT DISTINCT %s::uuid, phone, %s FROM l2i_import"
        " ON CONFLICT (org_id, phone) DO NOTHING RETURNING phone",
        (org_id, reason),
    )
    added = [r[0] for r in cur.fetchall()]
    events.record_many_sync(conn, _added_events(org_id, added, reason, False))
    return len(added), len(dequeue_sync(conn, org_id, phones, now))


def analyze_after_import(conn: Connection, added: int) -> bool:
    """ANALYZE the list after a bulk import of `ANALYZE_AFTER_ROWS` or more (see above)."""
    if added < ANALYZE_AFTER_ROWS:
        return False
    conn.execute("ANALYZE suppressions")
    return True


def row_json(row: Any) -> dict[str, Any]:
    phone, reason, created_at = row
    return {"phone": phone, "reason": reason, "created_at": created_at.isoformat()}
