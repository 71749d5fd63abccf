"""Webhook endpoints (`admin` scope): create, list, read, enable/disable, delete, rotate,
replay, attempts. The console's Webhooks page calls the same functions (`delete_endpoint`,
`rotate_secret`, `set_enabled`, `replay_deliveries`).

A key manages the endpoints of its own mode (a test key's endpoints receive sandbox events).
Another org's endpoint is a 404, like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.contract.problems import ProblemError, not_found
from lead2inbound.contract.schemas import (
    WebhookAttemptList,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointIn,
    WebhookEndpointList,
    WebhookEndpointPatch,
    WebhookReplayed,
    WebhookReplayIn,
    WebhookRotateIn,
    WebhookSecret,
)
from lead2inbound.dnc.crypto import SecretError
from lead2inbound.ops.outbound import OutboundRefused, check_url
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, path, query
from lead2inbound.web.resources.common import bad, decode_body, int_param, text_param
from lead2inbound.webhooks import endpoints

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

ENDPOINT_ID = path("endpoint_id", "The endpoint's id; another org's (or mode's) is a 404.")
BODY_ERRORS = (400, 413, 415, 422)


def _endpoint_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found("webhook endpoint") from None


def _when(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise bad(name, f"{name} must be an RFC 3339 date-time with an offset")
    return when


def _no_secret_key() -> ProblemError:
    # as for a source's secret (sources.py): the endpoint cannot be stored without the key
    return bad("url", "the service has no L2I_SECRET_KEY to seal this endpoint's signing secret")


async def delete_endpoint(s: Services, org_id: str, sandbox: bool, endpoint_id: str) -> bool:
    """DELETE /v1/webhook-endpoints/{id} and the console's Delete: False when there is none."""
    async with s.pool.connection() as conn, conn.transaction():
        return await endpoints.delete(conn, org_id, sandbox, endpoint_id)


def check_overlap(overlap_seconds: int) -> None:
    if not 0 <= overlap_seconds <= 604800:
        raise bad("overlap_seconds", "overlap_seconds must be from 0 to 604800")


async def rotate_secret(
    s: Services, org_id: str, sandbox: bool, endpoint_id: str, overlap_seconds: int
) -> str | None:
    """A new signing secret (shown once), the old one still signing for the overlap: the
    API's rotate and the console's. None: no such endpoint."""
    check_overlap(overlap_seconds)
    try:
        async with s.pool.connection() as conn, conn.transaction():
            return await endpoints.rotate(
                conn, s.sources_box, org_id, sandbox, endpoint_id, overlap_seconds
            )
    except SecretError:
        raise _no_secret_key() from None


async def set_enabled(
    s: Services, org_id: str, sandbox: bool, endpoint_id: str, enabled: bool
) -> endpoints.Endpoint | None:
    """PATCH /v1/webhook-endpoints/{id} `enabled` and the console's Enable/Disable. Turned
    on, what waited is sent (the deliverer is woken)."""
    async with s.pool.connection() as conn, conn.transaction():
        found = await endpoints.set_enabled(conn, org_id, sandbox, endpoint_id, enabled)
    if found is not None and enabled:
        s.deliverer.poke()
    return found


