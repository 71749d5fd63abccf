"""The Sources pages: list and create (the API's `create_source`), a source's page with its
mapping editor and live preview (the API's `store.check_patch` and `preview_payload` on the
draft: one code path), Save (`update_source`, as `PATCH /v1/sources/{id}`), its vendor secrets
replaced write-only (the same `update_source`), and a Facebook source's waiting fetches."""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import falcon

from lead2inbound.access.sessions import Session
from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.wire import decode_json
from lead2inbound.sources import hooks
from lead2inbound.sources import store as sources_store
from lead2inbound.sources.presets import PRESETS
from lead2inbound.sources.signatures import SCHEMES
from lead2inbound.web.console import gate
from lead2inbound.web.console.common import ConsolePage, base_url, problem_text
from lead2inbound.web.console.render import page
from lead2inbound.web.resources.sources import create_source, preview_payload, update_source

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

_SOURCE_FORM_MAX = 262_144
# what a vendor's secret is called where the form asks for it
SECRET_FIELDS = (
    ("secret", "The vendor's signing secret"),
    ("verify_token", "Facebook verify token"),
    ("page_token", "Facebook page access token"),
)


def _json_field(form: dict[str, str], name: str) -> Any:
    """A form field holding JSON (None when blank), read by the API's one JSON decoder
    (`decode_json`: bounded depth); a ProblemError naming the field when it is not JSON."""
    text = form.get(name, "")
    if not text.strip():
        return None
    return decode_json(text.encode(), what=name)


def secret_fields(source: sources_store.Source) -> list[tuple[str, str]]:
    """The secrets a source's page may replace: the signature's shared secret when it checks
    one, a Facebook source's tokens."""
    wanted = []
    if source.signature != "none":
        wanted.append("secret")
    if source.format == "facebook":
        wanted += ["verify_token", "page_token"]
    return [(k, label) for k, label in SECRET_FIELDS if k in wanted]


class SourcesPage(ConsolePage):
    async def on_get(self, req: Any, resp: Any) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        await self.show(req, resp, session)

    async def show(
        self, req: Any, resp: Any, session: Session, status: int = 200, **more: Any
    ) -> None:
        async with self.s.pool.connection() as conn:
            found = await sources_store.list_async(conn, session.org_id)
        more.setdefault("error", None)
        more.setdefault("created", None)
        more.setdefault("form", {})
        page(
            resp, "sources.html", status=status,
            **self.ctx(session, "sources", sources=found, presets=list(PRESETS.values()),
                       schemes=[s for s in SCHEMES if s != "none"], secret_fields=SECRET_FIELDS,
                       base=base_url(self.s, req), **more),
        )  # fmt: skip

    async def on_post(self, req: Any, resp: Any) -> None:
        """Create a source from a preset or a blank mapping: the API's `create_source`. With
        "sign", a signing secret is made here and shown once; a vendor's own secrets (a
        preset's signature, a chosen scheme) are given in the form and never shown back."""
        got = await self.posted(req, resp, _SOURCE_FORM_MAX)
        if got is None:
            return
        session, form = got
        preset = form.get("preset") or None
        try:
            mapping = _json_field(form, "mapping")
        except ProblemError as exc:
            await self.show(req, resp, session, status=422, form=_no_secrets(form),
                            error=problem_text(exc))  # fmt: skip
            return
        made = secrets.token_urlsafe(32) if form.get("sign") else None
        given = {k: form.get(k) or None for k, _ in SECRET_FIELDS}
        if made:
            given["secret"] = made
        try:
            source, token = await create_source(
                self.s, session.org_id, name=form.get("name", "").strip(), preset=preset,
                mapping=mapping if mapping is not None or preset else {"phone": "/phone"},
                signature="hmac-sha256" if made else (form.get("signature") or None),
                secrets=given,
            )  # fmt: skip
        except ProblemError as exc:
            await self.show(req, resp, session, status=422, form=_no_secrets(form),
                            error=problem_text(exc))  # fmt: skip
            return
        await self.show(
            req,
            resp,
            session,
            status=201,
            created={"source": source, "secret": made, "hook_url": hooks.url_path(token)},
        )


