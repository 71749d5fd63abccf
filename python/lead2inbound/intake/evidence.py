"""Consent evidence a browser gives away by itself, for leads sent with a publishable key.

A page that posts with a publishable form key (docs/web-forms.md) runs in the consumer's
browser, so the request's own client address, `User-Agent` and page (`Referer`, else `Origin`)
are the consumer's: they fill the consent block's `ip_address`, `user_agent` and `source_url`
when the body does not give them (the body always wins; the key is the lead's `api_key_id`).
The plain-form endpoint also stamps a consent block that has no `consent_timestamp` with the
time the submission arrived: the consumer pressed the button at that moment.

Only a consent block the poster sent is filled: evidence is never invented for a lead whose
page showed no disclosure (it stays `missing_consent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from lead2inbound.contract.schemas import LeadIn

MAX_URL = 2000
MAX_UA = 1000


@dataclass(frozen=True, slots=True)
class BrowserEvidence:
    ip_address: str | None
    user_agent: str | None
    page: str | None  # the Referer, else the Origin
    received_at: datetime | None = None  # set by the plain-form endpoint only


def browser_evidence(
    ip: str | None,
    user_agent: str | None,
    referer: str | None,
    origin: str | None,
    *,
    stamp: bool = False,
) -> BrowserEvidence:
    page = referer if referer and referer.startswith(("http://", "https://")) else origin
    return BrowserEvidence(
        ip_address=ip if ip and ip != "unknown" and len(ip) <= 64 else None,
        user_agent=user_agent[:MAX_UA] if user_agent else None,
        page=page[:MAX_URL] if page and page.startswith(("http://", "https://")) else None,
        received_at=datetime.now(UTC) if stamp else None,
    )


def with_evidence(lead: LeadIn, ev: BrowserEvidence) -> LeadIn:
    """`lead` with the consent block's missing browser fields filled from `ev`."""
    consent = lead.consent
    if consent is None:
        return lead
    changes: dict[str, str] = {}
    if consent.ip_address is None and ev.ip_address:
        changes["ip_address"] = ev.ip_address
    if consent.user_agent is None and ev.user_agent:
        changes["user_agent"] = ev.user_agent
    if consent.source_url is None and ev.page:
        changes["source_url"] = ev.page
    if consent.consent_timestamp is None and ev.received_at is not None:
        changes["consent_timestamp"] = ev.received_at.isoformat(timespec="seconds").replace(
            "+00:00", "Z"
        )
    if not changes:
        return lead
    return msgspec.structs.replace(lead, consent=msgspec.structs.replace(consent, **changes))
