"""HTTP plumbing shared by the resources: request ids, problem answers, bodies, rate limits."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Any

import falcon
import falcon.asgi
import msgspec
import psycopg
import redis.exceptions
from psycopg_pool import PoolTimeout

from lead2inbound.contract.problems import ProblemError, unavailable
from lead2inbound.contract.schemas import Problem
from lead2inbound.store.errors import StoreUnavailable

_STORE_OUTAGES = (StoreUnavailable, psycopg.OperationalError, PoolTimeout)
_REDIS_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

log = logging.getLogger("lead2inbound.http")

_encode = msgspec.json.Encoder().encode
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
PROBLEM_JSON = "application/problem+json"

_FALCON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "header_too_large",
    503: "service_unavailable",
}


# A credential's secret part after its public id, in a path: an API key
# (`l2i_[pk_]<env>_<key id>_<secret>`, the form endpoint) or a source URL's token
# (`l2i_hook_<hook id>_<secret>`). Never logged, never echoed in a problem's `instance`.
_SECRET_IN_PATH = re.compile(r"(l2i_(?:pk_)?[a-z]+_[A-Za-z0-9]+)_[^/]+")


def public_path(path: str) -> str:
    """The path as logs and answers may show it: a credential in it by its public id only."""
    return _SECRET_IN_PATH.sub(r"\1_…", path) if "l2i_" in path else path


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def send_json(resp: falcon.asgi.Response, status: int, body: Any) -> None:
    resp.status = status
    resp.content_type = JSON
    resp.data = _encode(body)


def problem_of(exc: ProblemError, request_id: str, instance: str | None) -> Problem:
    return Problem(
        type=exc.type_uri,
        title=exc.title,
        status=exc.status,
        detail=exc.detail,
        code=exc.code,
        request_id=request_id,
        errors=exc.errors,
        instance=instance,
    )


def problem_body(exc: ProblemError, request_id: str, instance: str | None) -> Any:
    """A problem as plain data (for answers that embed problems: batch items, CSV rows)."""
    return msgspec.to_builtins(problem_of(exc, request_id, instance))


def send_problem(req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: ProblemError) -> None:
    rid = req.context.get("request_id") or new_request_id()
    problem = problem_of(exc, rid, public_path(req.path))
    resp.status = exc.status
    resp.content_type = PROBLEM_JSON
    resp.data = _encode(problem)
    for name, value in exc.headers:
        resp.set_header(name, value)


async def handle_problem(req: Any, resp: Any, exc: ProblemError, params: Any) -> None:
    send_problem(req, resp, exc)


async def handle_falcon_error(req: Any, resp: Any, exc: falcon.HTTPError, params: Any) -> None:
    """Falcon's own errors (unknown route, wrong method, ...) as problems too."""
    code = _FALCON_CODES.get(exc.status_code, "bad_request")
    detail = exc.description or exc.title or "The request could not be handled."
    problem = ProblemError(code, str(detail))
    problem.status = exc.status_code
    problem.title = str(exc.title or problem.title)
    send_problem(req, resp, problem)
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)


def outage(exc: BaseException) -> ProblemError | None:
    """The 503 problem for a store outage (what `handle_unexpected` answers), else None."""
    if isinstance(exc, _STORE_OUTAGES):
        return unavailable("The database", retry_after=1)
    if isinstance(exc, _REDIS_OUTAGES):
        return unavailable("Redis", retry_after=1)
    return None


async def handle_unexpected(req: Any, resp: Any, exc: Exception, params: Any) -> None:
    """Store outages become 503 + Retry-After; anything else is a bug, logged with its trace
    and answered with a bare problem carrying the request id (never the trace itself)."""
    if isinstance(exc, _STORE_OUTAGES):
        log.warning("database unavailable on %s %s: %s", req.method, public_path(req.path), exc)
        send_problem(req, resp, unavailable("The database", retry_after=1))
        return
    if isinstance(exc, _REDIS_OUTAGES):
        log.warning("redis unavailable on %s %s: %s", req.method, public_path(req.path), exc)
        send_problem(req, resp, unavailable("Redis", retry_after=1))
        return
    log.exception("unexpected error on %s %s", req.method, public_path(req.path))
    problem = ProblemError("service_unavailable", "Internal error; nothing was stored.")
    problem.status, problem.title, problem.code = 500, "Internal error", "internal_error"
    send_problem(req, resp, problem)