def _no_secrets(form: dict[str, str]) -> dict[str, str]:
    """A form shown back: never with a secret in it."""
    return {k: v for k, v in form.items() if k not in dict(SECRET_FIELDS)}


class SourcePage(ConsolePage):
    """GET: the source, its mapping editor with the live preview, its secrets form, its
    Facebook fetches. POST: Save the edited mapping (`update_source`, the API's PATCH)."""

    async def on_get(self, req: Any, resp: Any, source_id: str) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        source = await self.find(session, source_id)
        if source is None:
            self.missing(resp, session, "sources", "source")
            return
        await self.show(req, resp, session, source)

    async def posted_source(
        self, req: Any, resp: Any, source_id: str, limit: int | None = None
    ) -> tuple[Session, dict[str, str], sources_store.Source] | None:
        """A form POST about one source of the session's org (`posted`), or None: answered
        already (signed out, or a 404 for another org's or no such source)."""
        got = await (self.posted(req, resp) if limit is None else self.posted(req, resp, limit))
        if got is None:
            return None
        session, form = got
        source = await self.find(session, source_id)
        if source is None:
            self.missing(resp, session, "sources", "source")
            return None
        return session, form, source

    async def show(
        self,
        req: Any,
        resp: Any,
        session: Session,
        source: sources_store.Source,
        status: int = 200,
        **more: Any,
    ) -> None:
        async with self.s.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT leadgen_id, status, attempts, last_error, received_at, next_attempt_at "
                "FROM facebook_leads WHERE org_id = %s AND source_id = %s "
                "AND status IN ('pending', 'failed') ORDER BY received_at DESC LIMIT 100",
                (session.org_id, source.source_id),
            )
            fetches = await cur.fetchall()
        more.setdefault("mapping", json.dumps(source.mapping, indent=2, ensure_ascii=False))
        more.setdefault("sample", "")
        form_body = source.format in ("form", "form_json")
        more.setdefault(
            "sample_type",
            "application/x-www-form-urlencoded" if form_body else "application/json",
        )
        for name in ("error", "saved", "secrets_error", "secrets_saved"):
            more.setdefault(name, None)
        page(
            resp, "source.html", status=status,
            **self.ctx(session, "sources", source=source, fetches=fetches,
                       base=base_url(self.s, req), secret_fields=secret_fields(source),
                       secret_names=sources_store.secret_names(source, self.s.sources_box),
                       **more),
        )  # fmt: skip

    async def find(self, session: Session, source_id: str) -> sources_store.Source | None:
        try:
            sid = str(uuid.UUID(source_id))
        except ValueError:
            return None
        async with self.s.pool.connection() as conn:
            return await sources_store.get_async(conn, sid, session.org_id)

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        """Save the edited mapping: `update_source`, what PATCH /v1/sources/{id} calls; a
        validation error names the field and keeps the edit in the box."""
        got = await self.posted_source(req, resp, source_id, _SOURCE_FORM_MAX)
        if got is None:
            return
        session, form, source = got
        text = form.get("mapping", "")
        kept: dict[str, Any] = {"sample": form.get("sample", "")}  # the sample stays in its box
        if form.get("sample_type"):
            kept["sample_type"] = form["sample_type"]
        try:
            mapping = _json_field(form, "mapping")
            if mapping is None:
                raise ProblemError("validation_failed", "mapping: a mapping is required")
            changed = await update_source(self.s, source, mapping=mapping)
        except ProblemError as exc:
            await self.show(req, resp, session, source, status=422, mapping=text,
                            error=problem_text(exc), **kept)  # fmt: skip
            return
        await self.show(req, resp, session, changed, saved=True, **kept)


