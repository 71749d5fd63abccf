"""The event log: recording events inside the transaction of the change they record.

A transactional outbox (docs/events.md): an event row is written by the same transaction as its
change, so it exists if and only if the change committed. Every layer that changes something
(intake's writer, dialing, the DNC re-scrubber, suppressions, sources) records here, in its own
transaction; the delivery worker and the stream read the log (`events_list_after.sql`) higher up.

The recording API (stable; other branches call it):

- `await record(conn, *, org_id, type, data, lead_id=None, request_id=None, sandbox=False)`:
  one event; `data` is any JSON-able object (the object concerned). Returns the event id.
- `await record_many(conn, [Event(...), ...])`: several, one multi-row insert.
- `await record_leads(conn, type, [LeadEvent(org_id, lead_id, extra=None), ...])`: one event per
  lead whose `data` is the lead as `GET /v1/leads/{id}` shows it *now*, read in the caller's
  transaction (call it after the change), merged with `extra` (e.g. `{"outcome": ...}`); the
  event's `sandbox` is the lead's. One statement.
- `record_sync`, `record_many_sync`, `record_leads_sync`: the same on a synchronous psycopg
  connection (the command line).

`conn` is a psycopg connection inside the caller's transaction (or in autocommit, where the one
statement is its own transaction). `request_id` defaults to the request being served
(`REQUEST_ID`, set by the web middleware), so callers rarely pass it. Every insert also sends
`NOTIFY l2i_events, '<org ids>'` (delivered on commit only) so streams and the delivery worker
wake at once; the log stays the truth.

Each event: `id` (UUIDv7), `type`, `org`, `created_at`, `sandbox`, `lead_id`, `request_id`,
`data` (see `event_json`). Types are listed in `TYPES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from lead2inbound.store.queries import sql

CHANNEL = "l2i_events"  # NOTIFY channel; payload: comma-separated org ids, or "*"

# Every event type, with what causes it (docs/events.md has an example of each).
TYPES: dict[str, str] = {
    "lead.created": "a lead was stored (status, eligible, reasons, checks)",
    "lead.duplicate": "a post matched an existing lead (data: that lead, and the post)",
    "lead.queued": "a lead entered the dial queue",
    "lead.held": "a lead was stored or became ineligible (reasons say why)",
    "lead.claimed": "a dialer leased the lead",
    "lead.released": "a lease ended without an outcome (released, or expired)",
    "lead.attempted": "a dialer reported a call attempt (data.attempt_no, result, at, ...)",
    "lead.completed": "a dialer reported the outcome",
    "lead.suppressed": "an opt-out took the lead out of the dial queue",
    "lead.dnc_scrubbed": "a DNC re-scrub answered (checks.dnc)",
    "lead.consent_added": "a duplicate post gave a lead held for consent its consent",
    "lead.requeued": "a re-post by a requeue_duplicates key or source put the lead back",
    "lead.updated": "a PATCH changed the lead (data.changed: the field names)",
    "lead.erased": "an erasure removed the lead's personal data (its events were scrubbed)",
    "suppression.added": "a number was added to the suppression list",
    "suppression.removed": "a number was removed from the suppression list",
    "source.lead_failed": "a signed vendor post was refused (the problem code)",
    "webhook_endpoint.disabled": "an endpoint was disabled (410 Gone, or failing 5 days)",
}

# The request being served, for events' request_id (set per request by the web middleware).
REQUEST_ID: ContextVar[str | None] = ContextVar("l2i_request_id", default=None)

_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Event:
    org_id: str
    type: str
    data: Any
    lead_id: str | None = None
    request_id: str | None = None
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class LeadEvent:
    org_id: str
    lead_id: str
    extra: dict[str, Any] | None = None
    request_id: str | None = None  # else record_leads' request_id, else the request served


def _columns(events: Sequence[Event]) -> tuple[list[Any], ...]:
    rid = REQUEST_ID.get()
    return (
        [e.org_id for e in events],
        [e.type for e in events],
        [e.sandbox for e in events],
        [e.lead_id for e in events],
        [e.request_id or rid for e in events],
        [_json.encode(e.data).decode() for e in events],
    )


async def record(
    conn: Any,
    *,
    org_id: str,
    type: str,
    data: Any,
    lead_id: str | None = None,
    request_id: str | None = None,
    sandbox: bool = False,
) -> str:
    """Record one event in the caller's transaction; returns its id."""
    cur = await conn.execute(
        sql("events_record"),
        _columns([Event(org_id, type, data, lead_id, request_id, sandbox)]),
    )
    row = await cur.fetchone()
    return str(row[0])


