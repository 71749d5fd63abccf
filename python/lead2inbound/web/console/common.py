"""What every console page shares: the security headers, reading a form, the signed-in
prelude (`ConsolePage.signed_in`, and `ConsolePage.posted` for a state change: session, form,
CSRF in one call), the navigation and the page context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import falcon

from lead2inbound.access.sessions import Session
from lead2inbound.contract.problems import ProblemError
from lead2inbound.web.console import gate
from lead2inbound.web.console.render import page

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

FORM_MAX = 65_536
NAV = (
    ("overview", "Overview", "/console/overview"),
    ("leads", "Leads", "/console/leads"),
    ("queue", "Dial queue", "/console/queue"),
    ("suppressions", "Suppressions", "/console/suppressions"),
    ("sources", "Sources", "/console/sources"),
    ("webhooks", "Webhooks", "/console/webhooks"),
    ("keys", "API keys", "/console/keys"),
)


def see_other(resp: Any, location: str) -> None:
    resp.status = 303
    resp.location = location


def headers(resp: Any) -> None:
    for name, value in gate.SECURITY_HEADERS:
        resp.set_header(name, value)


async def read_form(req: Any, limit: int = FORM_MAX) -> dict[str, str]:
    """An urlencoded form body (each field once; the first wins), at most `limit` bytes."""
    body = await req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise falcon.HTTPPayloadTooLarge(title="Too large", description="The form is too large.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def problem_text(exc: ProblemError) -> str:
    """A problem as one line for a page: its detail and the fields' messages."""
    parts = [exc.detail or exc.code]
    parts += [f"{err.param}: {err.detail}" for err in exc.errors or ()]
    return " ".join(p for p in parts if p)


def sandbox_of(value: Any) -> bool:
    """The page's mode: live unless `mode=test` (a sandbox key's endpoints and events)."""
    return value == "test"


def base_url(s: Services, req: Any) -> str:
    return s.config.public_url.rstrip("/") or f"{req.scheme}://{req.netloc}"


class ConsolePage:
    """A page of a signed-in org: `session`, the CSRF token and the navigation in `ctx`."""

    api = False  # not part of the API document (openapi.routes skips it)

    def __init__(self, services: Services):
        self.s = services

    async def signed_in(self, req: Any, resp: Any) -> Session | None:
        headers(resp)
        try:
            return await gate.session_of(self.s, req)
        except gate.SignInRequired:
            if req.method == "GET":
                resp.status = 303
                resp.location = "/console/sign-in"
            else:
                resp.status = 401
                resp.content_type = "text/plain; charset=utf-8"
                resp.text = "Signed out: sign in again."
            return None

    async def posted(
        self, req: Any, resp: Any, limit: int = FORM_MAX
    ) -> tuple[Session, dict[str, str]] | None:
        """The prelude of every form POST: the session (None: answered already, signed out),
        the form (at most `limit` bytes) and its CSRF check (a 403 when it fails)."""
        session = await self.signed_in(req, resp)
        if session is None:
            return None
        form = await read_form(req, limit)
        gate.check_csrf(self.s, req, session, form)
        return session, form

    def missing(self, resp: Any, session: Session, here: str, what: str) -> None:
        """The 404 page: another org's id and no id at all look the same."""
        page(resp, "not_found.html", status=404, **self.ctx(session, here, what=what))

    def ctx(self, session: Session, here: str, **more: Any) -> dict[str, Any]:
        return {
            "org_name": session.org_name,
            "csrf": gate.csrf_for(self.s, session),
            "nav": NAV,
            "here": here,
            **more,
        }
