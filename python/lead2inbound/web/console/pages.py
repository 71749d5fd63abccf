"""The console's pages (docs/console.md; the Sources pages are in sources_pages.py, the
Webhooks page in webhooks_pages.py). Each one finds the session's org through the gate
and then calls what the API resources call: `list_leads`, `read_lead`, the key store's
`checked_new_key`/`create_new_key`, `Services.revoke_key`."""

from __future__ import annotations

import contextlib
import importlib.resources
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import falcon
from psycopg.rows import dict_row

from lead2inbound._core import InvalidPhone, normalize
from lead2inbound.access import keystore, sessions
from lead2inbound.access.sessions import Session
from lead2inbound.contract.problems import ProblemError
from lead2inbound.dialing import calling_hours
from lead2inbound.dialing.leads import lead_json
from lead2inbound.ops.metrics import latency_quantiles
from lead2inbound.store.events import event_json
from lead2inbound.store.queries import sql
from lead2inbound.web.console import charts, gate, sources_pages, webhooks_pages
from lead2inbound.web.console.common import (
    ConsolePage,
    headers,
    problem_text,
    read_form,
    sandbox_of,
    see_other,
)
from lead2inbound.web.console.render import page
from lead2inbound.web.resources.events import Filters, read_after, serve_stream
from lead2inbound.web.resources.read import list_leads, read_lead
from lead2inbound.web.resources.suppressions import suppress, suppression_page, unsuppress

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
LIVE_OVERLAP = timedelta(seconds=5)  # the Leads page's live rows look back this far
_SUPPRESS_MAX_LINES = 20_000  # a pasted or imported list, sent in chunks of the API's 1000


# --- sign-in, sign-out ---------------------------------------------------------------------


class SignInPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        headers(resp)
        page(resp, "sign_in.html", error=None)

    async def on_post(self, req: Any, resp: Any) -> None:
        headers(resp)
        if not gate.same_origin(req):
            raise falcon.HTTPForbidden(title="Forbidden", description="Cross-site sign-in.")
        form = await read_form(req)
        key = form.get("key", "")
        try:
            principal = await self.s.authenticate(req, pasted_key=key)
        except ProblemError as exc:
            status = 429 if exc.code == "rate_limited" else 401
            message = exc.detail if status == 429 else "That key is not a valid API key."
            page(resp, "sign_in.html", status=status, error=message)
            return
        if "admin" not in principal.scopes:
            page(
                resp, "sign_in.html", status=403,
                error="That key has no admin scope: only an admin key signs in to the console.",
            )  # fmt: skip
            return
        async with self.s.pool.connection() as conn:
            token = await sessions.open_session(conn, principal.org_id, principal.key_id)
        gate.set_cookie(self.s, req, resp, token)
        see_other(resp, "/console")


class LinkPage(ConsolePage):
    """`l2i console link` prints `/console/link#<token>`: the token stays in the fragment (never
    sent in a URL, so never in a log); the page's script posts it."""

    async def on_get(self, req: Any, resp: Any) -> None:
        headers(resp)
        page(resp, "link.html", error=None)

    async def on_post(self, req: Any, resp: Any) -> None:
        headers(resp)
        if not gate.same_origin(req):
            raise falcon.HTTPForbidden(title="Forbidden", description="Cross-site sign-in.")
        form = await read_form(req)
        async with self.s.pool.connection() as conn:
            org_id = await sessions.use_link(conn, form.get("token"))
            if org_id is None:
                page(
                    resp, "link.html", status=401,
                    error="This sign-in link is used, expired or unknown: ask for a new one.",
                )  # fmt: skip
                return
            token = await sessions.open_session(conn, org_id, None)
        gate.set_cookie(self.s, req, resp, token)
        see_other(resp, "/console")


class SignOut(ConsolePage):
    async def on_post(self, req: Any, resp: Any) -> None:
        got = await self.posted(req, resp)
        if got is None:
            return
        session, _ = got
        async with self.s.pool.connection() as conn:
            await sessions.sign_out(conn, session.token)
        gate.clear_cookie(self.s, req, resp)
        see_other(resp, "/console/sign-in")


