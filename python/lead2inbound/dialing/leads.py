"""Reading leads back: one lead, or a page of them, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lead2inbound.dialing import calling_hours

# The columns an answer shows, in order (anything else a row carries is left out).
_FIELDS = (
    "lead_id", "status", "eligible", "reasons", "checks", "sandbox", "api_key_id",
    "phone", "phone_raw", "phone_valid", "phone_region", "phone_extension",
    "source", "external_id", "first_name", "last_name", "email", "state", "postal_code",
    "city", "address", "consent", "attribution", "custom_fields",
)  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def callable_at(row: dict[str, Any], now: datetime, enforce: bool) -> datetime | None:
    """The next moment the lead may be called: None unless it is in the dial queue."""
    if row.get("queued_at") is None:
        return None
    nxt = row.get("next_attempt_at")
    start = max(now, nxt) if nxt is not None else now  # retry, callback or state-limit hold
    if not enforce:
        return start
    zones = row.get("timezones") or calling_hours.ANY_US
    rules = row.get("calling_rules") or (calling_hours.FEDERAL,)
    return calling_hours.next_callable(zones, rules, start)


def lead_json(row: dict[str, Any], now: datetime, enforce: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = row.get(name)
        out[name] = str(value) if name == "lead_id" else value
    out["timezone"] = row.get("timezone")
    out["timezones"] = list(row.get("timezones") or [])
    out["callable_at"] = _iso(callable_at(row, now, enforce))
    out["queued_at"] = _iso(row.get("queued_at"))
    out["lease_expires_at"] = _iso(row.get("lease_expires_at"))
    out["attempts"] = row.get("attempts") or 0
    out["last_attempt_at"] = _iso(row.get("last_attempt_at"))
    out["next_attempt_at"] = _iso(row.get("next_attempt_at"))
    out["callback_at"] = _iso(row.get("callback_at"))
    out["created_at"] = _iso(row.get("created_at"))
    out["updated_at"] = _iso(row.get("updated_at"))
    return out
