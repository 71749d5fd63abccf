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
    SourcePatch,
    SourcePreview,
)
from lead2inbound.dnc.crypto import SecretError
from lead2inbound.intake.forms import WireNames
from lead2inbound.intake.validation import error
from lead2inbound.sources import deliveries, hooks, store
from lead2inbound.sources.facebook import fetch_summary, keep, leadgen_notices, principal_of
from lead2inbound.sources.mapping import decode, resolve
from lead2inbound.sources.preview import preview, source_lead
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


async def create_source(s: Services, org_id: str, **fields: Any) -> tuple[store.Source, str]:
    """A new source of `org_id` (the API's POST and the console): `store.plan`'s checks, a 422
    naming the field, the secrets sealed under L2I_SECRET_KEY. With it, in one transaction, its
    first URL that is its own credential: the token is returned, to be shown this once."""
    try:
        planned = store.plan(**fields)
    except store.SourceError as exc:
        raise validation([error(exc.where.split(".", 1), "invalid", exc.detail)]) from None
    if planned["secrets"] and s.sources_box.current_id is None:
        raise validation(
            [error(["secret"], "invalid", "the service has no L2I_SECRET_KEY to seal it")]
        )
    pepper = s.config.key_pepper.encode()
    async with s.pool.connection() as conn, conn.transaction():
        source = await store.create_async(conn, s.sources_box, org_id, planned)
        token = await hooks.add_async(conn, pepper, source.org_id, source.source_id, None)
    return source, token


async def update_source(
    s: Services,
    source: store.Source,
    *,
    mapping: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    success_status: int | None = None,
    secrets: dict[str, str | None] | None = None,
) -> store.Source:
    """Change a source (the API's PATCH and the console's editor): a new mapping, options or
    success status (`store.check_patch`'s checks), and vendor secrets replaced (write-only,
    sealed under L2I_SECRET_KEY); a 422 naming the field, nothing changed. The source as it
    is now."""
    given: dict[str, str | None] = {k: v for k, v in (secrets or {}).items() if v}
    try:
        new = store.check_patch(source, mapping, options, success_status)
        if new["options"].get("body_secret_at") and body_secret_at(source) is None:
            raise store.SourceError("options.body_secret_at", "needs a body_secret")
        for name, value in given.items():
            if value is None or len(value) > 4096 or "\x00" in value:
                raise store.SourceError(name, "must be at most 4096 characters, without NUL")
        if given and s.sources_box.current_id is None:
            raise store.SourceError(
                next(iter(given)), "the service has no L2I_SECRET_KEY to seal it"
            )
    except store.SourceError as exc:
        raise validation([error(exc.where.split(".", 1), "invalid", exc.detail)]) from None
    async with s.pool.connection() as conn, conn.transaction():
        await store.patch_async(conn, source, new)
        if given:
            try:
                await store.replace_secrets_async(conn, s.sources_box, source, given)
            except store.SourceError as exc:
                raise validation([error([exc.where], "invalid", exc.detail)]) from None
        changed = await store.get_async(conn, source.source_id, source.org_id)
    assert changed is not None
    return changed


def preview_payload(
    s: Services, source: store.Source, body: bytes, content_type: str, key_id: str
) -> dict[str, Any]:
    """What a payload would make through `source` (the API's preview and the console's)."""
    return preview(
        source,
        body,
        content_type,
        key_id=key_id,
        sandbox=source.sandbox,
        consent_skew_s=s.config.consent_clock_skew_s,
    )


class SourcesResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Create a lead source",
            description="A named source with its body format, field mapping and (optionally) "
            "signature check; start from a `preset` (hubspot, unbounce, gravity-forms, typeform, "
            "facebook, zapier). Secrets are sealed under L2I_SECRET_KEY and never shown again. "
            "Its ingest URL is `/v1/sources/{source_id}/leads` (with a key or its signature); "
            "`hook_url`, shown only here, is its URL that is its own credential "
            "(`/v1/hooks/l2i_hook_...`) for vendors that take a URL and nothing else.",
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
        source, token = await create_source(
            self.s,
            principal.org_id,
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
                "body_secret": body.body_secret,
            },
            sandbox=body.sandbox,
            rate_limit=body.rate_limit,
            success_status=body.success_status,
        )
        send_json(resp, 201, {**_show(self.s, source), "hook_url": hooks.url_path(token)})
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
        "patch": Op(
            summary="Change a source's mapping",
            description="A new `mapping`, `options` or `success_status` (each replaces the "
            "whole); then replay what the old mapping refused "
            "(`POST /v1/sources/{source_id}/deliveries/{delivery_id}/replay`). A new `secret` "
            "(the vendor's signing key after it rotated it), `verify_token` or `page_token` "
            "replaces that secret: write-only, sealed, never shown again.",
            scope="admin",
            parameters=(SOURCE_ID,),
            body=SourcePatch,
            responses=(Resp(200, "The source.", SourceOut),),
            errors=(400, 404, 415, 422),
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

    async def on_patch(self, req: Any, resp: Any, source_id: str) -> None:
        _, source = await _admin_source(self.s, req, source_id)
        body = await decode_body(req, SourcePatch, 262_144)
        changed = await update_source(
            self.s, source, mapping=body.mapping, options=body.options,
            success_status=body.success_status,
            secrets={"secret": body.secret, "verify_token": body.verify_token,
                     "page_token": body.page_token},
        )  # fmt: skip
        send_json(resp, 200, _show(self.s, changed))

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
        )  # the caller's key decides sandbox here; the console uses the source's own
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
        ip = failure_gate(self.s, req)
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
        if req.get_header("Authorization") is not None:
            principal = await self.s.authenticate(req)
            async with self.s.pool.connection() as conn:
                source = await store.get_async(conn, sid, principal.org_id)
            if source is None:
                await self.s.charge(req, principal, 1, "write")
                raise not_found("source")
            await ingest(self.s, req, resp, source, principal, None)
            return
        async with self.s.pool.connection() as conn:
            source = await store.get_async(conn, sid, None)
        if source is None or (source.signature == "none" and not body_secret_at(source)):
            raise unauthorized()  # no key, and nothing else could vouch for the request
        raw = await read_body(req, self.s.config.max_body_bytes)
        await check_vendor_proof(self.s, req, source, raw)
        principal = principal_of(source)
        req.context.principal = principal
        await ingest(self.s, req, resp, source, principal, raw)


async def ingest(
    s: Services,
    req: Any,
    resp: Any,
    source: store.Source,
    principal: Principal,
    raw: bytes | None,
    *,
    content_type: str | None = None,
    keep: bool = True,
) -> None:
    """A vendor's post, once it is authenticated (a key, the source's signature or its URL):
    mapped and then exactly `POST /v1/leads` (leads.submit), answered with the source's success
    status, and kept as a delivery (sources/deliveries.py; not when `keep` is off: a replay).
    `raw`: the body when the signature check read it already; `content_type`: a replay's."""
    limit = s.config.max_body_bytes
    if source.format == "facebook":
        await _facebook(s, req, resp, principal, source, raw)
        return
    ctype = content_type if content_type is not None else req.content_type or ""
    warnings: list[str] = []
    read: list[bytes] = []

    async def parse() -> tuple[LeadIn, WireNames]:
        body = raw if raw is not None else await read_body(req, limit)
        read.append(body)
        doc = decode(body, ctype, source.format, source.json_field)
        lead, names, found = source_lead(source, doc)
        warnings.extend(found)
        return lead, names

    try:
        await submit(s, req, resp, principal, parse, f"POST {source.path}", warnings)
    except ProblemError as exc:
        if principal.key_id.startswith("src:"):  # a vendor's post (no key): the org reads this
            await _record_failure(s, source, exc)
        if keep and exc.status in (400, 415, 422):  # a vendor cannot send it again differently
            problem = {"code": exc.code, "detail": exc.detail}
            if exc.errors:
                problem["errors"] = msgspec.to_builtins(exc.errors)
            body = read[0] if read else raw
            await _keep(s, req, source, "refused", exc.status, problem, body, None, ctype)
        raise
    if source.success_status == 200 and str(resp.status).startswith("201"):
        resp.status = 200  # the vendor counts anything else as a failure (Webflow)
    if keep:
        try:
            answer = msgspec.json.decode(resp.data or b"{}")
        except msgspec.DecodeError:  # pragma: no cover - submit answers JSON
            answer = {}
        outcome = "duplicate" if answer.get("outcome") == "duplicate" else "created"
        status = int(str(resp.status).split()[0])
        await _keep(s, req, source, outcome, status, None, None, answer.get("lead_id"), ctype)


async def _record_failure(s: Services, source: store.Source, exc: ProblemError) -> None:
    """source.lead_failed: a signed vendor post was refused (a vendor cannot read our
    answers; the org reads this). Throttled posts are not recorded: a vendor's flood would
    become a flood of events."""
    if exc.code == "rate_limited":
        return
    problem: dict[str, Any] = {"code": exc.code, "status": exc.status, "detail": exc.detail}
    if exc.errors:
        problem["errors"] = [msgspec.to_builtins(e) for e in exc.errors]
    try:
        async with s.pool.connection() as conn, conn.transaction():
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


