"""GET /v1/leads/{lead_id} and GET /v1/leads: reading leads back (`read` scope); PATCH
/v1/leads/{lead_id}: correcting one (`write` scope, intake/corrections.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from psycopg.rows import dict_row

from lead2inbound._core import InvalidPhone, normalize
from lead2inbound.contract.problems import ProblemError, not_found
from lead2inbound.contract.schemas import LeadList, StoredLead
from lead2inbound.dialing.leads import lead_json
from lead2inbound.intake.corrections import EDITABLE, etag, patch_lead
from lead2inbound.store.queries import sql
from lead2inbound.web.http import JSON, media_type, read_body, send_json
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
MERGE_PATCH = "application/merge-patch+json"
_json_any = msgspec.json.Decoder()

# The filters the listing and the export share.
FILTERS = (
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
)

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
        *FILTERS,
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
            responses=(Resp(200, "The lead.", StoredLead, headers=("ETag",)),),
            errors=(404, 405),
            notes=(
                (
                    405,
                    "`batch` and `import` are not lead ids: `/v1/leads/batch` and "
                    "`/v1/leads/import` take POST only.",
                ),
            ),
            tags=("leads",),
        ),
        "patch": Op(
            summary="Correct a lead",
            description="A JSON Merge Patch (RFC 7396) of the poster's fields: "
            + ", ".join(f"`{n}`" for n in EDITABLE)
            + ". `null` deletes a field; objects (consent, attribution, custom_fields) merge "
            "member by member. The merged lead is validated exactly as `POST /v1/leads` "
            "validates one. The phone cannot change (422 naming `phone`). A consent change "
            "decides the lead again (consent gate, suppression list; into or out of the dial "
            "queue); a state change recomputes its calling window. Send the `ETag` of your last "
            "read as `If-Match` to refuse a change made meanwhile (412). See docs/api.md.",
            scope="write",
            parameters=(
                LEAD_ID,
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "description": "The lead's `ETag` as last read; any other is a 412.",
                    "schema": {"type": "string"},
                },
            ),
            raw_body=(
                MERGE_PATCH,
                {
                    "type": "object",
                    "description": "Fields of `LeadIn` (except `phone`) to set; `null` deletes.",
                    "properties": {n: {} for n in EDITABLE},
                    "additionalProperties": False,
                },
            ),
            responses=(Resp(200, "The lead as changed.", StoredLead, headers=("ETag",)),),
            errors=(400, 404, 405, 409, 412, 413, 415, 422),
            notes=(
                (405, "`batch`, `import` and `export` are not lead ids."),
                (
                    409,
                    "The lead is being dialed, has a dial outcome, or was erased: `lead_locked`.",
                ),
                (
                    422,
                    "The patch or the merged lead is invalid (`errors` names each field, as "
                    "for `POST /v1/leads`); `phone` is named with code `immutable`.",
                ),
            ),
            tags=("leads",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "read")
        row = await read_lead(self.s, principal.org_id, lead_id)
        if row is None:
            raise not_found("lead")
        resp.set_header("ETag", etag(row["updated_at"]))
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))

    async def on_patch(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "write")
        lead = lead_uuid(lead_id)
        kind, _ = media_type(req)
        if kind not in (MERGE_PATCH, JSON):
            raise ProblemError(
                "unsupported_media_type", f"Content-Type must be {MERGE_PATCH} (or {JSON})."
            )
        body = await read_body(req, self.s.config.max_body_bytes)
        try:
            patch = _json_any.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ProblemError("bad_request", f"The body is not valid JSON: {exc}.") from None
        async with self.s.pool.connection() as conn, conn.transaction():
            row, _changed = await patch_lead(
                conn,
                principal.org_id,
                lead,
                patch,
                if_match=req.get_header("If-Match"),
                consent_skew_s=self.s.config.consent_clock_skew_s,
            )
        resp.set_header("ETag", etag(row["updated_at"]))
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


def lead_filters(req: Any, org_id: str) -> dict[str, Any]:
    """The filters `GET /v1/leads` and its export share, from the query (422 naming a bad
    one)."""
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
    return {
        "org": org_id,
        "status": status,
        "source": source,
        "phone": phone,
        "after": after,
        "before": before,
    }


async def list_leads(s: Services, req: Any, org_id: str) -> dict[str, Any]:
    limit = int_param(req, "limit", 10, 1, 100)
    filters = lead_filters(req, org_id)
    c_at, c_id = await page_position(s, org_id, text_param(req, "starting_after"))
    params = {**filters, "c_at": c_at, "c_id": c_id, "limit": limit + 1}
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