class Home(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        if await self.signed_in(req, resp) is None:
            return
        see_other(resp, "/console/overview")


class Static:
    api = False

    async def on_get(self, req: Any, resp: Any, name: str) -> None:
        kind = _STATIC.get(name)
        if kind is None:
            raise falcon.HTTPNotFound()
        files = importlib.resources.files("lead2inbound.web.console") / "static" / name
        resp.content_type = kind
        resp.data = files.read_bytes()
        resp.set_header("Cache-Control", "public, max-age=300")
        resp.set_header("X-Content-Type-Options", "nosniff")


# --- leads ----------------------------------------------------------------------------------

FILTERS = ("status", "source", "phone", "created_after", "created_before")


def _lead_filters(req: Any) -> dict[str, str]:
    """The filter form's values; a plain date becomes that day's start (UTC) so the API's
    RFC 3339 rule applies to the rest."""
    shown = {}
    for name in FILTERS:
        value = req.params.get(name)
        if isinstance(value, str) and value:
            shown[name] = value
            if name.startswith("created_") and _DATE.match(value):
                req.params[name] = f"{value}T00:00:00+00:00"
    return shown


class LeadsPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        shown = _lead_filters(req)
        req.params.setdefault("limit", "50")
        error = None
        listing: dict[str, Any] = {"data": [], "has_more": False, "next_cursor": None}
        try:
            listing = await list_leads(self.s, req, session.org_id)
        except ProblemError as exc:
            error = problem_text(exc)
        more = None
        if listing["next_cursor"]:
            more = "/console/leads?" + urlencode(
                {**shown, "starting_after": listing["next_cursor"]}
            )
        newest = listing["data"][0]["created_at"] if listing["data"] else None
        live = None
        if not req.params.get("starting_after") and not error:
            live = "/console/leads/rows?" + urlencode(
                {k: v for k, v in shown.items() if k != "created_after"}
            )
        page(
            resp, "leads.html",
            **self.ctx(session, "leads", leads=listing["data"], filters=shown, error=error,
                       more=more, live=live, newest=newest),
        )  # fmt: skip


class LeadRows(ConsolePage):
    """The rows newer than `created_after`, for the Leads page's live updates (console.js asks
    for them each time the event stream says a lead was created)."""

    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        _lead_filters(req)
        req.params["limit"] = "100"
        # A lead's created_at is its transaction's start: one that commits a moment after a newer
        # one would fall behind the page's newest. Ask again over the last few seconds; the
        # page skips the rows it has.
        since = req.params.get("created_after")
        if isinstance(since, str):
            with contextlib.suppress(ValueError):  # a bad one: list_leads names it
                req.params["created_after"] = (
                    datetime.fromisoformat(since) - LIVE_OVERLAP
                ).isoformat()
        try:
            listing = await list_leads(self.s, req, session.org_id)
        except ProblemError:
            listing = {"data": []}
        page(resp, "lead_rows.html", leads=listing["data"])


class EventStream(ConsolePage):
    """GET /console/events/stream: `GET /v1/events/stream` for the session (its org; live, or
    `mode=test`), the same stream code. The Leads page follows `lead.created` with it. It
    ends within a few seconds of the session's end (sign-out, expiry, its key revoked): the
    stream asks `sessions.alive` every ALIVE_CHECK_S, on whichever node holds it."""

    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        sandbox = sandbox_of(req.get_param("mode"))
        pool, token = self.s.pool, session.token

        async def alive() -> bool:
            try:
                async with pool.connection() as conn:
                    return await sessions.alive(conn, token)
            except Exception:  # the store away: the stream's own reads say so
                return True

        await serve_stream(self.s, req, resp, session.org_id, sandbox, alive)


class LeadPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any, lead_id: str) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        try:
            row = await read_lead(self.s, session.org_id, lead_id)
        except ProblemError:
            row = None
        if row is None:
            self.missing(resp, session, "leads", "lead")
            return
        now = self.s.clock()
        lead = lead_json(row, now, self.s.enforce_hours)
        windows = calling_hours.local_windows(
            row.get("timezones") or calling_hours.ANY_US,
            row.get("calling_rules") or (calling_hours.FEDERAL,),
            now,
        )
        # its timeline: the event log's entries for it (GET /v1/leads/{id}/events' reading)
        timeline = await read_after(
            self.s, session.org_id, row["sandbox"], Filters(lead_id=str(row["lead_id"])), None,
            200,
        )  # fmt: skip
        zones = row.get("timezones") or [row.get("timezone") or "UTC"]
        at = calling_hours.callable_at_local(lead["callable_at"], zones[0])
        page(
            resp, "lead.html",
            **self.ctx(session, "leads", lead=lead, windows=windows, callable_local=at,
                       timeline=[event_json(e) for e in timeline]),
        )  # fmt: skip


# --- API keys -------------------------------------------------------------------------------


class KeysPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        await self.show(resp, session)

    async def show(self, resp: Any, session: Session, status: int = 200, **more: Any) -> None:
        async with self.s.pool.connection() as conn:
            keys = await keystore.list_keys_async(conn, session.org_id)
        more.setdefault("created", None)
        more.setdefault("error", None)
        more.setdefault("form", {})
        page(resp, "keys.html", status=status, **self.ctx(session, "keys", keys=keys, **more))

    async def on_post(self, req: Any, resp: Any) -> None:
        """Create a key: the same rules and code as POST /v1/api-keys."""
        got = await self.posted(req, resp)
        if got is None:
            return
        session, form = got
        try:
            new = keystore.checked_new_key(
                name=form.get("name", "").strip(),
                kind=form.get("kind", "secret"),
                scopes=",".join(v for v in ("write", "read", "dial", "admin") if form.get(v)),
                rate_limit=_int(form.get("rate_limit"), "rate_limit"),
                test=form.get("env") == "test",
                allowed_origins=",".join(form.get("allowed_origins", "").replace(",", " ").split())
                or None,
                ip_rate_limit=_int(form["ip_rate_limit"], "ip_rate_limit")
                if form.get("ip_rate_limit")
                else None,
                success_url=form.get("success_url") or None,
                error_url=form.get("error_url") or None,
            )
        except keystore.KeyStoreError as exc:
            message = f"{exc.param}: {exc}" if exc.param else str(exc)
            await self.show(resp, session, status=422, error=message, form=form)
            return
        async with self.s.pool.connection() as conn:
            full, info = await keystore.create_new_key(
                conn, session.org_id, self.s.config.key_pepper.encode(), new
            )
        await self.show(resp, session, status=201, created={"key": full, "info": info})


def _int(raw: str | None, param: str) -> int:
    try:
        return int((raw or "").strip())
    except ValueError:
        raise keystore.KeyStoreError(f"{param} must be a whole number", param) from None


class KeyRevoke(ConsolePage):
    async def on_post(self, req: Any, resp: Any, key_id: str) -> None:
        got = await self.posted(req, resp)
        if got is None:
            return
        session, _ = got
        valid = len(key_id) == 12 and key_id.isalnum() and key_id.isascii()
        row = await self.s.revoke_key(session.org_id, key_id) if valid else None
        if row is None:
            self.missing(resp, session, "keys", "key")
            return
        see_other(resp, "/console/keys")


# --- overview -------------------------------------------------------------------------------


class OverviewPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        now = self.s.clock()
        org = session.org_id
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                sql("console_lead_minutes"), {"org": org, "since": now - timedelta(hours=24)}
            )
            minutes = await cur.fetchall()
            cur = await conn.execute(sql("console_queue_stats"), {"org": org, "now": now})
            queue = await cur.fetchone()
            cur = await conn.execute(
                "SELECT provider, connected_at FROM dnc_connections WHERE org_id = %s", (org,)
            )
            dnc = await cur.fetchone()
        chart = charts.leads_per_minute(minutes, now)
        count, (p50, p99) = latency_quantiles("/v1/leads", "POST")
        page(
            resp, "overview.html",
            **self.ctx(session, "overview", chart=chart, queue=queue, dnc=dnc, now=now,
                       intake={"count": count, "p50": p50, "p99": p99}),
        )  # fmt: skip


# --- dial queue -----------------------------------------------------------------------------


class QueuePage(ConsolePage):
    NEXT = 50

    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        now = self.s.clock()
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                sql("console_queue_stats"), {"org": session.org_id, "now": now}
            )
            stats = await cur.fetchone()
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                sql("console_queue_next"), {"org": session.org_id, "limit": self.NEXT}
            )
            rows = await cur.fetchall()
        entries = []
        for r in rows:
            zones = r["timezones"] or calling_hours.ANY_US
            rules = r["calling_rules"] or (calling_hours.FEDERAL,)
            leased = r["lease_expires_at"] is not None and r["lease_expires_at"] > now
            at = None if leased else calling_hours.next_callable(zones, rules, now)
            if not self.s.enforce_hours and not leased:
                at = now
            entries.append({
                **r,
                "leased": leased,
                "callable_now": at == now and not r["sandbox"],
                "callable_local": calling_hours.callable_at_local(
                    at.isoformat() if at else None, zones[0]),
                "windows": calling_hours.local_windows(zones[:1], rules, now),
            })  # fmt: skip
        page(
            resp, "queue.html",
            **self.ctx(session, "queue", stats=stats, entries=entries, limit=self.NEXT,
                       callable_now=sum(1 for e in entries if e["callable_now"])),
        )  # fmt: skip


# --- suppressions ---------------------------------------------------------------------------


