"""Webhook endpoints (`admin` scope): create, list, read, enable/disable, delete, rotate,
replay, attempts. The console's Webhooks page calls the same functions (`delete_endpoint`,
`rotate_secret`, `update_endpoint`, `replay_deliveries`).

A key manages the endpoints of its own mode (a test key's endpoints receive sandbox events).
Another org's endpoint is a 404, like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from msgspec import UNSET

from lead2inbound.access.auth import Principal
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
    WebhookTestSent,
)
from lead2inbound.dnc.crypto import SecretError
from lead2inbound.ops.outbound import OutboundRefused, check_url
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, path, query
from lead2inbound.web.resources.common import bad, decode_body, int_param, text_param
from lead2inbound.webhooks import endpoints
from lead2inbound.webhooks.ping import send_test_event

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

ENDPOINT_ID = path("endpoint_id", "The endpoint's id; another org's (or mode's) is a 404.")
BODY_ERRORS = (400, 413, 415, 422)
NO_SUCH_ENDPOINT = (404, "No such endpoint in the caller's org and mode.")


def _endpoint_op(
    summary: str,
    *,
    responses: tuple[Resp, ...],
    errors: tuple[int, ...] = (404,),
    parameters: tuple[dict[str, Any], ...] = (),
    notes: tuple[tuple[int, str], ...] = (),
    **more: Any,
) -> Op:
    """An `admin` operation on one endpoint named in the path: a 404 when it is not the
    caller's (org and mode)."""
    return Op(
        summary=summary,
        scope="admin",
        parameters=(ENDPOINT_ID, *parameters),
        responses=responses,
        errors=errors,
        notes=(NO_SUCH_ENDPOINT, *notes),
        tags=("webhooks",),
        **more,
    )


def _endpoint_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found("webhook endpoint") from None


async def _endpoint_caller(s: Services, req: Any, endpoint_id: str) -> tuple[Principal, str]:
    """The `admin` caller and the endpoint id from the path (a malformed id is a 404, checked
    after authentication)."""
    principal = await s.authorize(req, "admin")
    return principal, _endpoint_uuid(endpoint_id)


async def _own_endpoint(conn: Any, principal: Principal, eid: str) -> endpoints.Endpoint:
    """The caller's endpoint (its org and mode), or a 404."""
    found = await endpoints.get(conn, principal.org_id, principal.sandbox, eid)
    if found is None:
        raise not_found("webhook endpoint")
    return found


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


async def _check_target(s: Services, url: str | None, types: list[str] | None) -> None:
    """A new or changed endpoint's URL through the outbound guard, and its event types."""
    if url is not None:
        try:
            await check_url(url, s.outbound)
        except OutboundRefused as exc:
            raise bad("url", f"url is refused: {exc.reason}") from None
    why = None if types is None else endpoints.bad_types(types)
    if why is not None:
        raise bad("types", why)


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


async def update_endpoint(
    s: Services, org_id: str, sandbox: bool, endpoint_id: str, **changes: Any
) -> endpoints.Endpoint | None:
    """PATCH /v1/webhook-endpoints/{id} and the console's Enable/Disable (`endpoints.update`'s
    fields; the caller has checked a URL and types). Turned on, what waited is sent (the
    delivery worker is told at once). None: no such endpoint."""
    async with s.pool.connection() as conn, conn.transaction():
        found = await endpoints.update(conn, org_id, sandbox, endpoint_id, **changes)
    if found is not None and found.enabled:
        s.deliverer.endpoints_changed()
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
        await _check_target(self.s, body.url, body.types)
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
        self.s.deliverer.endpoints_changed()
        send_json(resp, 201, {**endpoint.json(), "secret": secret})

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            found = await endpoints.list_(conn, principal.org_id, principal.sandbox)
        send_json(resp, 200, {"data": [e.json() for e in found]})


