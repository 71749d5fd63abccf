"""The OpenAPI 3.1 document, generated at run time from the routes and the msgspec schema.

Each resource class documents its own operations in a class attribute next to its code:

    class ThingsResource:
        openapi = {"post": Op(summary=..., scope="write", body=ThingIn,
                              responses=(Resp(201, "...", ThingOut),), errors=(422,))}

`build(app)` walks the app's routes as they are at that moment, so a new endpoint appears in the
document as soon as it is routed and documented; a test fails for any routed method without an
entry. Request and answer schemas come from the same Structs that validate requests and shape
answers (`msgspec.json.schema_components`), so the document cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from lead2inbound.contract.problems import PROBLEMS
from lead2inbound.contract.schemas import (
    SCHEMA_PATCHES,
    FacebookReceived,
    LeadResult,
    Problem,
    WebhookPayload,
)
from lead2inbound.intake.idempotency import HEADER as IDEMPOTENCY_HEADER
from lead2inbound.intake.idempotency import MAX_KEY_LENGTH, REPLAYED
from lead2inbound.store.events import TYPES as EVENT_TYPES

REF = "#/components/schemas/{name}"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
VERSION = "1.0.0"


@dataclass(frozen=True, slots=True)
class Resp:
    """One documented success answer."""

    status: int
    description: str
    schema: Any = None  # a msgspec type, or None
    media: str = JSON
    headers: tuple[str, ...] = ()  # names from HEADERS (beyond the ones every answer has)
    raw_schema: dict[str, Any] | None = None  # for bodies that are not msgspec types
    more_media: tuple[str, ...] = ()  # other media types of the same body (exports)


@dataclass(frozen=True, slots=True)
class Op:
    """One documented operation."""

    summary: str
    description: str = ""
    scope: str | None = None  # None: no authentication
    body: Any = None  # a msgspec type for the request body
    body_required: bool = True  # False: an empty body means the Struct's defaults
    media: tuple[str, ...] = (JSON,)
    raw_body: tuple[str, dict[str, Any]] | None = None  # (media type, schema) without a Struct
    responses: tuple[Resp, ...] = ()
    errors: tuple[int, ...] = ()  # problem statuses besides the auth/limit ones
    idempotent: bool = False  # takes Idempotency-Key
    tags: tuple[str, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()  # see query() and path(); path parameters
    # not listed here are documented as plain required strings
    notes: tuple[tuple[int, str], ...] = ()  # (status, text): what that error means here
    cors: bool = False  # answers browsers: every answer may carry the CORS headers (web/cors.py)
    html_errors: bool = False  # errors may also be small HTML pages (the plain-form endpoint)


def query(
    name: str, description: str, schema: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A query parameter (never required) for `Op.parameters`."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
        **extra,
    }


def path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A path parameter for `Op.parameters`."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_RATE = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id (also in problem bodies).",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "The key's requests per minute.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the budget is full again (UTC epoch seconds).",
        "schema": {"type": "integer"},
    },
    "RateLimit-Policy": {
        "description": 'IETF draft: the policy, e.g. `"default";q=120;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'IETF draft: e.g. `"default";r=119;t=1`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
    "Location": {
        "description": "The new object's URL (`/v1/leads/{lead_id}`, `/v1/api-keys/{key_id}`).",
        "schema": {"type": "string"},
    },
    REPLAYED: {
        "description": "`true` when this answer is the stored answer of an earlier "
        "request with the same Idempotency-Key (docs/idempotency.md).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {"description": "The accepted scheme.", "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {
        "description": "CORS (docs/web-forms.md): the page's `Origin`, echoed when the key that "
        "made the request allows it (on a preflight, when some live key allows it). Never `*`; "
        "credentials (cookies) are never allowed.",
        "schema": {"type": "string"},
    },
    "Access-Control-Expose-Headers": {
        "description": "CORS: the answer's headers a page may read (`X-Request-Id`, `Location`, "
        "the rate-limit headers, `Retry-After`).",
        "schema": {"type": "string"},
    },
    "Access-Control-Allow-Methods": {
        "description": "CORS preflight: `POST`.",
        "schema": {"type": "string"},
    },
    "Access-Control-Allow-Headers": {
        "description": "CORS preflight: `authorization, content-type, idempotency-key, "
        "x-request-id`.",
        "schema": {"type": "string"},
    },
    "Access-Control-Max-Age": {
        "description": "CORS preflight: seconds a browser may reuse this preflight.",
        "schema": {"type": "integer"},
    },
    "Vary": {
        "description": "`Origin` on answers to browsers: caches keep one answer per origin.",
        "schema": {"type": "string"},
    },
    "Allow": {"description": "The methods the path takes.", "schema": {"type": "string"}},
    "ETag": {
        "description": "The lead's version: send it back in `If-Match` with `PATCH` so a change "
        "made meanwhile is not overwritten (412).",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "`attachment` with a file name (exports).",
        "schema": {"type": "string"},
    },
}

_CORS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary")

ERROR_TEXT: dict[int, str] = {
    400: "The body (or a header such as Idempotency-Key) could not be parsed.",
    401: "Missing or invalid API key (one generic answer for every authentication failure).",
    403: "The key lacks the scope this endpoint needs.",
    404: "No such object (or it belongs to another org).",
    405: "The method is not allowed on this path (the `Allow` header lists those that are).",
    409: "Conflict: a request with this Idempotency-Key is still in flight, or (dial queue) "
    "the lead is not leased to the caller.",
    412: "`If-Match` does not name the current `ETag`: read the object again.",
    413: "The body is too large.",
    415: "The Content-Type is not one of those accepted.",
    422: "Validation failed: `errors` names the bad fields (at most 20); or the Idempotency-Key "
    "was used with another body (`idempotency_key_reused`).",
    429: "Rate limited: retry after `Retry-After` seconds.",
    503: "A backing store is unavailable; nothing was stored. Retry after `Retry-After`.",
}


def _codes_for(status: int) -> list[str]:
    return [code for code, (st, _) in PROBLEMS.items() if st == status]


def _header_refs(names: tuple[str, ...] | list[str], required: bool) -> dict[str, Any]:
    out = {}
    for name in names:
        ref = {"$ref": f"#/components/headers/{name}"}
        out[name] = ref if not required else {**HEADERS[name], "required": True}
    return out


def routes(app: Any) -> list[tuple[str, Any]]:
    """(uri template, resource) for every route of a Falcon app, in the order added."""
    found: list[tuple[str, Any]] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            # the console's pages (`api = False`) are HTML for people, not the API
            if node.resource is not None and getattr(node.resource, "api", True):
                found.append((node.uri_template, node.resource))
            walk(node.children)

    walk(app._router._roots)
    return found


def routed_methods(resource: Any) -> list[str]:
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(resource, f"on_{m}")]


def documented_methods(resource: Any) -> list[str]:
    """The routed methods, and `options` where a resource documents its CORS preflight (which
    web/cors.py answers, not the resource)."""
    docs = getattr(resource, "openapi", {}) or {}
    return routed_methods(resource) + (["options"] if "options" in docs else [])


def _webhooks(payload_ref: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: what an endpoint receives, one entry per event type
    (docs/events.md)."""
    signed = [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"},
         "description": text}
        for name, text in (
            ("webhook-id", "The event id: the same on every retry (deduplicate on it)."),
            ("webhook-timestamp", "Unix seconds when this try was signed."),
            ("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`; two, space "
             "separated, during a secret rotation's overlap."),
        )
    ]  # fmt: skip
    return {
        kind: {
            "post": {
                "summary": kind,
                "description": f"Sent when {why}. Answer 2xx within 10 s; anything else is "
                "retried (docs/events.md); 410 Gone disables the endpoint.",
                "parameters": signed,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": payload_ref}},
                },
                "responses": {"2XX": {"description": "Received."}},
            }
        }
        for kind, why in EVENT_TYPES.items()
    }


