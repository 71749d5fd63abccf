"""Source URLs that are their own credential (sources/hooks.py; docs/lead-sources.md, "Source
URLs"): `POST /v1/hooks/<token>` ingests for the token's source with no header at all, and an
admin lists, rotates (with an overlap) and revokes a source's URLs. The token never appears in
a log line or a problem body: only its public part (web/http.py `public_path`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.contract.problems import not_found, unauthorized, validation
from lead2inbound.contract.schemas import (
    SourceUrlCreated,
    SourceUrlIn,
    SourceUrlList,
    SourceUrlRevoked,
)
from lead2inbound.intake.validation import error
from lead2inbound.sources import hooks, store
from lead2inbound.sources.facebook import principal_of
from lead2inbound.web.http import read_body, send_json
from lead2inbound.web.openapi import Op, Resp, path
from lead2inbound.web.resources.common import decode_body
from lead2inbound.web.resources.leads import LEAD_RESPONSES
from lead2inbound.web.resources.sources import (
    _ANY_BODY,
    SOURCE_ID,
    _admin_source,
    body_secret_at,
    check_vendor_proof,
    failure_gate,
    ingest,
)

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

TOKEN = path(
    "token",
    "The source URL's token (`l2i_hook_...`), as `POST /v1/sources` or a rotation showed it "
    "once. A malformed, unknown, ended or revoked one is a 401.",
)
HOOK_ID = path("hook_id", "The URL's public id (`GET /v1/sources/{source_id}/urls`).")


def _pepper(s: Services) -> bytes:
    return s.config.key_pepper.encode()


class HookResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Send a lead to a source's URL",
            description="For vendors that can be given a URL and nothing else: the token in "
            "the path is the credential (no `Authorization`). Then exactly as "
            "`POST /v1/sources/{source_id}/leads`: a source with a signature scheme also "
            "requires its signature; the same mapping, gates, answers and Idempotency-Key; "
            "limited by the source's `rate_limit`, and a client address with too many failed "
            "attempts is refused (429) before any look-up.",
            parameters=(TOKEN,),
            raw_body=("application/json", {"type": "object", **_ANY_BODY}),
            responses=(
                *LEAD_RESPONSES[:1],
                Resp(
                    200,
                    "A duplicate, a new lead of a source whose `success_status` is 200, or, for "
                    "a `facebook` source, the notification kept.",
                    None,
                    raw_schema={
                        "oneOf": [
                            {"$ref": "#/components/schemas/LeadResult"},
                            {"$ref": "#/components/schemas/FacebookReceived"},
                        ]
                    },
                ),
            ),
            errors=(400, 401, 413, 415, 422, 503),
            idempotent=True,
            tags=("sources",),
            notes=(
                (
                    401,
                    "The token is malformed, unknown, ended or revoked, or the signature the "
                    "source requires is bad.",
                ),
            ),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, token: str) -> None:
        ip = failure_gate(self.s, req)
        async with self.s.pool.connection() as conn:
            found = await hooks.resolve_async(conn, _pepper(self.s), token)
            source = await store.get_async(conn, found[1], found[0]) if found else None
        if source is None:
            self.s.auth_failures.failed(ip)
            raise unauthorized()
        raw = None
        if source.signature != "none" or body_secret_at(source):  # required here too
            raw = await read_body(req, self.s.config.max_body_bytes)
            await check_vendor_proof(self.s, req, source, raw)
        principal = principal_of(source)
        req.context.principal = principal
        await ingest(self.s, req, resp, source, principal, raw)


class SourceUrlsResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="List a source's URLs",
            description="Every URL the source has had (public part only), oldest first.",
            scope="admin",
            parameters=(SOURCE_ID,),
            responses=(Resp(200, "The URLs.", SourceUrlList),),
            errors=(404,),
            tags=("sources",),
        ),
        "post": Op(
            summary="Rotate a source's URL",
            description="A new URL (shown once); the older ones keep working for `overlap_s` "
            "seconds (default a day; 0: they stop now), then answer 401.",
            scope="admin",
            parameters=(SOURCE_ID,),
            body=SourceUrlIn,
            body_required=False,
            responses=(Resp(201, "The new URL.", SourceUrlCreated),),
            errors=(400, 404, 415, 422),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, source_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        async with self.s.pool.connection() as conn:
            found = await hooks.list_async(conn, source.org_id, source.source_id)
        send_json(resp, 200, {"data": [h.as_dict() for h in found]})

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        body = await decode_body(req, SourceUrlIn, 4096, empty_ok=True)
        try:
            overlap = hooks.check_overlap(body.overlap_s)
        except ValueError as exc:
            raise validation([error(["overlap_s"], "invalid", str(exc))]) from None
        async with self.s.pool.connection() as conn:
            token = await hooks.add_async(
                conn, _pepper(self.s), source.org_id, source.source_id, overlap
            )
            found = await hooks.list_async(conn, source.org_id, source.source_id)
        send_json(
            resp,
            201,
            {
                "hook_id": hooks.parse(token),
                "hook_url": hooks.url_path(token),
                "urls": [h.as_dict() for h in found],
            },
        )


class SourceUrlResource:
    openapi: ClassVar[dict[str, Op]] = {
        "delete": Op(
            summary="Revoke a source's URL",
            description="It answers 401 from now on (the source's other URLs are unchanged).",
            scope="admin",
            parameters=(SOURCE_ID, HOOK_ID),
            responses=(Resp(200, "Revoked.", SourceUrlRevoked),),
            errors=(404,),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_delete(self, req: Any, resp: Any, source_id: str, hook_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        if not hooks.is_hook_id(hook_id):
            raise not_found("URL")
        async with self.s.pool.connection() as conn:
            done = await hooks.revoke_async(conn, source.org_id, source.source_id, hook_id)
        if not done:
            raise not_found("URL")
        send_json(resp, 200, {"hook_id": hook_id, "revoked": True})