DEFAULT_BODY_TIMEOUT_S = 30.0


async def read_body(req: falcon.asgi.Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over `limit`, also when it is chunked, and (408)
    a body that does not arrive within `req.context.body_timeout_s` (a stalled or trickling
    client must not hold a request open forever)."""
    length = req.content_length
    if length is not None and length > limit:
        raise ProblemError("payload_too_large", f"The body may be at most {limit} bytes.")
    timeout_s = req.context.get("body_timeout_s") or DEFAULT_BODY_TIMEOUT_S
    try:
        async with asyncio.timeout(timeout_s):
            data = await req.stream.read(limit + 1)
    except TimeoutError:
        raise ProblemError(
            "request_timeout",
            f"The request body did not arrive within {timeout_s:g} s.",
            headers=[("Connection", "close")],
        ) from None
    if len(data) > limit:
        raise ProblemError("payload_too_large", f"The body may be at most {limit} bytes.")
    return data


def media_type(req: falcon.asgi.Request) -> tuple[str, dict[str, str]]:
    """(`type/subtype` lower-cased, parameters) of the Content-Type header."""
    raw = req.content_type or ""
    main, *params = raw.split(";")
    parsed = {}
    for p in params:
        k, _, v = p.strip().partition("=")
        if k:
            parsed[k.strip().lower()] = v.strip().strip('"')
    return main.strip().lower(), parsed


class BodyReads:
    """The ASGI app Granian serves: the Falcon app behind a guard on how a request body arrives.

    - Each piece of a body (the first included, which Falcon awaits before any of our code runs)
      must arrive within `read_timeout_s`, else 408: a client that sends headers and then
      trickles or stalls gives its connection back in seconds. This covers every body, also the
      CSV import's stream; `read_body` adds the whole-body deadline (`L2I_BODY_TIMEOUT_S`).
    - Granian reports a body it cannot decode (a bad or oversized chunk size, a chunk-extension
      flood) as `http.disconnect`, the same event as a client gone. Falcon then returns without
      answering and Granian sends a bare 500. A disconnect before the body's end is answered
      400 here (a client really gone never reads it), and a cut body is never taken as whole.
    """

    def __init__(self, app: Any, read_timeout_s: float) -> None:
        self.app = app
        self.read_timeout_s = read_timeout_s

    def __getattr__(self, name: str) -> Any:  # the Falcon app's own attributes, for tests
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = True
        done = False  # the body's last piece arrived: later receives wait for the disconnect
        failed: ProblemError | None = None

        async def guarded() -> dict[str, Any]:
            nonlocal first, done, failed
            if done:
                return await receive()
            if failed is not None:
                raise failed
            try:
                async with asyncio.timeout(self.read_timeout_s):
                    event = await receive()
            except TimeoutError:
                failed = ProblemError(
                    "request_timeout",
                    f"No part of the request body arrived for {self.read_timeout_s:g} s.",
                    headers=[("Connection", "close")],
                )
            else:
                if event["type"] != "http.disconnect":
                    first = False
                    done = not event.get("more_body", False)
                    return event
                failed = ProblemError(
                    "bad_request",
                    "The request body ended before it was complete (a malformed chunked "
                    "encoding, or the connection was cut).",
                    headers=[("Connection", "close")],
                )
            if first:  # let Falcon build the request; the body's first read raises `failed`
                first = False
                return {"type": "http.request", "body": b"", "more_body": True}
            raise failed

        await self.app(scope, guarded, send)
