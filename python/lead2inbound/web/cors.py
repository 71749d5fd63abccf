"""CORS on the lead endpoints, so a web page on another origin can send leads (docs/web-forms.md).

Only `POST /v1/leads` and `POST /v1/leads/batch` answer browsers; read, dial, suppression and key
endpoints stay server-to-server (no CORS headers: a browser never hands their answers to a page).

* A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) names no key, so it
  is answered `204` with the CORS headers when *some* live key of the service allows the origin
  (cached per worker for 30 s); otherwise it gets the answer it always got, without CORS headers,
  and the browser sends nothing.
* An actual answer (201, 200 and every error) carries `Access-Control-Allow-Origin: <origin>`
  only when the key that made the request allows that origin; before a key is known (401, 431)
  the preflight's rule applies. The origin is echoed, never `*`, and credentials (cookies) are
  never allowed: keys travel in `Authorization`, which a page sets itself.
* The key's own check (`Services.browser_gate`) refuses a request from an origin it does not
  allow with 403 before anything is stored: CORS only decides what the page may *read*.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

CORS_PATHS = frozenset({"/v1/leads", "/v1/leads/batch"})
ALLOW_METHODS = "POST"
ALLOW_HEADERS = "authorization, content-type, idempotency-key, x-request-id"
EXPOSE_HEADERS = ", ".join(
    (
        "X-Request-Id",
        "Location",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "RateLimit-Policy",
        "RateLimit",
        "Retry-After",
        "Idempotent-Replayed",
    )
)
MAX_AGE_S = "600"


def _path(req: Any) -> str:
    path = req.path
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


class Cors:
    """Falcon middleware: preflights and the CORS headers of the lead endpoints' answers."""

    def __init__(self, services: Services | None):
        self.s = services

    async def process_request(self, req: Any, resp: Any) -> None:
        if (
            self.s is None
            or req.method != "OPTIONS"
            or _path(req) not in CORS_PATHS
            or not req.get_header("Access-Control-Request-Method")
        ):
            return
        origin = req.get_header("Origin")
        resp.append_header("Vary", "Origin")
        if not origin or not await self.s.origin_allowed(origin):
            return  # answered as before, with no CORS headers: the browser stops here
        resp.status = 204
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Access-Control-Allow-Methods", ALLOW_METHODS)
        resp.set_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
        resp.set_header("Access-Control-Max-Age", MAX_AGE_S)
        resp.complete = True

    async def process_response(self, req: Any, resp: Any, resource: Any, ok: bool) -> None:
        origin = req.get_header("Origin")
        if self.s is None or origin is None or req.method != "POST" or _path(req) not in CORS_PATHS:
            return
        resp.append_header("Vary", "Origin")
        principal = req.context.get("principal")
        if principal is not None:
            allowed = principal.allows_origin(origin)
        else:
            allowed = await self.s.origin_allowed(origin)
        if allowed:
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)
