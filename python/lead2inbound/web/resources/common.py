"""Shared by the read-back, dial-queue, suppression and key resources: bodies, query params."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from lead2inbound.contract.problems import ProblemError, not_found, validation
from lead2inbound.contract.schemas import LeadIn
from lead2inbound.intake.pipeline import OrgPolicy
from lead2inbound.intake.validation import _split_msgspec, error
from lead2inbound.web.http import FORM, JSON, media_type, read_body
from lead2inbound.web.openapi import path

T = TypeVar("T", bound=msgspec.Struct)

_decoders: dict[type, Any] = {}


def bad(param: str, detail: str, code: str = "invalid") -> ProblemError:
    return validation([error([param], code, detail)])


async def decode_body(req: Any, kind: type[T], limit: int, *, empty_ok: bool = False) -> T:
    """A JSON body into `kind` (an empty body means defaults when `empty_ok`); 422 names the
    bad field."""
    body = await read_body(req, limit)
    if not body.strip():
        if empty_ok:
            return kind()
        raise ProblemError("bad_request", "A JSON body is required.")
    main, _ = media_type(req)
    if main and main != JSON and not main.endswith("+json"):
        raise ProblemError("unsupported_media_type", f"Content-Type must be {JSON}.")
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        text, path = _split_msgspec(str(exc))
        if text.startswith(("Object contains unknown field", "Object missing required field")):
            name = text.split("`")[1] if "`" in text else "?"
            path = [*path, name]
        raise validation([error(path or ["body"], "invalid", text)]) from None
    except msgspec.DecodeError as exc:
        raise ProblemError("bad_request", f"The body is not valid JSON: {exc}.") from None


def one_param(req: Any, name: str) -> str | None:
    """A query parameter given at most once (a repeated one is a 422, not silently the last)."""
    raw = req.params.get(name)
    if isinstance(raw, list):
        raise bad(name, f"{name} may be given only once")
    if raw is not None and "\x00" in raw:  # Postgres text cannot hold NUL: a 422, not a 500
        raise bad(name, f"{name} must not contain NUL characters")
    return raw


def text_param(req: Any, name: str) -> str | None:
    """A string query parameter; empty is the same as absent."""
    return one_param(req, name) or None


def int_param(req: Any, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter; absent is `default`, empty or out of range is a 422."""
    raw = one_param(req, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(name, f"{name} must be an integer from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise bad(name, f"{name} must be an integer from {lo} to {hi}")
    return value


def in_range(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not lo <= value <= hi:
        raise bad(name, f"{name} must be an integer from {lo} to {hi}")
    return value


def time_param(req: Any, name: str) -> datetime | None:
    """An RFC 3339 query parameter; absent is None, empty or unparseable is a 422."""
    raw = one_param(req, name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("z", "Z").replace(" ", "+"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in raw.upper():
        raise bad(name, f"{name} must be an RFC 3339 date-time with an offset")
    return when


def lead_uuid(raw: str, what: str = "lead") -> str:
    """A lead id from the path; anything that is not a UUID is simply not found (404)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found(what) from None


LEAD_ID = path(
    "lead_id",
    "The lead's id (as `POST /v1/leads` answered it). Anything else, or another org's lead, "
    "is a 404.",
)


def unsupported(kind: str, accepted: tuple[str, ...] = (JSON, FORM)) -> ProblemError:
    return ProblemError(
        "unsupported_media_type",
        f"Content-Type must be {' or '.join(accepted)}"
        + (f", not {kind}." if kind else "; none was given."),
    )


def parsed_lead(lead: LeadIn) -> Any:
    """What a lead's idempotency fingerprint is computed over (same for JSON and forms)."""
    return msgspec.to_builtins(lead)


def policy_of(principal: Any) -> OrgPolicy:
    return OrgPolicy(principal.org_id, principal.require_valid_phone)