class SourceSecrets(SourcePage):
    """POST /console/sources/{id}/secrets: replace the vendor's secrets (write-only: the page
    says which it holds, never a value), `update_source` as PATCH /v1/sources/{id}."""

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        got = await self.posted_source(req, resp, source_id)
        if got is None:
            return
        session, form, source = got
        allowed = dict(secret_fields(source))
        given = {k: form.get(k) or None for k in allowed}
        if not any(given.values()):
            await self.show(req, resp, session, source, status=422,
                            secrets_error="Give a new value to replace.")  # fmt: skip
            return
        try:
            changed = await update_source(self.s, source, secrets=given)
        except ProblemError as exc:
            await self.show(req, resp, session, source, status=422,
                            secrets_error=problem_text(exc))  # fmt: skip
            return
        replaced = [allowed[k] for k, v in given.items() if v]
        await self.show(req, resp, session, changed, secrets_saved=replaced)


PREVIEW_MAX = 262_144  # the draft mapping and the sample, as JSON


class SourcePreview(SourcePage):
    """POST /console/sources/{id}/preview (console.js, debounced as the boxes are edited, with
    the CSRF header): `{"mapping": <the editor's text>, "sample": <the sample's text>,
    "content_type": ...}`. The draft mapping is checked by `store.check_patch` (what Save and
    PATCH check) and run by `preview_payload` (the API's preview): JSON back, which the page
    shows through text nodes only. Nothing is stored."""

    async def on_post(self, req: Any, resp: Any, source_id: str) -> None:
        session = await self.signed_in(req, resp)
        if session is None:
            return
        gate.check_csrf(self.s, req, session, {})
        source = await self.find(session, source_id)
        if source is None:
            raise falcon.HTTPNotFound()
        limit = PREVIEW_MAX + self.s.config.max_body_bytes
        body = await req.bounded_stream.read(limit + 1)
        if len(body) > limit:
            raise falcon.HTTPPayloadTooLarge(title="Too large", description="Too large.")
        resp.content_type = "application/json"
        resp.text = json.dumps(self.answer(source, body, session), default=str)

    def answer(self, source: sources_store.Source, body: bytes, session: Session) -> dict[str, Any]:
        def refused(param: str, detail: str) -> dict[str, Any]:
            return {"valid": False, "problems": [{"param": param, "detail": detail}]}

        try:
            ask = decode_json(body, what="The request")
        except ProblemError:
            ask = None
        if not isinstance(ask, dict):
            return refused("(request)", "expected a JSON object with mapping and sample")
        text, sample = ask.get("mapping"), ask.get("sample")
        kind = ask.get("content_type") or "application/json"
        if not isinstance(text, str) or not isinstance(sample, str) or not isinstance(kind, str):
            return refused("(request)", "mapping, sample and content_type are text")
        draft = source
        if text.strip():
            try:
                mapping = decode_json(text.encode(), what="The mapping")
            except ProblemError as exc:
                return refused("mapping", exc.detail or "not valid JSON")
            try:
                new = sources_store.check_patch(source, mapping, None, None)
            except sources_store.SourceError as exc:
                return refused(exc.where, exc.detail)
            draft = dataclasses.replace(source, mapping=new["mapping"])
        if not sample.strip():
            return {"valid": None, "problems": [], "empty": True}
        try:
            return preview_payload(
                self.s, draft, sample.encode(), kind, session.key_id or "console"
            )
        except ProblemError as exc:
            return refused("sample", problem_text(exc))


def add_routes(app: Any, services: Services) -> None:
    app.add_route("/console/sources", SourcesPage(services))
    app.add_route("/console/sources/{source_id}", SourcePage(services))
    app.add_route("/console/sources/{source_id}/preview", SourcePreview(services))
    app.add_route("/console/sources/{source_id}/secrets", SourceSecrets(services))
