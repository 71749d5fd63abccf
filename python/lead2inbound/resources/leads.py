"""POST /v1/leads: the front door."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..forms import parse_form
from ..http import FORM, JSON, media_type, read_body, send_json
from ..pipeline import OrgPolicy, PreparedLead, prepare
from ..problems import ProblemError
from ..schemas import LeadIn
from ..store.writer import WriteResult
from ..validation import lead_from_json, lead_from_mapping
from .read import list_leads

if TYPE_CHECKING:
    from ..app import Services


def decode_lead(req: Any, body: bytes) -> LeadIn:
    """JSON or a web form into a `LeadIn`; any other content type is a 415."""
    kind, params = media_type(req)
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark some tools prepend
        body = body[3:]
    if kind == JSON or (kind.startswith("application/") and kind.endswith("+json")):
        charset = params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            body = _recode(body, charset)
        return lead_from_json(body)
    if kind == FORM:
        return lead_from_mapping(parse_form(body, params.get("charset", "utf-8")), strict=False)
    raise ProblemError(
        "unsupported_media_type",
        f"Content-Type must be {JSON} or {FORM}"
        + (f", not {kind}." if kind else "; none was given."),
    )


def _recode(body: bytes, charset: str) -> bytes:
    try:
        return body.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise ProblemError("bad_request", f"The body is not valid {charset}: {exc}.") from None


def answer(result: WriteResult, lead: PreparedLead) -> dict[str, Any]:
    return {
        "outcome": "created" if result.created else "duplicate",
        "lead_id": result.lead_id,
        "status": result.status,
        "eligible": result.eligible,
        "reasons": result.reasons,
        "phone": lead.number.e164,
        "phone_valid": result.phone_valid,
        "checks": result.checks,
    }


class LeadsResource:
    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "write")
        body = await read_body(req, self.s.config.max_body_bytes)
        lead = decode_lead(req, body)
        prepared = prepare(
            lead,
            policy=OrgPolicy(principal.org_id, principal.require_valid_phone),
            key_id=principal.key_id,
            sandbox=principal.sandbox,
            consent_skew_s=self.s.config.consent_clock_skew_s,
        )
        await self.s.dnc.gate(prepared)  # gate 4: the org's DNC provider, if connected
        result = await self.s.writer.write(prepared)
        self.s.metrics.lead(result)
        self.s.dnc.after_write(prepared, result)
        send_json(resp, 201 if result.created else 200, answer(result, prepared))
        if result.created:
            resp.set_header("Location", f"/v1/leads/{result.lead_id}")

    async def on_get(self, req: Any, resp: Any) -> None:
        """GET /v1/leads: the caller's leads, newest first (see resources/read.py)."""
        principal = await self.s.authorize(req, "read")
        send_json(resp, 200, await list_leads(self.s, req, principal.org_id))
