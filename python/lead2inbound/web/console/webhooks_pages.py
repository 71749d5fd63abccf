"""The Webhooks page: an org's endpoints of one mode with their latest attempts; create one,
send a test event, replay a delivery, rotate the secret, disable/enable, delete. Each calls what
`/v1/webhook-endpoints` calls (web/resources/webhooks.py) or `l2i webhooks test`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from lead2inbound.access.sessions import Session
from lead2inbound.contract.problems import ProblemError
from lead2inbound.dnc.crypto import SecretError
from lead2inbound.ops.outbound import OutboundRefused, check_url
from lead2inbound.web.console.common import ConsolePage, problem_text, sandbox_of, see_other
from lead2inbound.web.console.render import page
from lead2inbound.web.resources.webhooks import (
    delete_endpoint,
    replay_deliveries,
    rotate_secret,
    update_endpoint,
)
from lead2inbound.webhooks import endpoints as webhook_endpoints
from lead2inbound.webhooks.ping import send_test_event

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

# the rotation's overlap choices: how long the old secret still signs (the API's default first)
OVERLAPS = ((86_400, "1 day"), (3_600, "1 hour"), (604_800, "7 days"), (0, "none: at once"))


def _failed(attempt: dict[str, Any]) -> bool:
    status = attempt["status"]
    return status is None or not 200 <= status < 300


class WebhooksView(ConsolePage):
    """The Webhooks page as drawn after any of its actions."""

    ATTEMPTS = 10  # per endpoint

    async def show(
        self, resp: Any, session: Session, sandbox: bool, status: int = 200, **more: Any
    ) -> None:
        async with self.s.pool.connection() as conn:
            found = await webhook_endpoints.list_(conn, session.org_id, sandbox)
            rows = []
            for e in found:
                tried = await webhook_endpoints.attempts(
                    conn, session.org_id, e.endpoint_id, self.ATTEMPTS, None
                )
                for a in tried:
                    a["failed"] = _failed(a)
                rows.append({"endpoint": e, "attempts": tried})
        for name in ("error", "created", "tested", "replayed", "rotated", "done"):
            more.setdefault(name, None)
        more.setdefault("form", {})
        page(
            resp, "webhooks.html", status=status,
            **self.ctx(session, "webhooks", rows=rows, sandbox=sandbox, overlaps=OVERLAPS,
                       mode="test" if sandbox else "live", **more),
        )  # fmt: skip


class WebhooksPage(WebhooksView):
    """The org's endpoints of one mode with their latest attempts; create one: POST
    /v1/webhook-endpoints' checks and `endpoints.create`."""

    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        await self.show(resp, session, sandbox_of(req.get_param("mode")))

    async def on_post(self, req: Any, resp: Any) -> None:
        got = await self.posted(req, resp)
        if got is None:
            return
        session, form = got
        sandbox = sandbox_of(form.get("mode"))
        url = form.get("url", "").strip()
        kinds = list(dict.fromkeys(form.get("types", "*").replace(",", " ").split()))
        description = form.get("description", "").strip()[:500] or None
        error = webhook_endpoints.bad_types(kinds)
        if error is None:
            try:
                await check_url(url, self.s.outbound)
            except OutboundRefused as exc:
                error = f"url is refused: {exc.reason}"
        if error is None:
            try:
                async with self.s.pool.connection() as conn, conn.transaction():
                    made, secret = await webhook_endpoints.create(
                        conn, self.s.sources_box, org_id=session.org_id, sandbox=sandbox,
                        url=url, types=kinds, description=description,
                    )  # fmt: skip
            except SecretError:
                error = "the service has no L2I_SECRET_KEY to seal the signing secret"
        if error is not None:
            await self.show(resp, session, sandbox, status=422, error=error, form=form)
            return
        self.s.deliverer.poke()
        await self.show(
            resp, session, sandbox, status=201, created={"endpoint": made, "secret": secret}
        )