async def replay_deliveries(
    s: Services,
    org_id: str,
    sandbox: bool,
    endpoint_id: str,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int | None:
    """The API's replay and the console's: scheduled now (`endpoints.replay`); None: no such
    endpoint."""
    async with s.pool.connection() as conn, conn.transaction():
        found = await endpoints.get(conn, org_id, sandbox, endpoint_id)
        if found is None:
            return None
        n = await endpoints.replay(
            conn, org_id, endpoint_id, event_id=event_id, since=since, until=until
        )
    s.deliverer.poke()
    return n


class WebhookEndpointsResource:
    """POST/GET /v1/webhook-endpoints"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Create a webhook endpoint",
            description="The org's events of the key's mode that match `types` are POSTed to "
            "`url`, signed (Standard Webhooks: `webhook-id`, `webhook-timestamp`, "
            "`webhook-signature`), retried on failure (docs/events.md). The signing secret is "
            "in this answer only.",
            scope="admin",
            body=WebhookEndpointIn,
            responses=(Resp(201, "The endpoint and its secret.", WebhookEndpointCreated),),
            errors=BODY_ERRORS,
            notes=(
                (
                    422,
                    "A field is invalid (`errors` names it): a URL that is not https (unless "
                    "allowed), has another scheme, or leads to a loopback, private, link-local "
                    "or metadata address (unless allowed) names `url`; so does a service "
                    "with no L2I_SECRET_KEY to seal the signing secret.",
                ),
            ),
            tags=("webhooks",),
        ),
        "get": Op(
            summary="List webhook endpoints",
            description="The org's endpoints of the key's mode, newest first.",
            scope="admin",
            responses=(Resp(200, "The endpoints.", WebhookEndpointList),),
            tags=("webhooks",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        body = await decode_body(req, WebhookEndpointIn, 16 * 1024)
        try:
            await check_url(body.url, self.s.outbound)
        except OutboundRefused as exc:
            raise bad("url", f"url is refused: {exc.reason}") from None
        why = endpoints.bad_types(body.types)
        if why is not None:
            raise bad("types", why)
        try:
            async with self.s.pool.connection() as conn, conn.transaction():
                endpoint, secret = await endpoints.create(
                    conn,
                    self.s.sources_box,
                    org_id=principal.org_id,
                    sandbox=principal.sandbox,
                    url=body.url,
                    types=list(dict.fromkeys(body.types)),
                    description=body.description,
                    enabled=body.enabled,
                )
        except SecretError:
            raise _no_secret_key() from None
        self.s.deliverer.poke()
        send_json(resp, 201, {**endpoint.json(), "secret": secret})

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            found = await endpoints.list_(conn, principal.org_id, principal.sandbox)
        send_json(resp, 200, {"data": [e.json() for e in found]})


class WebhookEndpointResource:
    """GET/PATCH/DELETE /v1/webhook-endpoints/{endpoint_id}"""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Read a webhook endpoint",
            scope="admin",
            parameters=(ENDPOINT_ID,),
            responses=(Resp(200, "The endpoint.", WebhookEndpoint),),
            errors=(404,),
            notes=((404, "No such endpoint in the caller's org and mode."),),
            tags=("webhooks",),
        ),
        "patch": Op(
            summary="Enable or disable a webhook endpoint",
            description="`enabled: false` stops sending to it (its deliveries wait; "
            "`disabled_reason` is `disabled`); `enabled: true` turns it on again, also after "
            "the service disabled it (410 Gone, failing too long): what waited is sent.",
            scope="admin",
            parameters=(ENDPOINT_ID,),
            body=WebhookEndpointPatch,
            responses=(Resp(200, "The endpoint.", WebhookEndpoint),),
            errors=(*BODY_ERRORS, 404),
            notes=((404, "No such endpoint in the caller's org and mode."),),
            tags=("webhooks",),
        ),
        "delete": Op(
            summary="Delete a webhook endpoint",
            description="Nothing more is sent to it; its attempts are deleted with it.",
            scope="admin",
            parameters=(ENDPOINT_ID,),
            responses=(Resp(200, "Deleted.", WebhookEndpointDeleted),),
            errors=(404,),
            notes=((404, "No such endpoint in the caller's org and mode."),),
            tags=("webhooks",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        async with self.s.pool.connection() as conn:
            found = await endpoints.get(conn, principal.org_id, principal.sandbox, eid)
        if found is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, found.json())

    async def on_patch(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        body = await decode_body(req, WebhookEndpointPatch, 4096)
        found = await set_enabled(self.s, principal.org_id, principal.sandbox, eid, body.enabled)
        if found is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, found.json())

    async def on_delete(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        gone = await delete_endpoint(self.s, principal.org_id, principal.sandbox, eid)
        if not gone:
            raise not_found("webhook endpoint")
        send_json(resp, 200, {"id": eid, "deleted": True})


class WebhookRotateResource:
    """POST /v1/webhook-endpoints/{endpoint_id}/rotate"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Rotate an endpoint's signing secret",
            description="A new secret (shown once) signs from now on; the old one also signs "
            "(a second signature in `webhook-signature`) for `overlap_seconds`.",
            scope="admin",
            body=WebhookRotateIn,
            body_required=False,
            parameters=(ENDPOINT_ID,),
            responses=(Resp(200, "The new secret.", WebhookSecret),),
            errors=(*BODY_ERRORS, 404),
            notes=((404, "No such endpoint in the caller's org and mode."),),
            tags=("webhooks",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        body = await decode_body(req, WebhookRotateIn, 4096, empty_ok=True)
        secret = await rotate_secret(
            self.s, principal.org_id, principal.sandbox, eid, body.overlap_seconds
        )
        if secret is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, {"secret": secret})


class WebhookReplayResource:
    """POST /v1/webhook-endpoints/{endpoint_id}/replay"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Replay deliveries",
            description="Sends one event (`event_id`), or every matching event of a time range "
            "(`since`, `until`; at most 10,000 per call), again, now, with the same "
            "`webhook-id`, whatever became of them before: a delivery waiting for its next "
            "retry is sent now (its retries start over). One being sent at this moment is "
            "left to its answer and not counted in `scheduled`.",
            scope="admin",
            body=WebhookReplayIn,
            parameters=(ENDPOINT_ID,),
            responses=(Resp(200, "How many deliveries were scheduled.", WebhookReplayed),),
            errors=(*BODY_ERRORS, 404),
            notes=((404, "No such endpoint in the caller's org and mode."),),
            tags=("webhooks",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        body = await decode_body(req, WebhookReplayIn, 4096)
        event = None
        if body.event_id is not None:
            try:
                event = str(uuid.UUID(body.event_id))
            except ValueError:
                raise bad("event_id", "event_id must be an event id") from None
        since, until = _when("since", body.since), _when("until", body.until)
        if event is None and since is None:
            raise bad("event_id", "give event_id, or since (and maybe until)")
        n = await replay_deliveries(
            self.s, principal.org_id, principal.sandbox, eid, event_id=event, since=since,
            until=until,
        )  # fmt: skip
        if n is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, {"scheduled": n})


class WebhookAttemptsResource:
    """GET /v1/webhook-endpoints/{endpoint_id}/attempts"""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="List delivery attempts",
            description="Every attempt to deliver to the endpoint, newest first: status, "
            "duration, the answer's first 1 KB, or why there was no answer.",
            scope="admin",
            parameters=(
                ENDPOINT_ID,
                query(
                    "limit",
                    "Page size (1-100, default 20).",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                ),
                query("starting_after", "The `next_cursor` of the previous page."),
            ),
            responses=(Resp(200, "A page of attempts.", WebhookAttemptList),),
            errors=(404, 422),
            notes=(
                (404, "No such endpoint in the caller's org and mode."),
                (422, "A query parameter is invalid: `errors` names it."),
            ),
            tags=("webhooks",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        eid = _endpoint_uuid(endpoint_id)
        limit = int_param(req, "limit", 20, 1, 100)
        raw = text_param(req, "starting_after")
        before = None
        if raw is not None:
            if not raw.isdigit() or len(raw) > 19:
                raise bad("starting_after", "starting_after is not a cursor from this listing")
            before = int(raw)
        async with self.s.pool.connection() as conn:
            found = await endpoints.get(conn, principal.org_id, principal.sandbox, eid)
            if found is None:
                raise not_found("webhook endpoint")
            rows = await endpoints.attempts(conn, principal.org_id, eid, limit + 1, before)
        has_more = len(rows) > limit
        rows = rows[:limit]
        send_json(
            resp,
            200,
            {"data": rows, "has_more": has_more,
             "next_cursor": rows[-1]["id"] if has_more else None},
        )  # fmt: skip