async def record_many(conn: Any, events: Sequence[Event]) -> None:
    """Record several events in one multi-row insert, in the given order."""
    if events:
        await conn.execute(sql("events_record"), _columns(events))


async def record_leads(
    conn: Any, type: str, leads: Sequence[LeadEvent], *, request_id: str | None = None
) -> None:
    """One `type` event per lead, its data the lead as stored now (plus `extra`)."""
    if leads:
        await conn.execute(sql("events_record_leads"), _lead_params(type, leads, request_id))


def _lead_params(type: str, leads: Sequence[LeadEvent], request_id: str | None) -> dict[str, Any]:
    return {
        "type": type,
        "org": [e.org_id for e in leads],
        "lead": [e.lead_id for e in leads],
        "extra": [None if e.extra is None else _json.encode(e.extra).decode() for e in leads],
        "rid": [e.request_id for e in leads],
        "request_id": request_id or REQUEST_ID.get(),
    }


def record_sync(
    conn: Any,
    *,
    org_id: str,
    type: str,
    data: Any,
    lead_id: str | None = None,
    request_id: str | None = None,
    sandbox: bool = False,
) -> str:
    """`record` on a synchronous connection."""
    row = conn.execute(
        sql("events_record"),
        _columns([Event(org_id, type, data, lead_id, request_id, sandbox)]),
    ).fetchone()
    return str(row[0])


def record_many_sync(conn: Any, events: Sequence[Event]) -> None:
    if events:
        conn.execute(sql("events_record"), _columns(events))


def record_leads_sync(
    conn: Any, type: str, leads: Sequence[LeadEvent], *, request_id: str | None = None
) -> None:
    if leads:
        conn.execute(sql("events_record_leads"), _lead_params(type, leads, request_id))


async def read_after(
    conn: Any,
    org_id: str,
    sandbox: bool,
    position: tuple[Any, int] | None,
    limit: int,
    *,
    type: str | None = None,
    prefix: str | None = None,
    lead_id: str | None = None,
) -> list[dict[str, Any]]:
    """Events of the org and mode after `position` ((xact, seq), None: from the start), oldest
    first, below the log's horizon: no event that commits later can appear before them, so a
    cursor never skips one. Rows as dicts (`event_json` shows one)."""
    c_xact, c_seq = position if position is not None else (None, None)
    params = {"org": org_id, "sandbox": sandbox, "c_xact": c_xact, "c_seq": c_seq,
              "limit": limit, "type": type, "prefix": prefix, "lead": lead_id}  # fmt: skip
    # planned each time: the filters are optional, and a generic plan would pick one index
    cur = await conn.execute(sql("events_list_after"), params, prepare=False)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def horizon(conn: Any) -> tuple[Any, int]:
    """The position just before every event not yet safely readable: a stream that starts
    "now" reads after it."""
    cur = await conn.execute(sql("event_horizon"))
    row = await cur.fetchone()
    return (row[0], 0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    """An event as the API shows it, from a row of `events` (columns by name)."""
    lead = row.get("lead_id")
    return {
        "id": str(row["event_id"]),
        "type": row["type"],
        "org": str(row["org_id"]),
        "created_at": _iso(row["created_at"]),
        "sandbox": row["sandbox"],
        "lead_id": None if lead is None else str(lead),
        "request_id": row.get("request_id"),
        "data": row["data"],
    }