class WebhookAction(WebhooksView):
    """POST /console/webhooks/{id}/<action>: `test` (`send_test_event`, as `l2i webhooks
    test`), `replay` (one event, `replay_deliveries` as the API's replay), `rotate`
    (`rotate_secret`, the new secret shown once), `enable`/`disable` (`update_endpoint`, the API's
    PATCH), `delete` (`delete_endpoint`, the API's DELETE; the page asks first)."""

    def __init__(self, services: Services, action: str):
        super().__init__(services)
        self.action = action

    async def on_post(self, req: Any, resp: Any, endpoint_id: str) -> None:
        got = await self.posted(req, resp)
        if got is None:
            return
        session, form = got
        sandbox = sandbox_of(form.get("mode"))
        try:
            eid = str(uuid.UUID(endpoint_id))
        except ValueError:
            self.missing(resp, session, "webhooks", "webhook endpoint")
            return
        async with self.s.pool.connection() as conn:
            endpoint = await webhook_endpoints.get(conn, session.org_id, sandbox, eid)
        if endpoint is None:
            self.missing(resp, session, "webhooks", "webhook endpoint")
            return
        more: dict[str, Any] = {}
        try:
            more = await getattr(self, "do_" + self.action)(session, sandbox, endpoint, form)
        except ProblemError as exc:
            await self.show(resp, session, sandbox, status=422, error=problem_text(exc))
            return
        if more.get("gone"):
            self.missing(resp, session, "webhooks", "webhook endpoint")
            return
        if self.action == "delete":  # nothing to show of it: back to the list, no re-post
            see_other(resp, "/console/webhooks" + ("?mode=test" if sandbox else ""))
            return
        await self.show(resp, session, sandbox, **more)

    async def do_test(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        async with self.s.pool.connection() as conn, conn.transaction():
            tested = await send_test_event(
                conn, self.s.sources_box, self.s.outbound, session.org_id, sandbox,
                endpoint.endpoint_id,
            )  # fmt: skip
        return {"tested": {"endpoint": endpoint, **(tested or {})}}

    async def do_replay(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        try:
            event = str(uuid.UUID(form.get("event_id", "")))
        except ValueError:
            return {"replayed": {"endpoint": endpoint, "event_id": None, "scheduled": 0,
                                 "why": "no event was named"}}  # fmt: skip
        n = await replay_deliveries(
            self.s, session.org_id, sandbox, endpoint.endpoint_id, event_id=event
        )
        if n is None:
            return {"gone": True}
        why = None
        if not n:
            async with self.s.pool.connection() as conn:
                state = await webhook_endpoints.delivery_state(
                    conn, session.org_id, endpoint.endpoint_id, event
                )
            if state is None:
                why = "the endpoint never had this event, or the event is no longer kept"
            elif state["in_flight"]:
                why = "it is being sent at this moment; its answer is listed when it comes"
            else:
                why = "the event no longer matches this endpoint's types, or is no longer kept"
        return {"replayed": {"endpoint": endpoint, "event_id": event, "scheduled": n,
                             "why": why, "paused": not endpoint.enabled}}  # fmt: skip

    async def do_rotate(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        try:
            overlap = int(form.get("overlap_seconds", "86400"))
        except ValueError:
            overlap = -1  # named by the API's check
        secret = await rotate_secret(self.s, session.org_id, sandbox, endpoint.endpoint_id, overlap)
        if secret is None:
            return {"gone": True}
        label = dict(OVERLAPS).get(overlap, f"{overlap} s")
        return {"rotated": {"endpoint": endpoint, "secret": secret, "overlap": label}}

    async def _enable(
        self, session: Session, sandbox: bool, endpoint: Any, on: bool
    ) -> dict[str, Any]:
        changed = await update_endpoint(
            self.s, session.org_id, sandbox, endpoint.endpoint_id, enabled=on
        )
        if changed is None:
            return {"gone": True}
        verb = "enabled: what waited is being sent" if on else "disabled: nothing is sent"
        return {"done": f"{changed.url} is {verb}."}

    async def do_enable(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        return await self._enable(session, sandbox, endpoint, True)

    async def do_disable(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        return await self._enable(session, sandbox, endpoint, False)

    async def do_delete(
        self, session: Session, sandbox: bool, endpoint: Any, form: dict[str, str]
    ) -> dict[str, Any]:
        gone = await delete_endpoint(self.s, session.org_id, sandbox, endpoint.endpoint_id)
        return {} if gone else {"gone": True}


ACTIONS = ("test", "replay", "rotate", "enable", "disable", "delete")


def add_routes(app: Any, services: Services) -> None:
    app.add_route("/console/webhooks", WebhooksPage(services))
    for action in ACTIONS:
        app.add_route(
            f"/console/webhooks/{{endpoint_id}}/{action}", WebhookAction(services, action)
        )
