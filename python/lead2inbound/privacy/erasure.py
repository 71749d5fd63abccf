"""Erasure on request (`POST /v1/erasures`, `l2i erase`): docs/privacy.md.

Every lead of the org with the number (or, asked by email, with the numbers of the leads that
carry that email) loses its personal data in one transaction: names, email, address fields,
external id, attribution, custom fields, the raw phone and extension, and the consent block's
IP address and user agent. The number goes onto the org's suppression list with reason
`erasure` (never queued or called again; a later post of it is stored suppressed), its
duplicate claims are dropped (so that later post is a new lead, not a duplicate of an erased
one), and the erasure itself is recorded: when, by which key, how many leads.

What is kept for the org's legal defence is a setting, `L2I_ERASURE_KEEP`:

* `consent_proof` (default): the E.164 number, the consent evidence that answers a TCPA claim
  (consent timestamp, disclosure version and text, page, TrustedForm certificate URL, Jornaya
  token, sellers), the DNC scrub evidence, and the lead's decision (status, reasons, checks,
  source, dates).
* `nothing`: the number and the consent and scrub evidence go too (the suppression list still
  holds the number: it is what keeps the promise never to call it again).

Idempotent: a repeated request finds nothing left to erase and answers the first record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid_utils

from lead2inbound._core import InvalidPhone, normalize
from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.intake.validation import error, phone_detail
from lead2inbound.store import events, suppressions
from lead2inbound.store.queries import sql

KEEP_CHOICES = ("consent_proof", "nothing")
REASON = "erasure"
# What an erased lead's events keep (store/sql/events_scrub.sql): no personal value.
EVENT_MEMBERS = (
    "lead_id", "status", "eligible", "reasons", "checks", "sandbox", "api_key_id",
    "phone_valid", "source", "timezone", "timezones", "queued_at", "lease_expires_at",
    "created_at", "updated_at", "outcome", "changed", "lease_id", "erased",
)  # fmt: skip
PROOF_MEMBERS = ("phone", "phone_region", "consent")


async def scrub_events(conn: Any, pairs: list[tuple[str, str]], *, keep_proof: bool) -> None:
    """Take the personal values out of these leads' events ((org id, lead id) pairs)."""
    if not pairs:
        return
    keep = [*EVENT_MEMBERS, *(PROOF_MEMBERS if keep_proof else ())]
    await conn.execute(
        sql("events_scrub"),
        {"orgs": sorted({o for o, _ in pairs}), "leads": [lead for _, lead in pairs], "keep": keep},
    )


@dataclass(frozen=True, slots=True)
class Erasure:
    erasure_id: str
    leads_erased: int
    requested_at: datetime
    requested_by: str
    phones: list[str]  # the numbers put on the suppression list (E.164)

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "leads_erased": self.leads_erased,
            "requested_at": self.requested_at.isoformat(),
            "requested_by": self.requested_by,
            "suppressed": len(self.phones),
        }


def target(phone: str | None, email: str | None) -> tuple[str, str]:
    """("phone", E.164) or ("email", lower-cased address); 422 naming the field otherwise."""
    if (phone is None) == (email is None):
        raise validation([error(["phone"], "missing_field", "give either phone or email")])
    if phone is not None:
        try:
            return "phone", normalize(phone).e164
        except InvalidPhone as exc:
            raise validation([error(["phone"], "invalid_phone", phone_detail(exc))]) from None
    assert email is not None
    if "@" not in email or len(email) > 320:
        raise validation([error(["email"], "invalid", "is not an email address")])
    return "email", email.strip().lower()


def _digest(org_id: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"{org_id}:{kind}:{value}".encode()).hexdigest()


async def erase(
    conn: Any,
    org_id: str,
    kind: str,
    value: str,
    *,
    requested_by: str,
    keep: str = "consent_proof",
    now: datetime,
) -> tuple[Erasure, bool]:
    """Erase in the caller's transaction. Returns (the record, whether this call erased
    anything new); a repeat with nothing left answers the first record."""
    if keep not in KEEP_CHOICES:
        raise ProblemError("service_unavailable", "L2I_ERASURE_KEEP is misconfigured.")
    if kind == "phone":
        phones = [value]
    else:
        cur = await conn.execute(sql("erase_phones_by_email"), {"org": org_id, "email": value})
        phones = [r[0] for r in await cur.fetchall()]
    cur = await conn.execute(
        sql("erase_leads"),
        {"org": org_id, "phones": phones, "keep_proof": keep == "consent_proof"},
    )
    erased = [str(r[0]) for r in await cur.fetchall()]
    if erased:
        await scrub_events(
            conn, [(org_id, lead) for lead in erased], keep_proof=keep == "consent_proof"
        )
        await events.record_leads(
            conn,
            "lead.erased",
            [events.LeadEvent(org_id, lead, {"erased": True}) for lead in erased],
        )
    if phones:
        await suppressions.add(conn, org_id, phones, REASON, now=now)
        await conn.execute(sql("erase_claims"), {"org": org_id, "phones": phones})
    digest = _digest(org_id, kind, value)
    if not erased:
        cur = await conn.execute(sql("erasure_first"), {"org": org_id, "digest": digest})
        row = await cur.fetchone()
        if row is not None:
            return Erasure(str(row[0]), row[1], row[2], row[3], phones), False
    cur = await conn.execute(
        sql("erasure_record"),
        {
            "org": org_id,
            "id": str(uuid_utils.uuid7()),
            "digest": digest,
            "phone": value if kind == "phone" and keep == "consent_proof" else None,
            "by": requested_by,
            "leads": len(erased),
        },
    )
    row = await cur.fetchone()
    return Erasure(str(row[0]), row[1], row[2], row[3], phones), True
