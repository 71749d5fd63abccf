"""What a duplicate post may still do to the lead it duplicates (docs/intake.md).

A post within the duplicate window stores nothing new; its answer is the held lead. Two things
may change that lead, inside the writer's transaction for the batch, after its insert statement
(which this module leaves alone):

* **Consent that arrives later.** The held lead is held only for `missing_consent` or
  `invalid_consent`, and the post carries consent evidence that passes the gate: the lead takes
  that consent and the gates after consent run again (`store/sql/lead_consent.sql`: the
  suppression list is read again; the lead's DNC answer stands, and the claim's pre-dial
  re-scrub scrubs a lead never scrubbed or scrubbed more than 31 days ago). Eligible: it enters
  the dial queue. A duplicate never takes consent away, never replaces valid consent and never
  un-suppresses. The statement locks the lead, so of 50 racing posts exactly one changes it.
* **Unsold leads pushed back.** A key or source marked `requeue_duplicates` (by an admin) is
  the lead router posting unsold leads back: its re-post of a lead that ended with an outcome in
  `REQUEUE_OUTCOMES`, still eligible and not suppressed, puts the lead back into the dial queue
  as `new` (`store/sql/lead_requeue.sql`). Anything else is a plain duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from lead2inbound.store import events
from lead2inbound.store.queries import sql

if TYPE_CHECKING:
    from lead2inbound.intake.pipeline import PreparedLead

CONSENT_REASONS = frozenset({"missing_consent", "invalid_consent"})
# Dial outcomes after which a re-post by a `requeue_duplicates` key or source may queue the lead
# again: the consumer was not reached or not sold. Never after `do_not_call` or `wrong_number`
# (the number must not be called for this lead) nor after a sale (`qualified`, `transferred`).
REQUEUE_OUTCOMES = ("unreachable", "voicemail", "callback_requested", "not_qualified")

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Changed:
    """The held lead after a duplicate changed it."""

    lead_id: str
    status: str
    eligible: bool
    reasons: list[str]
    checks: dict[str, Any]
    phone_valid: bool
    queued: bool


def held_for_consent(status: str, reasons: list[str]) -> bool:
    """Whether a lead is held for its consent alone (what a later consent may lift)."""
    return status == "ineligible" and bool(reasons) and set(reasons) <= CONSENT_REASONS


def brings_consent(lead: PreparedLead) -> bool:
    """Whether a post's consent evidence passed the gate."""
    return lead.lead.consent is not None and lead.checks.get("consent") == "present"


async def set_consent(
    conn: Any,
    changes: list[tuple[str, str, Any, str, str | None]],
    *,
    held_only: bool,
) -> dict[str, Changed]:
    """Give leads new consent and decide them again; `changes` holds (org id, lead id, consent
    block or None, checks.consent, consent reason or None). Returns the changed leads by id
    (a lead that was not changed, e.g. no longer held, is absent)."""
    if not changes:
        return {}
    params = {
        "orgs": [c[0] for c in changes],
        "leads": [c[1] for c in changes],
        "consents": [None if c[2] is None else _encode(c[2]).decode() for c in changes],
        "checks": [c[3] for c in changes],
        "reasons": [c[4] for c in changes],
        "held_only": held_only,
    }
    cur = await conn.execute(sql("lead_consent"), params, prepare=False)
    out = {}
    for lead_id, status, eligible, reasons, checks, phone_valid, queued, _ in await cur.fetchall():
        out[str(lead_id)] = Changed(
            str(lead_id), status, eligible, list(reasons), checks, phone_valid, bool(queued)
        )
    return out


async def consent_later(
    conn: Any, lost: list[tuple[PreparedLead, str]], *, log: bool = True
) -> dict[str, Changed]:
    """For duplicate posts (each with the id of the lead it duplicates) that bring consent to
    a lead held for consent: the held leads they changed, by the held lead's id. One post per
    held lead tries (the first); the statement itself is exact under concurrent batches. Each
    change records `lead.consent_added` (and `lead.queued` when it queued the lead)."""
    changes: dict[str, tuple[str, str, Any, str, str | None]] = {}
    posts: dict[str, PreparedLead] = {}
    for lead, held_id in lost:
        if brings_consent(lead) and held_id not in changes:
            changes[held_id] = (lead.org_id, held_id, lead.lead.consent, "present", None)
            posts[held_id] = lead
    if not changes:
        return {}
    async with conn.transaction():  # the change and its events commit together
        changed = await set_consent(conn, list(changes.values()), held_only=True)
        if log:
            await record(conn, "lead.consent_added", changed, posts)
    return changed


async def record(
    conn: Any, type: str, changed: dict[str, Changed], posts: dict[str, PreparedLead]
) -> None:
    """`type` for each changed lead, then `lead.queued` for those it queued (the lead as it is
    now; the request that changed it)."""
    if not changed:
        return

    def event(lead_id: str) -> events.LeadEvent:
        post = posts[lead_id]
        return events.LeadEvent(post.org_id, lead_id, None, post.request_id)

    await events.record_leads(conn, type, [event(i) for i in changed])
    queued = [event(i) for i, c in changed.items() if c.queued]
    await events.record_leads(conn, "lead.queued", queued)


async def requeue(
    conn: Any, lost: list[tuple[PreparedLead, str]], *, log: bool = True
) -> dict[str, Changed]:
    """For duplicate posts by a `requeue_duplicates` key or source: the held leads they put
    back into the dial queue, by the held lead's id (`lead.requeued` and `lead.queued`)."""
    posts = {held_id: lead for lead, held_id in lost if lead.requeue}
    wanted = {held_id: lead.org_id for held_id, lead in posts.items()}
    if not wanted:
        return {}
    out = {}
    async with conn.transaction():  # the change and its events commit together
        cur = await conn.execute(
            sql("lead_requeue"),
            {
                "orgs": list(wanted.values()),
                "leads": list(wanted),
                "outcomes": list(REQUEUE_OUTCOMES),
            },
            prepare=False,
        )
        for row in await cur.fetchall():
            lead_id, status, eligible, reasons, checks, phone_valid, queued, _ = row
            out[str(lead_id)] = Changed(
                str(lead_id), status, eligible, list(reasons), checks, phone_valid, bool(queued)
            )
        if log:
            await record(conn, "lead.requeued", out, posts)
    return out


def requeued_checks(changed: Changed) -> dict[str, str]:
    """A duplicate's `checks` when its post put the held lead back into the queue."""
    return {
        "duplicate": "hit",
        "suppression": "clear",
        "dnc": str(changed.checks.get("dnc", "not_connected")),
        "consent": "skipped",
        "requeue": "requeued",
    }


def consent_added_checks(changed: Changed) -> dict[str, str]:
    """A duplicate's `checks` when its post gave the held lead consent."""
    return {
        "duplicate": "hit",
        "suppression": str(changed.checks.get("suppression", "clear")),
        "dnc": str(changed.checks.get("dnc", "not_connected")),
        "consent": "added",
    }