async def _keep(
    s: Services,
    req: Any,
    source: store.Source,
    outcome: str,
    status: int,
    problem: dict[str, Any] | None,
    body: bytes | None,
    lead_id: str | None,
    content_type: str | None,
) -> None:
    """Record a delivery; never fails the request (the answer stands without its record)."""
    try:
        secret = source.secrets(s.sources_box).get("body_secret") if body else None
    except SecretError:
        secret = None
    try:
        async with s.pool.connection() as conn:
            await deliveries.record(
                conn,
                source.org_id,
                source.source_id,
                outcome=outcome,
                status=status,
                problem=problem,
                content_type=content_type,
                headers=deliveries.kept_headers(dict(req.headers)),
                body=deliveries.redact(body, secret) if body is not None else None,
                lead_id=lead_id,
            )
    except Exception as exc:  # the store away: the lead (or the refusal) stands as answered
        log.warning("source %s: delivery not recorded: %s", source.source_id, exc)


def body_secret_at(source: store.Source) -> str | None:
    at = source.options.get("body_secret_at") if source.format != "facebook" else None
    return str(at) if at else None


async def check_vendor_proof(s: Services, req: Any, source: store.Source, raw: bytes) -> None:
    """What a source requires of a post without an API key, besides its URL: its signature
    scheme's signature and its body secret, each a 401 (and an address failure) when bad,
    counted as an `unauthorized` delivery (without its body: anyone may post those)."""
    try:
        await _check_vendor_proof(s, req, source, raw)
    except ProblemError as exc:
        if exc.code == "unauthorized" and source.format != "facebook":
            problem = {"code": exc.code, "detail": exc.detail}
            await _keep(s, req, source, "unauthorized", 401, problem, None, None, req.content_type)
        raise


async def _check_vendor_proof(s: Services, req: Any, source: store.Source, raw: bytes) -> None:
    if source.signature != "none":
        await check_signature(s, req, source, raw)
    at = body_secret_at(source)
    if at is None:
        return
    ip = failure_gate(s, req)
    try:
        expected = source.secrets(s.sources_box).get("body_secret", "")
        doc = decode(raw, req.content_type or "", source.format, source.json_field)
        given = resolve(doc, at)
        given = given[0] if isinstance(given, list) and len(given) == 1 else given
    except (ProblemError, SecretError):
        expected, given = "", None
    ok = isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
    if not (ok and expected):
        log.info("source %s: body secret refused", source.source_id)
        s.auth_failures.failed(ip)
        raise unauthorized()


def failure_gate(s: Services, req: Any) -> str:
    """The client's address, refused (429) while it has too many failed attempts."""
    ip = client_ip(req.remote_addr, req.get_header("X-Forwarded-For"), s.config.trusted_proxy_hops)
    wait = s.auth_failures.blocked(ip)
    if wait:
        raise ProblemError(
            "rate_limited",
            f"Too many failed authentication attempts; retry after {wait} s.",
            headers=[("Retry-After", str(wait))],
        )
    return ip


async def check_signature(s: Services, req: Any, source: store.Source, raw: bytes) -> None:
    """The source's signature over the raw body (401 when bad, missing or replayed; counted
    as an authentication failure of the client's address)."""
    ip = failure_gate(s, req)
    try:
        secret = source.secrets(s.sources_box).get("secret", "")
        if not secret:
            raise BadSignature("no secret")
        urls = [req.url]
        if req.url.startswith("http://"):
            urls.append("https://" + req.url[len("http://") :])
        replay = verify(source.signature, secret, raw, req.get_header, method=req.method, urls=urls)
        if replay is not None and not await _first_use(s, source, replay):
            raise BadSignature("replayed")
    except (BadSignature, SecretError) as exc:
        log.info("source %s: signature refused (%s)", source.source_id, exc)
        s.auth_failures.failed(ip)
        raise unauthorized() from None


async def _first_use(s: Services, source: store.Source, token: str) -> bool:
    """A signed timestamp's signature is good once: kept in Redis for the replay window.
    Redis away: accepted (the timestamp window still holds; the limiter degrades alike)."""
    digest = hashlib.sha256(f"{source.source_id}:{token}".encode()).hexdigest()
    try:
        got = await s.redis.set(
            f"l2i:sig:{{{source.source_id}}}:{digest}", b"1", nx=True, ex=REPLAY_WINDOW_S * 2
        )
    except Exception as exc:
        log.warning("replay check skipped (redis): %s", exc)
        return True
    return bool(got)


async def _facebook(
    s: Services, req: Any, resp: Any, principal: Any, source: store.Source, raw: bytes | None
) -> None:
    body = raw if raw is not None else await read_body(req, s.config.max_body_bytes)
    try:
        doc = decode(body, req.content_type or "", "facebook")
        notices = leadgen_notices(doc)
    except ProblemError:
        await s.charge(req, principal, 1, "write")
        raise
    # one unit per lead it will fetch (a notification of 1000 ids is 1000 fetches)
    await s.charge(req, principal, max(1, len(notices.kept)), "write")
    kept = await keep(s.pool, source, notices.kept) if notices.kept else 0
    if kept:
        s.facebook.poke()
    send_json(resp, 200, {"received": len(notices.kept), "kept": kept, "refused": notices.refused})
