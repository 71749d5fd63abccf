"""Corrections: `PATCH /v1/leads/{id}`, a JSON Merge Patch (RFC 7396) of the poster's fields.

The patch is merged into the lead's stored fields and the result goes through the same
validation as a posted lead (`pipeline.prepare`: the same problem bodies, field for field). The
phone never changes (a different number is a different lead: post it). A lead being dialed or
with a dial outcome is not patched (409): the dialer has it, or its call is history. With
`If-Match`, the lead's `ETag` must still be current (412 otherwise), so two editors cannot
overwrite each other; the row is locked while it is patched, so the check is exact.

A consent change decides the lead again as consent that arrives later does
(`duplicates.set_consent`: reasons, suppression read again, into or out of the dial queue); a
state change recomputes the lead's time zones and calling-hours rules (dialing/calling_hours.py),
which the claim reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from psycopg.rows import dict_row

from lead2inbound.contract.problems import ProblemError, not_found, validation
from lead2inbound.dialing.queue import OUTCOMES
from lead2inbound.intake.duplicates import CONSENT_REASONS, set_consent
from lead2inbound.intake.pipeline import OrgPolicy, PreparedLead, prepare
from lead2inbound.intake.validation import error, parse_lead
from lead2inbound.store import events
from lead2inbound.store.queries import sql

# The poster's fields a patch may change (the phone and everything the service decided may not).
EDITABLE = (
    "source",
    "external_id",
    "first_name",
    "last_name",
    "email",
    "state",
    "postal_code",
    "city",
    "address",
    "consent",
    "attribution",
    "custom_fields",
)
LOCKED = frozenset({"dialing", *OUTCOMES})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def etag(updated_at: datetime) -> str:
    """The lead's entity tag: its last change, in microseconds (every change sets it)."""
    return f'"{(updated_at - _EPOCH) // timedelta(microseconds=1):x}"'


def if_match_ok(header: str | None, current: str) -> bool:
    """RFC 9110 If-Match: `*` or a list of strong tags, one of which is the current one."""
    if header is None:
        return True
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or current in tags


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in EDITABLE if row.get(name) is not None}


def _posted(lead: Any) -> dict[str, Any]:
    """The merged lead's editable fields as they would be stored (state upper-cased, as the
    writer stores it; nested values as JSON data)."""
    out = {}
    for name in EDITABLE:
        value = getattr(lead, name)
        if value is not None:
            out[name] = value.upper() if name == "state" else msgspec.to_builtins(value)
    return out


async def patch_lead(
    conn: Any,
    org_id: str,
    lead_id: str,
    patch: Any,
    *,
    if_match: str | None,
    consent_skew_s: int = 300,
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Apply `patch` in the caller's transaction; returns (the lead row as read back, the
    names of the fields that changed). Raises ProblemError: 404, 409, 412, 422."""
    if not isinstance(patch, dict):
        raise validation([error(["(body)"], "invalid", "must be an object (a merge patch)")])
    if "phone" in patch:
        raise validation(
            [
                error(
                    ["phone"],
                    "immutable",
                    "the phone cannot change; post the new number as a new lead",
                )
            ]
        )
    unknown = [key for key in patch if key not in EDITABLE]
    if unknown:
        raise validation(
            [error([key], "unknown_field", f"unknown field '{key}'") for key in unknown]
        )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql("lead_lock"), {"org": org_id, "lead": lead_id})
    row = await cur.fetchone()
    if row is None:
        raise not_found("lead")
    if not if_match_ok(if_match, etag(row["updated_at"])):
        raise ProblemError(
            "precondition_failed",
            "If-Match does not name the lead's current ETag: read it again and reapply.",
        )
    if row["erased_at"] is not None or row["status"] in LOCKED:
        why = "was erased" if row["erased_at"] is not None else f"is {row['status']}"
        raise ProblemError("lead_locked", f"The lead {why}; it cannot be patched.")

    before = _stored(row)
    merged = merge_patch(before, patch)
    merged["phone"] = row["phone"]
    lead, names = parse_lead(merged, strict=True)  # 422 naming every bad field
    prepared = prepare(
        lead,
        policy=OrgPolicy(org_id),
        key_id=row["api_key_id"],
        sandbox=row["sandbox"],
        now=now,
        consent_skew_s=consent_skew_s,
        names=names,
    )
    after = _posted(lead)
    changed = [name for name in EDITABLE if after.get(name) != before.get(name)]
    if changed:
        queued = await _apply(conn, org_id, lead_id, after, changed, prepared)
        # the change's event names the fields, never the old values
        await events.record_leads(
            conn, "lead.updated", [events.LeadEvent(org_id, lead_id, {"changed": changed})]
        )
        if queued:
            await events.record_leads(conn, "lead.queued", [events.LeadEvent(org_id, lead_id)])
    await cur.execute(sql("lead_get"), {"org": org_id, "lead": lead_id})
    fresh = await cur.fetchone()
    assert fresh is not None
    return fresh, changed


async def _apply(
    conn: Any,
    org_id: str,
    lead_id: str,
    after: dict[str, Any],
    changed: list[str],
    prepared: PreparedLead,
) -> bool:
    """Store the changed fields; a consent change decides the lead again. Returns whether
    that put the lead into the dial queue."""
    lead = prepared.lead
    values = {name: after.get(name) for name in EDITABLE}
    for name in ("consent", "attribution", "custom_fields"):
        if values[name] is not None:
            values[name] = msgspec.json.encode(values[name]).decode()
    values["zones"] = list(prepared.zones) if "state" in changed else None
    values["rules"] = list(prepared.calling_rules) if "state" in changed else None
    values["place"] = "state" in changed
    await conn.execute(sql("lead_patch"), {"org": org_id, "lead": lead_id, **values})
    if "consent" in changed:
        reason = next((r for r in prepared.post_reasons if r in CONSENT_REASONS), None)
        decided = await set_consent(
            conn,
            [(org_id, lead_id, lead.consent, prepared.checks["consent"], reason)],
            held_only=False,
        )
        return any(c.queued for c in decided.values())
    return False
