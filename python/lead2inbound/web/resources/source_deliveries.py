"""What vendors sent to a source (sources/deliveries.py; docs/lead-sources.md, "Deliveries"):
listed by an admin, and a delivery that did not become a lead replayed after the mapping is
fixed, through the same path as a live post (sources.ingest: the same mapping, gates, writer and
duplicate check; charged to the source's rate limit)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from lead2inbound.contract.problems import ProblemError, not_found
from lead2inbound.contract.schemas import SourceDeliveryList
from lead2inbound.sources import deliveries
from lead2inbound.sources.facebook import principal_of
from lead2inbound.web.openapi import Op, Resp, path, query
from lead2inbound.web.resources.leads import LEAD_RESPONSES
from lead2inbound.web.resources.sources import SOURCE_ID, _admin_source, ingest

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

DELIVERY_ID = path("delivery_id", "The delivery's id (`GET /v1/sources/{source_id}/deliveries`).")


def _since(raw: str | None) -> datetime:
    if not raw:
        return datetime(1970, 1, 1, tzinfo=UTC)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError("bad_request", "since must be an ISO 8601 time.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class SourceDeliveriesResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="List a source's deliveries",
            description="What vendors posted to the source, newest first, within the retention "
            "(30 days, at most 1,000 a source): the refused ones with their raw body and "
            "headers (credentials removed), the ones that made a lead without their body.",
            scope="admin",
            parameters=(
                SOURCE_ID,
                query("since", "Only deliveries received at or after this time (ISO 8601)."),
                query(
                    "outcome",
                    "Only this outcome.",
                    {"enum": ["created", "duplicate", "refused", "unauthorized"]},
                ),
                query("limit", "At most this many (1-1000, default 100).", {"type": "integer"}),
            ),
            responses=(Resp(200, "The deliveries.", SourceDeliveryList),),
            errors=(400, 404),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, source_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        outcome = req.get_param("outcome")
        if outcome is not None and outcome not in (
            "created",
            "duplicate",
            "refused",
            "unauthorized",
        ):
            raise ProblemError(
                "bad_request", "outcome must be created, duplicate, refused or unauthorized."
            )
        raw_limit = req.get_param("limit") or "100"
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise ProblemError("bad_request", "limit must be from 1 to 1000.")
        async with self.s.pool.connection() as conn:
            found = await deliveries.list_async(
                conn,
                source.org_id,
                source.source_id,
                since=_since(req.get_param("since")),
                outcome=outcome,
                limit=int(raw_limit),
            )
        resp.status = 200
        resp.content_type = "application/json"
        resp.data = msgspec.json.encode({"data": [d.as_dict() for d in found]})


class SourceDeliveryReplayResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Replay a delivery",
            description="Re-process a kept delivery (after the mapping was fixed) through the "
            "same path as a live post: answered as `POST /v1/sources/{source_id}/leads` would "
            "answer it now (a lead already made is a duplicate, never a second lead). Charged "
            "to the source's rate limit. No signature is checked again (an admin asks).",
            scope="admin",
            parameters=(SOURCE_ID, DELIVERY_ID),
            responses=(*LEAD_RESPONSES[:2],),
            errors=(400, 404, 409, 413, 415, 422, 503),
            notes=(
                (
                    409,
                    "The delivery has no body to replay (it made a lead, or was refused "
                    "for its credentials).",
                ),
            ),
            idempotent=True,
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, source_id: str, delivery_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        try:
            did = str(uuid.UUID(delivery_id))
        except ValueError:
            raise not_found("delivery") from None
        async with self.s.pool.connection() as conn:
            found = await deliveries.get_async(conn, source.org_id, source.source_id, did)
        if found is None:
            raise not_found("delivery")
        if found.body is None:
            raise ProblemError("nothing_to_replay", "This delivery has no body to replay.")
        principal = principal_of(source)
        try:
            await ingest(
                self.s,
                req,
                resp,
                source,
                principal,
                found.body,
                content_type=found.content_type or "",
                keep=False,
            )
        except ProblemError as exc:
            await self._note(did, exc.status, None)
            raise
        try:
            lead_id = msgspec.json.decode(resp.data or b"{}").get("lead_id")
        except msgspec.DecodeError:  # pragma: no cover
            lead_id = None
        await self._note(did, int(str(resp.status).split()[0]), lead_id)

    async def _note(self, delivery_id: str, status: int, lead_id: str | None) -> None:
        async with self.s.pool.connection() as conn:
            await deliveries.replayed(conn, delivery_id, status, lead_id)
