"""GET /v1/events and GET /v1/leads/{lead_id}/events: reading the event log (`read` scope).

A key sees its own mode's events only (a test key the sandbox's, a live key the live ones), like
Stripe's test and live modes; a lead's history is the lead's own (its events carry its mode).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from psycopg.rows import dict_row

from lead2inbound.contract.problems import not_found
from lead2inbound.contract.schemas import EventList
from lead2inbound.store import events
from lead2inbound.store.events import event_json
from lead2inbound.store.queries import sql
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, query
from lead2inbound.web.resources.common import (
    LEAD_ID,
    bad,
    int_param,
    lead_uuid,
    one_param,
    text_param,
)

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

# An exact type (`lead.created`) or a prefix (`lead.` or `lead.*`).
_TYPE = re.compile(r"^[a-z][a-z_]{0,30}(\.[a-z][a-z_]{0,30})?$")
_PREFIX = re.compile(r"^[a-z][a-z_]{0,30}\.\*?$")

TYPE_PARAM = query(
    "type",
    "Only events of this type (`lead.created`), or of a family (`lead.` or `lead.*`).",
    {"type": "string", "maxLength": 64},
)
LEAD_PARAM = query("lead_id", "Only the events of this lead.", {"type": "string", "format": "uuid"})
AFTER_PARAM = query(
    "after",
    "An event id (or the previous page's `next_cursor` in this mode): the page holds the events "
    "that follow it, oldest first. Without it the page is newest first.",
)


@dataclass(frozen=True, slots=True)
class Filters:
    """What a listing or a stream keeps: a type or type prefix, a lead."""

    type: str | None = None
    prefix: str | None = None
    lead_id: str | None = None

    def params(self) -> dict[str, Any]:
        return {"type": self.type, "prefix": self.prefix, "lead": self.lead_id}


def filters_of(req: Any) -> Filters:
    kind = text_param(req, "type")
    exact = prefix = None
    if kind is not None:
        if _PREFIX.match(kind):
            prefix = kind.rstrip("*")
        elif _TYPE.match(kind):
            exact = kind
        else:
            raise bad("type", "type must be an event type (lead.created) or a prefix (lead.*)")
    lead = one_param(req, "lead_id")
    if lead is not None:
        try:
            lead = str(uuid.UUID(lead))
        except ValueError:
            raise bad("lead_id", "lead_id must be a lead id") from None
    return Filters(exact, prefix, lead)


async def position_of(s: Services, org_id: str, sandbox: bool, raw: str, name: str) -> Any:
    """(xact, seq) of an event id of the caller's org and mode; anything else is a 422."""
    try:
        event = str(uuid.UUID(raw))
    except ValueError:
        event = None
    if event is not None:
        async with s.pool.connection() as conn:
            cur = await conn.execute(
                sql("event_position"), {"org": org_id, "sandbox": sandbox, "event": event}
            )
            row = await cur.fetchone()
        if row is not None:
            return row[0], row[1]
    raise bad(name, f"{name} is not an event id of this org")


async def read_after(
    s: Services,
    org_id: str,
    sandbox: bool,
    filters: Filters,
    position: Any,
    limit: int,
) -> list[dict[str, Any]]:
    async with s.pool.connection() as conn:
        return await events.read_after(
            conn, org_id, sandbox, position, limit,
            type=filters.type, prefix=filters.prefix, lead_id=filters.lead_id,
        )  # fmt: skip


LIST_EVENTS = Op(
    summary="List events",
    description="The org's event log (docs/events.md) in the key's mode: newest first, or "
    "with `after` oldest first from an event on (a poller's cursor: nothing is skipped, even an "
    "event whose transaction commits late). Filter by `type` (or a `lead.` prefix) and "
    "`lead_id`.",
    scope="read",
    parameters=(
        query(
            "limit",
            "Page size (1-100, default 10).",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        ),
        TYPE_PARAM,
        LEAD_PARAM,
        AFTER_PARAM,
        query(
            "starting_after",
            "Newest-first paging: the `next_cursor` of the previous page, or an event id.",
        ),
    ),
    responses=(Resp(200, "A page of events.", EventList),),
    errors=(422,),
    notes=((422, "A query parameter is invalid: `errors` names it."),),
    tags=("events",),
)


