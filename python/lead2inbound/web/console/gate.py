"""Who is looking at the console: a session cookie to one org (access/sessions.py), CSRF on
every state-changing request, and the headers every console answer carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon

from lead2inbound.access import sessions
from lead2inbound.access.sessions import Session

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

COOKIE = "l2i_console"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"

SECURITY_HEADERS = (
    # No inline script or style anywhere: everything comes from /console/static/.
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make form posts say `Origin: null`
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SignInRequired(Exception):
    """No live session: pages redirect to the sign-in page, fetches get a 401."""


def secure(s: Services, req: Any) -> bool:
    """`Secure` cookies whenever the request is https or the service's public URL is."""
    return req.scheme == "https" or s.config.public_url.lower().startswith("https://")


def set_cookie(s: Services, req: Any, resp: Any, token: str) -> None:
    resp.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        http_only=True,
        secure=secure(s, req),
        same_site="Strict",
        max_age=int(sessions.LIFETIME.total_seconds()),
    )


def clear_cookie(s: Services, req: Any, resp: Any) -> None:
    resp.unset_cookie(COOKIE, path=COOKIE_PATH, same_site="Strict")


def cookie_token(req: Any) -> str | None:
    values = req.get_cookie_values(COOKIE) or []
    return values[0] if values else None


def same_origin(req: Any) -> bool:
    """A state change must come from a page of this service: the browser's `Sec-Fetch-Site`
    (when sent) says `same-origin`, and an `Origin` (when sent) is this host. A cross-site form
    fails here before its CSRF token is even read."""
    site = req.get_header("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = req.get_header("Origin")
    if origin is not None:
        host = (req.get_header("Host") or "").lower()
        _, _, rest = origin.partition("://")
        if not host or rest.lower() != host:
            return False
    return True


async def session_of(s: Services, req: Any) -> Session:
    """The live session of the request's cookie, or SignInRequired."""
    token = cookie_token(req)
    if not token:
        raise SignInRequired()
    async with s.pool.connection() as conn:
        found = await sessions.current(conn, token)
    if found is None:
        raise SignInRequired()
    return found


def check_csrf(s: Services, req: Any, session: Session, form: dict[str, str]) -> None:
    """Every state-changing request: same origin, and the session's CSRF token in the form or
    the `X-CSRF-Token` header. Refused: 403, nothing changed."""
    presented = form.get(CSRF_FIELD) or req.get_header(CSRF_HEADER)
    pepper = s.config.key_pepper.encode()
    if not same_origin(req) or not sessions.csrf_ok(pepper, session.token, presented):
        raise falcon.HTTPForbidden(
            title="Forbidden", description="This request did not come from a console page."
        )


def csrf_for(s: Services, session: Session) -> str:
    return sessions.csrf_token(s.config.key_pepper.encode(), session.token)
