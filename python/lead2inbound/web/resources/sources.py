"""Lead sources (docs/lead-sources.md, "Sources"): manage them (`admin`), preview a payload, and
the ingest URL a vendor posts to, authenticated by a `write` key of the org or by the source's
own signature. Its leads take `POST /v1/leads`'s path (leads.submit): same pipeline, answers and
rate limits.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from lead2inbound.access.auth import Principal, client_ip
from lead2inbound.contract.problems import ProblemError, not_found, unauthorized, validation
from lead2inbound.contract.schemas import (
    LeadIn,
    SourceDeleted,
    SourceIn,
    SourceList,
    SourceOut,
    SourcePreview,
)
from lead2inbound.dnc.crypto import SecretError
from lead2inbound.intake.forms import WireNames
from lead2inbound.intake.validation import error, parse_lead
from lead2inbound.sources import store
from lead2inbound.sources.facebook import fetch_summary, keep, leadgen_notices, principal_of
from lead2inbound.sources.mapping import decode
from lead2inbound.sources.preview import mapped_lead, preview
from lead2inbound.sources.signatures import REPLAY_WINDOW_S, BadSignature, verify
from lead2inbound.store import events
from lead2inbound.web.http import read_body, send_json
from lead2inbound.web.openapi import Op, Resp, path, query
from lead2inbound.web.resources.common import decode_body
from lead2inbound.web.resources.leads import LEAD_RESPONSES, submit

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

log = logging.getLogger("lead2inbound.sources")

SOURCE_ID = path(
    "source_id",
    "The source's id (as `POST /v1/sources` answered it). Anything else, or another org's "
    "source, is a 404.",
)
_ANY_BODY = {
    "description": "The vendor's own payload, as it sends it: JSON, a form, multipart, or a "
    "form with a JSON field, as the source's `format` says. Its fields are mapped by the "
    "source's mapping; the body is read raw for the signature check first.",
}


def source_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found("source") from None


def _show(s: Services, source: store.Source) -> dict[str, Any]:
    return source.as_dict(store.secret_names(source, s.sources_box))


async def _admin_source(s: Services, req: Any, source_id: str) -> tuple[Principal, store.Source]:
    """An admin caller and one of its org's sources (404 for another org's or an unknown id)."""
    principal = await s.authorize(req, "admin")
    sid = source_uuid(source_id)
    async with s.pool.connection() as conn:
        source = await store.get_async(conn, sid, principal.org_id)
    if source is None:
        raise not_found("source")
    return principal, source


class SourcesResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Create a lead source",
            description="A named source with its body format, field mapping and (optionally) "
            "signature check; start from a `preset` (hubspot, unbounce, gravity-forms, typeform, "
            "facebook, zapier). Secrets are sealed under L2I_SECRET_KEY and never shown again. "
            "Its ingest URL is `/v1/sources/{source_id}/leads`.",
            scope="admin",
            body=SourceIn,
            responses=(Resp(201, "The new source.", SourceOut, headers=("Location",)),),
            errors=(400, 413, 415, 422),
            notes=((422, "Validation failed: `errors` names every bad field (or mapping rule)."),),
            tags=("sources",),
        ),
        "get": Op(
            summary="List lead sources",
            description="The caller's org's sources, oldest first (secrets by name only).",
            scope="admin",
            responses=(Resp(200, "The sources.", SourceList),),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        body = await decode_body(req, SourceIn, 262_144)
        try:
            planned = store.plan(
                name=body.name,
                preset=body.preset,
                format=body.format,
                json_field=body.json_field,
                mapping=body.mapping,
                options=body.options,
                signature=body.signature,
                secrets={
                    "secret": body.secret,
                    "verify_token": body.verify_token,
                    "page_token": body.page_token,
                },
                sandbox=body.sandbox,
                rate_limit=body.rate_limit,
            )
        except store.SourceError as exc:
            raise validation([error(exc.where.split(".", 1), "invalid", exc.detail)]) from None
        if planned["secrets"] and self.s.sources_box.current_id is None:
            raise validation(
                [error(["secret"], "invalid", "the service has no L2I_SECRET_KEY to seal it")]
            )
        async with self.s.pool.connection() as conn:
            source = await store.create_async(conn, self.s.sources_box, principal.org_id, planned)
        send_json(resp, 201, _show(self.s, source))
        resp.set_header("Location", f"/v1/sources/{source.source_id}")

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            found = await store.list_async(conn, principal.org_id)
        send_json(resp, 200, {"data": [_show(self.s, src) for src in found]})


class SourceResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Show a lead source",
            scope="admin",
            parameters=(SOURCE_ID,),
            responses=(Resp(200, "The source.", SourceOut),),
            errors=(404,),
            tags=("sources",),
        ),
        "delete": Op(
            summary="Delete a lead source",
            description="Its ingest URL answers 404 from now on; its leads stay.",
            scope="admin",
            parameters=(SOURCE_ID,),
            responses=(Resp(200, "Deleted.", SourceDeleted),),
            errors=(404,),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, source_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        shown = _show(self.s, source)
        if source.format == "facebook":
            async with self.s.pool.connection() as conn:
                shown["facebook_leads"] = await fetch_summary(conn, source)
        send_json(resp, 200, shown)

    async def on_delete(self, req: Any, resp: Any, source_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        sid = source_uuid(source_id)
        async with self.s.pool.connection() as conn:
            gone = await store.delete_async(conn, sid, principal.org_id)
        if not gone:
            raise not_found("source")
        send_json(resp, 200, {"source_id": sid, "deleted": True})


class SourcePreviewResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Preview a payload",
            description="The lead a payload would make through this source, with every problem "
            "and the checks known before the store (duplicates, suppressions and DNC need the "
            "store and are not run). Nothing is stored, no signature is checked. For a "
            "`facebook` source the payload is a Graph API lead (`GET /{leadgen-id}`'s answer).",
            scope="admin",
            parameters=(SOURCE_ID,),
            raw_body=("application/json", {"type": "object", **_ANY_BODY}),
            responses=(Resp(200, "What the payload would make.", SourcePreview),),
            errors=(400, 404, 413, 415),
            notes=(
                (400, "The payload cannot be read at all (empty, not JSON, not a form)."),
                (415, "The payload is not of the source's format."),
            ),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        principal, source = await _admin_source(self.s, req, source_id)
        body = await read_body(req, self.s.config.max_body_bytes)
        out = preview(
            source,
            body,
            req.content_type or "",
            key_id=principal.key_id,
            sandbox=principal.sandbox,
            consent_skew_s=self.s.config.consent_clock_skew_s,
        )
        send_json(resp, 200, out)


class SourceLeadsResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Send a lead through a source",
            description="The vendor's payload, mapped by the source into a lead and then "
            "exactly `POST /v1/leads`: same gates, answers, Idempotency-Key and rate limits. "
            "Authenticated by a `write` key of the source's org, or, without an Authorization "
            "header, by the source's signature (checked over the raw body before it is read; "
            "a bad, missing or replayed one is a 401 and nothing is stored). A `facebook` "
            "source receives Lead Ads notifications here: 200 once they are kept, the leads "
            "are fetched from the Graph API in the background.",
            scope="write",
            parameters=(SOURCE_ID,),
            raw_body=("application/json", {"type": "object", **_ANY_BODY}),
            responses=(
                *LEAD_RESPONSES[:1],
                Resp(
                    200,
                    "A duplicate (as `POST /v1/leads`), or, for a `facebook` source, the "
                    "notification kept (`FacebookReceived`).",
                    None,
                    raw_schema={
                        "oneOf": [
                            {"$ref": "#/components/schemas/LeadResult"},
                            {"$ref": "#/components/schemas/FacebookReceived"},
                        ]
                    },
                ),
            ),
            errors=(400, 404, 409, 413, 415, 422, 503),
            idempotent=True,
            tags=("sources",),
            notes=((404, "No such source (or another org's, with a key)."),),
        ),
        "get": Op(
            summary="Facebook webhook verification",
            description="Facebook's subscription handshake for a `facebook` source: with "
            "`hub.mode=subscribe` and the source's verify token, answers `hub.challenge` as "
            "plain text; anything else is a 403. No API key.",
            parameters=(
                SOURCE_ID,
                query("hub.mode", "`subscribe`."),
                query("hub.verify_token", "The verify token given to the source."),
                query("hub.challenge", "Echoed back when the token matches."),
            ),
            responses=(
                Resp(
                    200,
                    "The challenge, echoed.",
                    None,
                    media="text/plain",
                    raw_schema={"type": "string"},
                ),
            ),
            errors=(403, 404),
            tags=("sources",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any, source_id: str) -> None:
        sid = source_uuid(source_id)
        async with self.s.pool.connection() as conn:
            source = await store.get_async(conn, sid, None)
        if source is None or source.format != "facebook":
            raise not_found("source")
        ip = self._refuse_blocked(req)
        mode = req.get_param("hub.mode") or ""
        token = req.get_param("hub.verify_token") or ""
        challenge = req.get_param("hub.challenge") or ""
        try:
            expected = source.secrets(self.s.sources_box).get("verify_token", "")
        except SecretError:
            expected = ""
        ok = hmac.compare_digest(token.encode(), expected.encode()) and bool(expected)
        if not ok:  # a guess at a secret: counted like a wrong key or a bad signature
            self.s.auth_failures.failed(ip)
        if mode != "subscribe" or not ok or not challenge or len(challenge) > 256:
            raise ProblemError("forbidden", "The verify token does not match this source's.")
        resp.status = 200
        resp.content_type = "text/plain"
        resp.text = challenge

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        sid = source_uuid(source_id)
        limit = self.s.config.max_body_bytes
        if req.get_header("Authorization") is not None:
            principal = await self.s.authenticate(req)
            async with self.s.pool.connection() as conn:
                source = await store.get_async(conn, sid, principal.org_id)
            if source is None:
                await self.s.charge(req, principal, 1, "write")
                raise not_found("source")
            raw: bytes | None = None
        else:
            async with self.s.pool.connection() as conn:
                source = await store.get_async(conn, sid, None)
            if source is None or source.signature == "none":
                raise unauthorized()  # no key, and nothing else could vouch for the request
            raw = await read_body(req, limit)
            await self._check_signature(req, source, raw)
            principal = principal_of(source)
            req.context.principal = principal
        if source.format == "facebook":
            await self._facebook(req, resp, principal, source, raw)
            return

        async def parse() -> tuple[LeadIn, WireNames]:
            body = raw if raw is not None else await read_body(req, limit)
            doc = decode(body, req.content_type or "", source.format, source.json_field)
            data, names, _ = mapped_lead(source, doc)
            return parse_lead(data, strict=False, names=names)

        if raw is None:  # a key's post: the key's owner sees the problem in the answer
            await submit(self.s, req, resp, principal, parse, f"POST {source.path}")
            return
        try:
            await submit(self.s, req, resp, principal, parse, f"POST {source.path}")
        except ProblemError as exc:
            await self._record_failure(source, exc)
            raise

    async def _record_failure(self, source: store.Source, exc: ProblemError) -> None:
        """source.lead_failed: a signed vendor post was refused (a vendor cannot read our
        answers; the org reads this). Throttled posts are not recorded: a vendor's flood would
        become a flood of events."""
        if exc.code == "rate_limited":
            return
        problem: dict[str, Any] = {"code": exc.code, "status": exc.status, "detail": exc.detail}
        if exc.errors:
            problem["errors"] = [msgspec.to_builtins(e) for e in exc.errors]
        try:
            async with self.s.pool.connection() as conn, conn.transaction():
                await events.record(
                    conn,
                    org_id=source.org_id,
                    type="source.lead_failed",
                    data={"source_id": source.source_id, "source": source.name,
                          "problem": problem},
                    sandbox=source.sandbox,
                )  # fmt: skip
        except Exception as exc2:  # the refusal is answered either way
            log.warning("source.lead_failed not recorded: %s", exc2)

    def _refuse_blocked(self, req: Any) -> str:
        """The client's address, after refusing it (429) when it has failed too often."""
        ip = client_ip(
            req.remote_addr, req.get_header("X-Forwarded-For"), self.s.config.trusted_proxy_hops
        )
        wait = self.s.auth_failures.blocked(ip)
        if wait:
            raise ProblemError(
                "rate_limited",
                f"Too many failed authentication attempts; retry after {wait} s.",
                headers=[("Retry-After", str(wait))],
            )
        return ip

    async def _check_signature(self, req: Any, source: store.Source, raw: bytes) -> None:
        ip = self._refuse_blocked(req)
        try:
            secret = source.secrets(self.s.sources_box).get("secret", "")
            if not secret:
                raise BadSignature("no secret")
            urls = [req.url]
            if req.url.startswith("http://"):
                urls.append("https://" + req.url[len("http://") :])
            replay = verify(
                source.signature, secret, raw, req.get_header, method=req.method, urls=urls
            )
            if replay is not None and not await self._first_use(source, replay):
                raise BadSignature("replayed")
        except (BadSignature, SecretError) as exc:
            log.info("source %s: signature refused (%s)", source.source_id, exc)
            self.s.auth_failures.failed(ip)
            raise unauthorized() from None

    async def _first_use(self, source: store.Source, token: str) -> bool:
        """A signed timestamp's signature is good once: kept in Redis for the replay window.
        Redis away: accepted (the timestamp window still holds; the limiter degrades alike)."""
        digest = hashlib.sha256(f"{source.source_id}:{token}".encode()).hexdigest()
        try:
            got = await self.s.redis.set(
                f"l2i:sig:{{{source.source_id}}}:{digest}", b"1", nx=True, ex=REPLAY_WINDOW_S * 2
            )
        except Exception as exc:
            log.warning("replay check skipped (redis): %s", exc)
            return True
        return bool(got)

    async def _facebook(
        self, req: Any, resp: Any, principal: Any, source: store.Source, raw: bytes | None
    ) -> None:
        body = raw if raw is not None else await read_body(req, self.s.config.max_body_bytes)
        try:
            doc = decode(body, req.content_type or "", "facebook")
            notices = leadgen_notices(doc)
        except ProblemError:
            await self.s.charge(req, principal, 1, "write")
            raise
        # one unit per lead it will fetch (a notification of 1000 ids is 1000 fetches)
        await self.s.charge(req, principal, max(1, len(notices.kept)), "write")
        kept = await keep(self.s.pool, source, notices.kept) if notices.kept else 0
        if kept:
            self.s.facebook.kick()
        send_json(
            resp,
            200,
            {"received": len(notices.kept), "kept": kept, "refused": notices.refused},
        )
