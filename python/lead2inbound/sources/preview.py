"""What a payload would make through a source, with every problem, storing nothing.

Shared by `POST /v1/sources/{id}/preview` and `l2i sources test ID FILE`: decoding, the mapping,
validation and the gates that need no store (phone, consent, valid-phone policy). Duplicates,
suppressions and the DNC provider need the store and are not run.
"""

from __future__ import annotations

from typing import Any

import msgspec

from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.schemas import ErrorItem, LeadIn
from lead2inbound.intake.forms import WireNames
from lead2inbound.intake.pipeline import OrgPolicy, prepare
from lead2inbound.sources.lenient import lenient_lead
from lead2inbound.sources.mapping import apply, decode
from lead2inbound.sources.store import Source


def mapped_lead(source: Source, doc: Any) -> tuple[dict[str, Any], WireNames, list[str]]:
    """The lead data a decoded body makes (its `source` is the source's name), the wire names
    (lead path -> the body's path) and the warnings."""
    mapped = apply(doc, source.mapping, source.options)
    mapped.data["source"] = source.name
    return mapped.data, mapped.names, mapped.warnings


def source_lead(source: Source, doc: Any) -> tuple[LeadIn, WireNames, list[str]]:
    """The lead a decoded body makes through the source: mapped, then validated leniently
    (sources/lenient.py: only the phone refuses it); with every warning."""
    data, names, warnings = mapped_lead(source, doc)
    lead, wire = lenient_lead(data, names, warnings)
    return lead, wire, warnings


def preview(
    source: Source,
    body: bytes,
    content_type: str,
    *,
    key_id: str,
    sandbox: bool,
    consent_skew_s: int,
) -> dict[str, Any]:
    """The preview's answer (SourcePreview). A payload that cannot be read at all (empty, not
    the source's format) raises its ProblemError (400, 415) instead."""
    out: dict[str, Any] = {
        "valid": False,
        "stored": False,
        "lead": None,
        "sources": {},
        "problems": [],
        "warnings": [],
        "phone": None,
        "eligible": None,
        "reasons": [],
        "checks": {},
    }
    fmt = "json" if source.format == "facebook" else source.format  # a Graph API lead
    if not body.strip():
        raise ProblemError("bad_request", "A payload to preview is required.")
    doc = decode(body, content_type, fmt, source.json_field)  # unreadable: the 400 or 415 itself
    try:
        data, names, out["warnings"] = mapped_lead(source, doc)
        out["lead"] = data  # as it is stored: a value set aside is in custom_fields
        out["sources"] = {"#/" + "/".join(k): v for k, v in names.items()}
        lead, wire = lenient_lead(data, names, out["warnings"])
        prepared = prepare(
            lead,
            policy=OrgPolicy(source.org_id, source.require_valid_phone),
            key_id=key_id,
            sandbox=sandbox,
            consent_skew_s=consent_skew_s,
            names=wire,
        )
    except ProblemError as exc:
        items = exc.errors or [
            ErrorItem(pointer="#", param="(body)", code=exc.code, detail=exc.detail)
        ]
        out["problems"] = [msgspec.to_builtins(e) for e in items]
        return out
    out.update(
        valid=True,
        phone=prepared.number.e164,
        eligible=prepared.eligible,
        reasons=[*prepared.pre_reasons, *prepared.post_reasons],
        checks=dict(prepared.checks),
    )
    return out