class EventsResource:
    """GET /v1/events"""

    openapi: ClassVar[dict[str, Op]] = {"get": LIST_EVENTS}

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "read")
        org, sandbox = principal.org_id, principal.sandbox
        limit = int_param(req, "limit", 10, 1, 100)
        filters = filters_of(req)
        after = text_param(req, "after")
        starting = text_param(req, "starting_after")
        if after is not None and starting is not None:
            raise bad("after", "give after or starting_after, not both")
        if after is not None:
            position = await position_of(self.s, org, sandbox, after, "after")
            rows = await read_after(self.s, org, sandbox, filters, position, limit + 1)
            has_more = len(rows) > limit
            rows = rows[:limit]
            cursor = str(rows[-1]["event_id"]) if rows else after
            send_json(
                resp,
                200,
                {"data": [event_json(r) for r in rows], "has_more": has_more,
                 "next_cursor": cursor},
            )  # fmt: skip
            return
        c_xact = c_seq = None
        if starting is not None:
            parts = self.s.cursors.verify(org, "events", starting)
            if parts is not None and len(parts) == 3 and parts[2] == str(sandbox):
                c_xact, c_seq = parts[0], int(parts[1])
            else:
                c_xact, c_seq = await position_of(self.s, org, sandbox, starting, "starting_after")
        params = {"org": org, "sandbox": sandbox, "c_xact": c_xact, "c_seq": c_seq,
                  "limit": limit + 1, **filters.params()}  # fmt: skip
        async with self.s.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql("events_list"), params, prepare=False)
            rows = await cur.fetchall()
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if has_more:
            last = rows[-1]
            next_cursor = self.s.cursors.sign(
                org, "events", (str(last["xact"]), str(last["seq"]), str(sandbox))
            )
        send_json(
            resp,
            200,
            {"data": [event_json(r) for r in rows], "has_more": has_more,
             "next_cursor": next_cursor},
        )  # fmt: skip