class WebhookEndpointResource:
    """GET/PATCH/DELETE /v1/webhook-endpoints/{endpoint_id}"""

    openapi: ClassVar[dict[str, Op]] = {
        "get": _endpoint_op(
            "Read a webhook endpoint", responses=(Resp(200, "The endpoint.", WebhookEndpoint),)
        ),
        "patch": _endpoint_op(
            "Change a webhook endpoint",
            description="Changes the fields given (`url`, `types`, `description`, `enabled`). "
            "A new URL passes the same checks as when created. `enabled: false` stops "
            "sending to it (`disabled_reason: disabled`; its deliveries wait); `enabled: true` "
            "turns it on again, also after the service disabled it (410 Gone, failing 5 days): "
            "the events recorded meanwhile are sent then.",
            body=WebhookEndpointPatch,
            responses=(Resp(200, "The endpoint as it is now.", WebhookEndpoint),),
            errors=(*BODY_ERRORS, 404),
            notes=((422, "A field is invalid: `errors` names it (`url` as when created)."),),
        ),
        "delete": _endpoint_op(
            "Delete a webhook endpoint",
            description="Nothing more is sent to it; its attempts are deleted with it.",
            responses=(Resp(200, "Deleted.", WebhookEndpointDeleted),),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
        async with self.s.pool.connection() as conn:
            found = await _own_endpoint(conn, principal, eid)
        send_json(resp, 200, found.json())

    async def on_patch(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
        body = await decode_body(req, WebhookEndpointPatch, 16 * 1024)
        url = None if body.url is UNSET else body.url
        types = None if body.types is UNSET else list(dict.fromkeys(body.types))
        await _check_target(self.s, url, types)
        found = await update_endpoint(
            self.s, principal.org_id, principal.sandbox, eid, url=url, types=types,
            description=None if body.description is UNSET else body.description,
            set_description=body.description is not UNSET,
            enabled=None if body.enabled is UNSET else body.enabled,
        )  # fmt: skip
        if found is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, found.json())

    async def on_delete(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
        gone = await delete_endpoint(self.s, principal.org_id, principal.sandbox, eid)
        if not gone:
            raise not_found("webhook endpoint")
        send_json(resp, 200, {"id": eid, "deleted": True})


class WebhookRotateResource:
    """POST /v1/webhook-endpoints/{endpoint_id}/rotate"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": _endpoint_op(
            "Rotate an endpoint's signing secret",
            description="A new secret (shown once) signs from now on; the old one also signs "
            "(a second signature in `webhook-signature`) for `overlap_seconds`.",
            body=WebhookRotateIn,
            body_required=False,
            responses=(Resp(200, "The new secret.", WebhookSecret),),
            errors=(*BODY_ERRORS, 404),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
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
        "post": _endpoint_op(
            "Replay deliveries",
            description="Sends one event (`event_id`), or every matching event of a time range "
            "(`since`, `until`; at most 10,000 per call), again, now, with the same "
            "`webhook-id`, whatever became of them before: a delivery waiting for its next "
            "retry is sent now (its retries start over). One being sent at this moment is "
            "left to its answer and not counted in `scheduled`.",
            body=WebhookReplayIn,
            responses=(Resp(200, "How many deliveries were scheduled.", WebhookReplayed),),
            errors=(*BODY_ERRORS, 404),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
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


class WebhookTestResource:
    """POST /v1/webhook-endpoints/{endpoint_id}/test"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": _endpoint_op(
            "Send a test event",
            description="One signed `webhook_endpoint.test` message, sent now (not logged, not "
            "retried), to check the receiver and its signature check; the answer's status and "
            "first 1 KB come back (`l2i webhooks test` and the console do the same).",
            responses=(Resp(200, "What the endpoint answered.", WebhookTestSent),),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
        try:
            async with self.s.pool.connection() as conn:
                sent = await send_test_event(
                    conn, self.s.sources_box, self.s.outbound, principal.org_id,
                    principal.sandbox, eid,
                )  # fmt: skip
        except SecretError:
            raise _no_secret_key() from None
        if sent is None:
            raise not_found("webhook endpoint")
        send_json(resp, 200, sent)


class WebhookAttemptsResource:
    """GET /v1/webhook-endpoints/{endpoint_id}/attempts"""

    openapi: ClassVar[dict[str, Op]] = {
        "get": _endpoint_op(
            "List delivery attempts",
            description="Every attempt to deliver to the endpoint, newest first: status, "
            "duration, the answer's first 1 KB, or why there was no answer.",
            parameters=(
                query(
                    "limit",
                    "Page size (1-100, default 20).",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                ),
                query("starting_after", "The `next_cursor` of the previous page."),
            ),
            responses=(Resp(200, "A page of attempts.", WebhookAttemptList),),
            errors=(404, 422),
            notes=((422, "A query parameter is invalid: `errors` names it."),),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, endpoint_id: str) -> None:
        principal, eid = await _endpoint_caller(self.s, req, endpoint_id)
        limit = int_param(req, "limit", 20, 1, 100)
        raw = text_param(req, "starting_after")
        before = None
        if raw is not None:
            if not raw.isdigit() or len(raw) > 19:
                raise bad("starting_after", "starting_after is not a cursor from this listing")
            before = int(raw)
        async with self.s.pool.connection() as conn:
            await _own_endpoint(conn, principal, eid)
            rows = await endpoints.attempts(conn, principal.org_id, eid, limit + 1, before)
        has_more = len(rows) > limit
        rows = rows[:limit]
        send_json(
            resp,
            200,
            {"data": rows, "has_more": has_more,
             "next_cursor": rows[-1]["id"] if has_more else None},
        )  # fmt: skip
