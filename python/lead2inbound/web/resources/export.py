"""GET /v1/leads/export (`read` scope): the org's leads as CSV or NDJSON, streamed
(dialing/export.py). Rows come from a server-side cursor a chunk at a time, so the worker's
memory does not grow with the number of leads; the export holds one pooled connection (in one
read-only transaction, a consistent snapshot) while it streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg.rows import dict_row

from lead2inbound.dialing.export import CsvChunks, ndjson_rows
from lead2inbound.store.queries import sql
from lead2inbound.web.openapi import Op, Resp, query
from lead2inbound.web.resources.common import bad, text_param
from lead2inbound.web.resources.read import FILTERS, lead_filters

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

CSV = "text/csv"
NDJSON = "application/x-ndjson"
FORMATS = {"csv": CSV, "ndjson": NDJSON}
CHUNK_ROWS = 1000


def export_format(req: Any) -> str:
    """`format=` wins; else the first of text/csv or application/x-ndjson in `Accept`; else
    CSV."""
    chosen = text_param(req, "format")
    if chosen is not None:
        if chosen.lower() not in FORMATS:
            raise bad("format", "format must be csv or ndjson")
        return FORMATS[chosen.lower()]
    accept = (req.get_header("Accept") or "").lower()
    found = [(accept.find(m), m) for m in (CSV, NDJSON) if m in accept]
    return min(found)[1] if found else CSV


class LeadsExportResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Export leads",
            description="The org's leads, oldest first, with the same filters as `GET "
            "/v1/leads`, streamed. CSV (`text/csv`): the poster's fields under the column "
            "names `POST /v1/leads/import` reads, so an export imports into another org as "
            "is. NDJSON (`application/x-ndjson`): one stored lead per line, as `GET "
            "/v1/leads/{lead_id}` shows it. Chosen by `format=` or `Accept` (default CSV). "
            "Erased leads are left out. See docs/api.md.",
            scope="read",
            parameters=(
                *FILTERS,
                query(
                    "format",
                    "`csv` or `ndjson` (else the `Accept` header decides; default csv).",
                    {"type": "string", "enum": ["csv", "ndjson"]},
                ),
            ),
            responses=(
                Resp(
                    200,
                    "The leads, streamed (CSV or NDJSON).",
                    media=CSV,
                    more_media=(NDJSON,),
                    raw_schema={"type": "string"},
                    headers=("Content-Disposition",),
                ),
            ),
            errors=(422,),
            notes=((422, "A query parameter is invalid: `errors` names it."),),
            tags=("leads",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "read")
        kind = export_format(req)
        params = lead_filters(req, principal.org_id)
        resp.status = 200
        resp.content_type = kind + ("; charset=utf-8" if kind == CSV else "")
        name = "leads." + ("csv" if kind == CSV else "ndjson")
        resp.set_header("Content-Disposition", f'attachment; filename="{name}"')
        resp.stream = self._rows(kind, params)

    async def _rows(self, kind: str, params: dict[str, Any]) -> AsyncIterator[bytes]:
        async with self.s.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            csv_out: CsvChunks | None = None
            if kind == CSV:
                cur = await conn.execute(sql("leads_export_custom"), params)
                csv_out = CsvChunks([r[0] for r in await cur.fetchall()])
                yield csv_out.header()
            named = conn.cursor("l2i_export", row_factory=dict_row)
            await named.execute(sql("leads_export"), params)
            now = self.s.clock()
            while rows := await named.fetchmany(CHUNK_ROWS):
                if csv_out is not None:
                    yield csv_out.rows(rows)
                else:
                    yield ndjson_rows(rows, now, self.s.enforce_hours)
            await named.close()