class SuppressionsPage(ConsolePage):
    PAGE = 50

    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        await self.show(req, resp, session)

    async def show(
        self, req: Any, resp: Any, session: Session, status: int = 200, **more: Any
    ) -> None:
        org = session.org_id
        query = req.get_param("q") or ""
        error = more.pop("error", None)
        found: list[Any] = []
        has_more = False
        cursor = None
        if query:
            try:
                e164 = normalize(query).e164
            except InvalidPhone:
                error = error or f"{query[:40]!r} is not a possible phone number."
            else:
                async with self.s.pool.connection() as conn:
                    cur = await conn.execute(sql("suppression_get"), {"org": org, "phone": e164})
                    row = await cur.fetchone()
                found = [row] if row else []
        else:
            c_at, c_phone = None, None
            raw = req.get_param("after")
            parts = self.s.cursors.verify(org, "suppressions", raw) if raw else None
            if parts is not None and len(parts) == 2:
                c_at, c_phone = datetime.fromisoformat(parts[0]), parts[1]
            found, has_more = await suppression_page(self.s, org, self.PAGE, c_at, c_phone)
            if has_more:
                cursor = self.s.cursors.sign(
                    org, "suppressions", (found[-1][2].isoformat(), found[-1][0])
                )
        more.setdefault("result", None)
        page(
            resp, "suppressions.html", status=status,
            **self.ctx(session, "suppressions", rows=found, query=query, error=error,
                       more=f"/console/suppressions?{urlencode({'after': cursor})}"
                       if cursor else None, **more),
        )  # fmt: skip

    async def on_post(self, req: Any, resp: Any) -> None:
        """Add one number or a pasted (or imported CSV) list: the API's `suppress`, in chunks
        of its 1000-number limit."""
        got = await self.posted(req, resp, 2_000_000)
        if got is None:
            return
        session, form = got
        raws = phones_in(form.get("phones", ""))
        reason = form.get("reason") or None
        if not raws or len(raws) > _SUPPRESS_MAX_LINES:
            await self.show(
                req, resp, session, status=422,
                error=f"Paste 1 to {_SUPPRESS_MAX_LINES} numbers, one a line.",
            )  # fmt: skip
            return
        total: dict[str, list[Any]] = {"added": [], "already_present": [], "errors": [],
                                       "dequeued": []}  # fmt: skip
        try:
            for start in range(0, len(raws), 1000):
                try:
                    part = await suppress(
                        self.s, session.org_id, raws[start : start + 1000], reason
                    )
                except ProblemError as exc:
                    if exc.code != "invalid_phone":
                        raise
                    chunk = raws[start : start + 1000]  # not one number possible
                    part = {"added": [], "already_present": [], "dequeued": [],
                            "errors": [{"index": i, "detail": "not a possible phone number"}
                                       for i in range(len(chunk))]}  # fmt: skip
                for err in part["errors"]:
                    err["index"] += start
                    err["phone"] = raws[err["index"]] if err["index"] < len(raws) else ""
                for k in total:
                    total[k] += part[k]
        except ProblemError as exc:
            await self.show(req, resp, session, status=422, error=problem_text(exc))
            return
        await self.show(req, resp, session, result=total)


def phones_in(text: str) -> list[str]:
    """Numbers from a pasted list or a CSV: one a line, the first cell of each; a header line
    (no digit in it) is skipped."""
    out = []
    for line in text.splitlines():
        cell = line.split(",")[0].split(";")[0].split("\t")[0].strip().strip('"').strip()
        if cell and any(ch.isdigit() for ch in cell):
            out.append(cell)
    return out


class SuppressionRemove(ConsolePage):
    async def on_post(self, req: Any, resp: Any) -> None:
        got = await self.posted(req, resp)
        if got is None:
            return
        session, form = got
        e164 = await unsuppress(self.s, session.org_id, form.get("phone", ""))
        if e164 is None:
            self.missing(resp, session, "suppressions", "suppression")
            return
        see_other(resp, "/console/suppressions")


def add_routes(app: Any, services: Services) -> None:
    app.add_route("/console", Home(services))
    app.add_route("/console/sign-in", SignInPage(services))
    app.add_route("/console/link", LinkPage(services))
    app.add_route("/console/sign-out", SignOut(services))
    app.add_route("/console/static/{name}", Static())
    app.add_route("/console/overview", OverviewPage(services))
    app.add_route("/console/queue", QueuePage(services))
    app.add_route("/console/suppressions", SuppressionsPage(services))
    app.add_route("/console/suppressions/remove", SuppressionRemove(services))
    app.add_route("/console/leads", LeadsPage(services))
    app.add_route("/console/leads/rows", LeadRows(services))
    app.add_route("/console/leads/{lead_id}", LeadPage(services))
    app.add_route("/console/events/stream", EventStream(services))
    app.add_route("/console/keys", KeysPage(services))
    app.add_route("/console/keys/{key_id}/revoke", KeyRevoke(services))
    sources_pages.add_routes(app, services)
    webhooks_pages.add_routes(app, services)
