"""GET /v1/leads/{lead_id} and GET /v1/leads: reading leads back (`read` scope)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg.rows import dict_row

from lead2inbound._core import InvalidPhone, normalize
from lead2inbound.contract.problems import not_found
from lead2inbound.contract.schemas import LeadList, StoredLead
from lead2inbound.dialing.leads import lead_json
from lead2inbound.store.queries import sql
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, query
from lead2inbound.web.resources.common import (
    LEAD_ID,
    bad,
    int_param,
    lead_uuid,
    text_param,
    time_param,
)

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

STATUSES_MAX = 64

LIST_LEADS = Op(
    summary="List leads",
    description="The caller's leads, newest first, filtered and paged (keyset: pass "
    "`next_cursor` as `starting_after`). Sandbox leads are listed too (`sandbox`).",
    scope="read",
    parameters=(
        query(
            "limit",
            "Page size (1-100, default 10).",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        ),
        query(
            "status",
            "Only leads with this status (`new`, `ineligible`, `pending_scrub`, `dialing` or a "
            "dial outcome).",
            {"type": "string", "maxLength": STATUSES_MAX},
        ),
        query("source", "Only leads with this `source`."),
        query(
            "phone",
            "Only leads for this phone (any format; normalized like a lead's). Not a possible "
            "number: 422 (`invalid_phone`).",
        ),
        query(
            "created_after",
            "Only leads created after this RFC 3339 date-time (with an offset).",
            {"type": "string", "format": "date-time"},
        ),
        query(
            "created_before",
            "Only leads created before this RFC 3339 date-time (with an offset).",
            {"type": "string", "format": "date-time"},
        ),
        query(
            "starting_after",
            "The `next_cursor` of the previous page, or a lead id of this org: the page starts "
            "after it. Anything else is a 422.",
        ),
    ),
    responses=(Resp(200, "A page of leads.", LeadList),),
    errors=(422,),
    notes=((422, "A query parameter is invalid: `errors` names it."),),
    tags=("leads",),
)


class LeadResource:
    """GET /v1/leads/{lead_id}: the full stored lead; another org's lead is a 404."""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Read a lead back",
            description="The full stored lead: fields as posted, the decision trace, its "
            "queue and lease state.",
            scope="read",
            parameters=(LEAD_ID,),
            responses=(Resp(200, "The lead.", StoredLead),),
            errors=(404, 405),
            notes=(
                (
                    405,
                    "`batch` and `import` are not lead ids: `/v1/leads/batch` and "
                    "`/v1/leads/import` take POST only.",
                ),
            ),
            tags=("leads",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "read")
        row = await read_lead(self.s, principal.org_id, lead_id)
        if row is None:
            raise not_found("lead")
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))


async def read_lead(s: Services, org_id: str, lead_id: str) -> dict[str, Any] | None:
    """One lead of `org_id` as stored (with its queue entry), or None: another org's lead is
    no lead. A malformed id is a 422 (`lead_uuid`)."""
    lead = lead_uuid(lead_id)
    async with s.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql("lead_get"), {"org": org_id, "lead": lead})
        return await cur.fetchone()


async def page_position(s: Services, org_id: str, raw: str | None) -> tuple[Any, Any]:
    """(created_at, lead_id) to resume after: from a signed cursor, or a plain lead id of the
    caller's org (Stripe style). A tampered, foreign or unknown one is a 422."""
    if raw is None or raw == "":
        return None, None
    parts = s.cursors.verify(org_id, "leads", raw)
    if parts is not None and len(parts) == 2:
        try:
            return datetime.fromisoformat(parts[0]), parts[1]
        except ValueError:
            pass
    else:
        try:
            lead = lead_uuid(raw)
        except Exception:
            lead = None
        if lead is not None:
            async with s.pool.connection() as conn:
                cur = await conn.execute(sql("lead_position"), {"org": org_id, "lead": lead})
                row = await cur.fetchone()
            if row is not None:
                return row[0], str(row[1])
    raise bad("starting_after", "starting_after is not a cursor or lead id from this listing")


async def list_leads(s: Services, req: Any, org_id: str) -> dict[str, Any]:
    limit = int_param(req, "limit", 10, 1, 100)
    status = text_param(req, "status")
    if status is not None and len(status) > STATUSES_MAX:
        raise bad("status", "unknown status")
    source = text_param(req, "source")
    phone = text_param(req, "phone")
    if phone is not None:
        try:
            phone = normalize(phone).e164
        except InvalidPhone:
            raise bad("phone", "phone is not a possible phone number", "invalid_phone") from None
    after, before = time_param(req, "created_after"), time_param(req, "created_before")
    c_at, c_id = await page_position(s, org_id, text_param(req, "starting_after"))
    params = {"org": org_id, "status": status, "source": source, "phone": phone,
              "after": after, "before": before, "c_at": c_at, "c_id": c_id,
              "limit": limit + 1}  # fmt: skip
    async with s.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql("leads_list"), params)
        rows = await cur.fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    now = s.clock()
    data = [lead_json(r, now, s.enforce_hours) for r in rows]
    cursor = None
    if has_more:
        last = rows[-1]
        cursor = s.cursors.sign(
            org_id, "leads", (last["created_at"].isoformat(), str(last["lead_id"]))
        )
    return {"data": data, "has_more": has_more, "next_cursor": cursor}