def build(app: Any, *, title: str = "lead2inbound intake API") -> dict[str, Any]:
    types: list[Any] = [Problem, LeadResult, FacebookReceived, WebhookPayload]
    ops: list[tuple[str, str, Op]] = []
    for template, resource in routes(app):
        docs: dict[str, Op] = getattr(resource, "openapi", {}) or {}
        for method in documented_methods(resource):
            op = docs.get(method)
            if op is None:
                continue  # undocumented: tests/test_openapi.py fails on it
            ops.append((template, method, op))
            if op.body is not None:
                types.append(op.body)
            types.extend(r.schema for r in op.responses if r.schema is not None)
    seen: list[Any] = []
    for t in types:
        if t not in seen:
            seen.append(t)
    refs, components = msgspec.json.schema_components(seen, ref_template=REF)
    ref_of = dict(zip(seen, refs, strict=True))
    for schema in components.values():
        for prop in schema.get("properties", {}).values():
            _hoist(prop, components)
    for name, props in SCHEMA_PATCHES.items():
        if name in components:
            components[name]["properties"].update(props)

    paths: dict[str, dict[str, Any]] = {}
    for template, method, op in ops:
        paths.setdefault(template, {})[method] = _operation(template, method, op, ref_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": VERSION,
            "description": "Send leads in (one, a batch, or a CSV file), read them back, hand "
            "them to the dialer (dial queue), keep the org's suppression list and API keys. "
            "Errors are RFC 9457 problems. Every authenticated answer carries rate-limit "
            "headers. Field reference: docs/fields.md; errors: docs/errors.md.",
        },
        "paths": paths,
        "webhooks": _webhooks(ref_of[WebhookPayload]),
        "components": {
            "schemas": components,
            "headers": HEADERS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer l2i_live_...`",
                },
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The API key as the user name, empty password.",
                },
            },
        },
        "tags": [
            {"name": "leads", "description": "Send leads and read them back."},
            {"name": "dial-queue", "description": "The dialer: claim leads, report outcomes."},
            {"name": "suppressions", "description": "The org's opt-out list."},
            {"name": "api-keys", "description": "Manage the org's API keys."},
            {
                "name": "privacy",
                "description": "Erasure on request, retention (docs/privacy.md).",
            },
            {
                "name": "sources",
                "description": "Lead sources: vendors' own webhook payloads, mapped into leads "
                "(docs/lead-sources.md).",
            },
            {
                "name": "forms",
                "description": "Web forms straight from the browser: publishable keys, plain "
                "HTML forms, the consent snippet (docs/web-forms.md).",
            },
            {"name": "operations", "description": "Health, readiness, metrics, docs."},
        ],
    }


def _hoist(prop: dict[str, Any], components: dict[str, Any]) -> None:
    """`T | None` fields: show T's description and examples on the property itself."""
    if "description" in prop or "anyOf" not in prop:
        return
    for option in prop["anyOf"]:
        ref = option.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            target = components.get(ref.rsplit("/", 1)[1], {})
            if "description" in target:
                prop["description"] = target["description"]
                return
        if "description" in option:
            prop["description"] = option.pop("description")
            if "examples" in option:
                prop["examples"] = option.pop("examples")
            return


def _operation(template: str, method: str, op: Op, ref_of: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": _operation_id(template, method),
        "summary": op.summary,
        "tags": list(op.tags) or ["operations"],
    }
    if op.description:
        out["description"] = op.description
    params = [dict(p) for p in op.parameters]
    named = {p["name"] for p in params if p.get("in") == "path"}
    for part in template.split("/"):
        if part.startswith("{") and part.endswith("}") and part[1:-1] not in named:
            params.append(path(part[1:-1], f"The `{part[1:-1]}`."))
    if op.idempotent:
        params.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "Makes retries safe: the same key and body within 24 hours replay "
                "the first answer (docs/idempotency.md). A UUID is a good choice.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    "pattern": "^[ -~]+$",
                },
            }
        )
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = ref_of[op.body]
        out["requestBody"] = {
            "required": op.body_required,
            "content": {m: {"schema": schema} for m in op.media},
        }
    elif op.raw_body is not None:
        media, schema = op.raw_body
        out["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    authed = op.scope is not None
    responses: dict[str, Any] = {}
    for r in op.responses:
        entry: dict[str, Any] = {"description": r.description}
        hdrs = _header_refs(["X-Request-Id"], required=True)
        hdrs.update(_header_refs(list(r.headers), required=True))
        if authed:
            hdrs.update(_header_refs(list(_RATE), required=True))
        if op.idempotent:
            hdrs.update(_header_refs([REPLAYED], required=False))
        if op.cors:
            hdrs.update(_header_refs(list(_CORS), required=False))
        entry["headers"] = hdrs
        if r.schema is not None:
            entry["content"] = {r.media: {"schema": ref_of[r.schema]}}
        elif r.raw_schema is not None:
            entry["content"] = {m: {"schema": r.raw_schema} for m in (r.media, *r.more_media)}
        responses[str(r.status)] = entry
    statuses = set(op.errors)
    if authed:  # the key lookup and the rate limiter need the stores: 503 when they are down
        statuses |= {401, 403, 429, 503}
    notes = dict(op.notes)
    for status in sorted(statuses):
        codes = [c for c in _codes_for(status) if op.idempotent or not c.startswith("idempotency")]
        hdrs = _header_refs(["X-Request-Id"], required=True)
        if authed and status != 401:
            hdrs.update(_header_refs(list(_RATE), required=False))
        if status in (409, 429, 503):
            hdrs.update(_header_refs(["Retry-After"], required=status != 409))
        if status == 401:
            hdrs.update(_header_refs(["WWW-Authenticate"], required=True))
        if op.idempotent and status == 422:
            hdrs.update(_header_refs([REPLAYED], required=False))
        if op.cors:
            hdrs.update(_header_refs(list(_CORS), required=False))
        text = notes.get(status) or ERROR_TEXT.get(status, "Error.")
        responses[str(status)] = {
            "description": text
            + (f" Codes: {', '.join('`' + c + '`' for c in codes)}." if codes else ""),
            "headers": hdrs,
            "content": {
                PROBLEM_JSON: {"schema": ref_of[Problem]},
                **({"text/html": {"schema": {"type": "string"}}} if op.html_errors else {}),
            },
        }
    out["responses"] = responses
    if authed:
        out["security"] = [{"bearerAuth": []}, {"basicAuth": []}]
        out["description"] = (out.get("description", "") + f"\n\nScope: `{op.scope}`.").strip()
    return out


def _operation_id(template: str, method: str) -> str:
    parts = [p.strip("{}").replace("-", "_") for p in template.strip("/").split("/") if p]
    return method + "_" + "_".join(parts or ["root"])


def preflight(path_: str) -> Op:
    """The CORS preflight of a lead endpoint (answered by web/cors.py)."""
    return Op(
        summary=f"CORS preflight for POST {path_}",
        description="What a browser asks before a page on another origin may `POST` here. "
        "A preflight names no key, so it is answered `204` with the CORS headers when some live "
        "key of the service allows the `Origin`; otherwise it gets the plain `OPTIONS` answer "
        "(`200` with `Allow`, no CORS headers) and the browser sends nothing. Whether the "
        "actual request is then taken is the key's decision: a key that does not allow the "
        "origin is a `403` (docs/web-forms.md).",
        parameters=(
            {
                "name": "Origin",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "The page's origin, as the browser sends it.",
            },
            {
                "name": "Access-Control-Request-Method",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "`POST`.",
            },
            {
                "name": "Access-Control-Request-Headers",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "E.g. `authorization, content-type`.",
            },
        ),
        responses=(
            Resp(
                204,
                "Preflight from an allowed origin: the browser may send the request.",
                headers=(
                    "Access-Control-Allow-Origin",
                    "Access-Control-Allow-Methods",
                    "Access-Control-Allow-Headers",
                    "Access-Control-Max-Age",
                    "Vary",
                ),
            ),
            Resp(
                200, "Not a preflight from an allowed origin: no CORS headers.", headers=("Allow",)
            ),
        ),
        tags=("leads", "forms"),
    )
