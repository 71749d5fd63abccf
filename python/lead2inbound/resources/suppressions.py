"""The suppression list: POST (`write`), GET list and GET one (`read`), DELETE (`admin`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .._core import InvalidPhone, normalize, normalize_many
from ..http import send_json
from ..problems import not_found, validation
from ..schemas import SuppressionsIn
from ..store import suppressions
from ..store.queries import sql
from ..validation import error, phone_detail
from .common import bad, decode_body, int_param

if TYPE_CHECKING:
    from ..app import Services

MAX_PHONES = 1000
MAX_REASON = 500


def _phone_from_path(raw: str) -> str:
    try:
        return normalize(unquote(raw)).e164
    except InvalidPhone:
        raise not_found("suppression") from None


class SuppressionsResource:
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
            added = await suppressions.add(conn, principal.org_id, good, body.reason, now=now)
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
        raw = req.get_param("starting_after")
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
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                sql("suppression_delete"), {"org": principal.org_id, "phone": e164}
            )
            row = await cur.fetchone()
        if row is None:
            raise not_found("suppression")
        send_json(resp, 200, {"phone": e164, "deleted": True})
