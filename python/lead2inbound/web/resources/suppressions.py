"""The suppression list: POST (`write`), GET list and GET one (`read`), DELETE (`admin`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from lead2inbound._core import InvalidPhone, normalize, normalize_many
from lead2inbound.contract.problems import not_found, validation
from lead2inbound.contract.schemas import (
    Suppression,
    SuppressionDeleted,
    SuppressionList,
    SuppressionsAdded,
    SuppressionsIn,
)
from lead2inbound.intake.validation import error, phone_detail
from lead2inbound.store import events, suppressions
from lead2inbound.store.queries import sql
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, path, query
from lead2inbound.web.resources.common import bad, decode_body, int_param, text_param

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

MAX_PHONES = 1000
MAX_REASON = 500


def _phone_from_path(raw: str) -> str:
    try:
        return normalize(unquote(raw)).e164
    except InvalidPhone:
        raise not_found("suppression") from None


PHONE = path(
    "phone",
    "The number in any format (URL-encode `+` as `%2B`); normalized like a lead's phone. A "
    "number that is not possible is simply not found (404).",
)


class SuppressionsResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Suppress numbers",
            description="Adds numbers to the org's suppression list; the org's queued leads for "
            "them leave the dial queue in the same transaction, and every later lead for them is "
            "stored ineligible (`suppressed`). Adding a listed number again is harmless.",
            scope="write",
            body=SuppressionsIn,
            responses=(Resp(200, "What was added.", SuppressionsAdded),),
            errors=(400, 413, 415, 422),
            notes=(
                (
                    422,
                    "Validation failed (`errors` names the field), or no number of `phones` is "
                    "possible.",
                ),
            ),
            tags=("suppressions",),
        ),
        "get": Op(
            summary="List suppressed numbers",
            description="The org's suppression list, newest first, paged (pass `next_cursor` as "
            "`starting_after`).",
            scope="read",
            parameters=(
                query(
                    "limit",
                    "Page size (1-100, default 10).",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                ),
                query(
                    "starting_after",
                    "The `next_cursor` of the previous page; anything else is a 422.",
                ),
            ),
            responses=(Resp(200, "A page of numbers.", SuppressionList),),
            errors=(422,),
            notes=((422, "A query parameter is invalid: `errors` names it."),),
            tags=("suppressions",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "write")
        body = await decode_body(req, SuppressionsIn, self.s.config.max_body_bytes)
        if not 1 <= len(body.phones) <= MAX_PHONES:
            raise bad("phones", f"phones must list 1 to {MAX_PHONES} numbers")
        if body.reason is not None and len(body.reason) > MAX_REASON:
            raise bad("reason", f"reason must be at most {MAX_REASON} characters")
        raws = [p if isinstance(p, str) else str(p) for p in body.phones]
        results = normalize_many(raws)
        good: list[str] = []
        errors = []
        for i, (raw, res) in enumerate(zip(raws, results, strict=True)):
            if isinstance(res, InvalidPhone):
                errors.append({"index": i, "phone": raw, "code": "invalid_phone",
                               "detail": phone_detail(res)})  # fmt: skip
            else:
                good.append(res.e164)
        if not good:
            raise validation(
                [error(["phones", str(e["index"])], "invalid_phone", e["detail"]) for e in errors]
            )
        now = self.s.clock()
        async with self.s.pool.connection() as conn, conn.transaction():
            added = await suppressions.add(
                conn, principal.org_id, good, body.reason, now=now, sandbox=principal.sandbox
            )
        await self.s.publish_suppressions(principal.org_id, good)
        fresh = set(added)
        unique = list(dict.fromkeys(good))
        send_json(
            resp,
            200,
            {
                "added": [p for p in unique if p in fresh],
                "already_present": [p for p in unique if p not in fresh],
                "errors": errors,
            },
        )

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "read")
        limit = int_param(req, "limit", 10, 1, 100)
        c_at, c_phone = None, None
        raw = text_param(req, "starting_after")
        if raw:
            parts = self.s.cursors.verify(principal.org_id, "suppressions", raw)
            if parts is None or len(parts) != 2:
                raise bad("starting_after", "starting_after is not a cursor from this listing")
            c_at, c_phone = datetime.fromisoformat(parts[0]), parts[1]
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                sql("suppressions_list"),
                {"org": principal.org_id, "c_at": c_at, "c_phone": c_phone, "limit": limit + 1},
            )
            rows = await cur.fetchall()
        has_more = len(rows) > limit
        rows = rows[:limit]
        cursor = None
        if has_more:
            cursor = self.s.cursors.sign(
                principal.org_id, "suppressions", (rows[-1][2].isoformat(), rows[-1][0])
            )
        data = [suppressions.row_json(r) for r in rows]
        send_json(resp, 200, {"data": data, "has_more": has_more, "next_cursor": cursor})


class SuppressionResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Is this number suppressed?",
            description="Answered by Postgres, the authority. 404: not on the list.",
            scope="read",
            parameters=(PHONE,),
            responses=(Resp(200, "The number is suppressed.", Suppression),),
            errors=(404,),
            notes=((404, "The number is not on the org's suppression list."),),
            tags=("suppressions",),
        ),
        "delete": Op(
            summary="Remove a number from the suppression list",
            description="Its later leads may be queued again (leads already stored keep their "
            "status).",
            scope="admin",
            parameters=(PHONE,),
            responses=(Resp(200, "Removed.", SuppressionDeleted),),
            errors=(404,),
            notes=((404, "The number is not on the org's suppression list."),),
            tags=("suppressions",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, phone: str) -> None:
        """Is this number suppressed? Always answered by Postgres (the authority)."""
        principal = await self.s.authorize(req, "read")
        e164 = _phone_from_path(phone)
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                sql("suppression_get"), {"org": principal.org_id, "phone": e164}
            )
            row = await cur.fetchone()
        if row is None:
            raise not_found("suppression")
        send_json(resp, 200, suppressions.row_json(row))

    async def on_delete(self, req: Any, resp: Any, phone: str) -> None:
        principal = await self.s.authorize(req, "admin")
        e164 = _phone_from_path(phone)
        async with self.s.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                sql("suppression_delete"), {"org": principal.org_id, "phone": e164}
            )
            row = await cur.fetchone()
            if row is not None:
                await events.record(
                    conn,
                    org_id=principal.org_id,
                    type="suppression.removed",
                    data={"phone": e164},
                    sandbox=principal.sandbox,
                )
        if row is None:
            raise not_found("suppression")
        send_json(resp, 200, {"phone": e164, "deleted": True})