class LeadEventsResource:
    """GET /v1/leads/{lead_id}/events: the lead's history, oldest first."""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="A lead's history",
            description="Every event of the lead, oldest first: when it arrived, what each gate "
            "said, who claimed it, how it ended (the audit trail). Paged with `after` (pass "
            "`next_cursor`).",
            scope="read",
            parameters=(
                LEAD_ID,
                query(
                    "limit",
                    "Page size (1-1000, default 100).",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                ),
                AFTER_PARAM,
            ),
            responses=(Resp(200, "The lead's events.", EventList),),
            errors=(404, 422),
            notes=(
                (404, "No such lead in the caller's org."),
                (422, "A query parameter is invalid: `errors` names it."),
            ),
            tags=("events",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "read")
        lead = lead_uuid(lead_id)
        org = principal.org_id
        limit = int_param(req, "limit", 100, 1, 1000)
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(sql("lead_mode"), {"org": org, "lead": lead})
            found = await cur.fetchone()
        if found is None:
            raise not_found("lead")
        sandbox = found[0]
        after = text_param(req, "after")
        position = await position_of(self.s, org, sandbox, after, "after") if after else None
        rows = await read_after(self.s, org, sandbox, Filters(lead_id=lead), position, limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        send_json(
            resp,
            200,
            {
                "data": [event_json(r) for r in rows],
                "has_more": has_more,
                "next_cursor": str(rows[-1]["event_id"]) if has_more else None,
            },
        )


ALIVE_CHECK_S = 2.0  # how often a stream with an `alive` check asks it
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
# After a wake-up that found nothing (the event's transaction is committed but an older one is
# still in flight, so the log's horizon holds it back), look again after these pauses.
_RECHECK_S = (0.02, 0.05, 0.1, 0.25, 0.5)
_PAGE = 200


def sse(row: dict[str, Any]) -> bytes:
    """One event as Server-Sent Events: its id (for Last-Event-ID), its type, its JSON."""
    body = _json.encode(event_json(row)).decode()
    return f"id: {row['event_id']}\nevent: {row['type']}\ndata: {body}\n\n".encode()


_json = msgspec.json.Encoder()


class EventStreamResource:
    """GET /v1/events/stream: the log live, as Server-Sent Events."""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Stream events live",
            description="The org's events of the key's mode as Server-Sent Events "
            "(`text/event-stream`): `id:` (the event id), `event:` (its type), `data:` (the "
            "event as `GET /v1/events` shows it). Starts with what happens from now on, or "
            "after the `Last-Event-ID` header (or `after`): a client that reconnects with the "
            "last id it saw gets exactly what it missed, in order, from the log. A comment line "
            f"every {int(HEARTBEAT_S)} s keeps proxies from closing it. Same filters as "
            "`GET /v1/events`. Works across workers and nodes (Postgres LISTEN/NOTIFY wakes "
            "every stream; the log is the truth).",
            scope="read",
            parameters=(TYPE_PARAM, LEAD_PARAM, AFTER_PARAM),
            responses=(
                Resp(
                    200,
                    "The stream (it does not end until the client or the server closes it).",
                    media="text/event-stream",
                    raw_schema={"type": "string"},
                ),
            ),
            errors=(422,),
            notes=((422, "A query parameter or Last-Event-ID is not valid: `errors` names it."),),
            tags=("events",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "read")
        await serve_stream(self.s, req, resp, principal.org_id, principal.sandbox)


async def serve_stream(
    s: Services,
    req: Any,
    resp: Any,
    org: str,
    sandbox: bool,
    alive: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Answer `req` with the org's events of one mode as Server-Sent Events, from now on or
    after its Last-Event-ID (or `after`): the API's stream and the console's (its session's
    org) both come here. `alive`: asked every ALIVE_CHECK_S while the stream is open; the
    stream ends when it answers False (the console's session signed out or expired)."""
    filters = filters_of(req)
    last = req.get_header("Last-Event-ID") or text_param(req, "after")
    if last:
        position = await position_of(s, org, sandbox, last.strip(), "Last-Event-ID")
    else:
        async with s.pool.connection() as conn:
            position = await events.horizon(conn)
    resp.status = 200
    resp.content_type = "text/event-stream"
    resp.set_header("Cache-Control", "no-cache")
    resp.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
    resp.stream = _events(s, org, sandbox, filters, position, alive)


async def _events(
    s: Services,
    org: str,
    sandbox: bool,
    filters: Filters,
    position: Any,
    alive: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[bytes]:
    hub = s.streams
    wake = hub.join(org)
    try:
        yield b": connected\n\n"
        idle_since = time.monotonic()
        checked = time.monotonic()
        woken = True
        while not hub.closing.is_set():
            if alive is not None and time.monotonic() - checked >= ALIVE_CHECK_S:
                checked = time.monotonic()
                if not await alive():
                    return
            rows = await read_after(s, org, sandbox, filters, position, _PAGE)
            for pause in _RECHECK_S if woken and not rows else ():
                await asyncio.sleep(pause)
                rows = await read_after(s, org, sandbox, filters, position, _PAGE)
                if rows:
                    break
            if rows:
                position = (rows[-1]["xact"], rows[-1]["seq"])
                yield b"".join(sse(r) for r in rows)
                idle_since = time.monotonic()
                if len(rows) == _PAGE:
                    continue
            wake.clear()
            left = HEARTBEAT_S - (time.monotonic() - idle_since)
            try:
                most = ALIVE_CHECK_S if alive is not None else 5.0
                await asyncio.wait_for(wake.wait(), max(0.05, min(left, most)))
                woken = True
            except TimeoutError:
                woken = False  # a poll now and then: the log is the truth
            if time.monotonic() - idle_since >= HEARTBEAT_S:
                yield b": heartbeat\n\n"
                idle_since = time.monotonic()
    finally:
        hub.leave(org, wake)
