"""The dial queue (`dial` scope): claim, complete, release."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.contract.problems import ProblemError, not_found
from lead2inbound.contract.schemas import ClaimIn, ClaimResult, CompleteIn, ReleaseIn, StoredLead
from lead2inbound.dialing.leads import lead_json
from lead2inbound.dialing.queue import OUTCOMES, NoSuchLead, NotLeased
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp
from lead2inbound.web.resources.common import LEAD_ID, bad, decode_body, in_range, lead_uuid

if TYPE_CHECKING:
    from lead2inbound.web.services import Services


def _lease_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad("lease_id", "lease_id must be the lease id a claim answered") from None


@contextlib.contextmanager
def _as_problems() -> Iterator[None]:
    """The queue's refusals of a complete or release as problems (404, 409)."""
    try:
        yield
    except NoSuchLead:
        raise not_found("lead") from None
    except NotLeased:
        raise ProblemError(
            "not_leased",
            "This lead is not currently leased to you (never claimed, completed, released, or "
            "its lease expired).",
        ) from None


BODY_ERRORS = (400, 413, 415, 422)
NOT_LEASED = (
    409,
    "The lead is not leased to the caller (never claimed, completed, released, or the lease "
    "expired; or `lease_id` is not its current lease).",
)
LEASED_404 = (404, "No such lead in the caller's org.")


class ClaimResource:
    """POST /v1/dial-queue/claim"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Claim leads to dial",
            description="Leases up to `limit` of the org's queued leads that may be called now "
            "(legal calling hours in every time zone the lead may be in, unless the service runs "
            "with `L2I_CALLING_HOURS=off`), oldest first; concurrent claimers never get the same "
            "lead. Leads whose last DNC scrub is older than 31 days are scrubbed again first. "
            "Each lead is `dialing` until completed, released, or its lease expires. A sandbox "
            "key claims nothing.",
            scope="dial",
            body=ClaimIn,
            body_required=False,
            responses=(Resp(200, "The leased leads (maybe none).", ClaimResult),),
            errors=BODY_ERRORS,
            tags=("dial-queue",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "dial")
        body = await decode_body(req, ClaimIn, 4096, empty_ok=True)
        limit = in_range("limit", body.limit, 1, 100)
        lease = in_range("lease_seconds", body.lease_seconds, 10, 3600)
        if principal.sandbox:  # sandbox leads are never queued, so a sandbox key claims nothing
            send_json(resp, 200, {"data": []})
            return
        rows = await self.s.queue.claim(principal.org_id, principal.key_id, limit, lease)
        now = self.s.clock()
        data = []
        for row in rows:
            item = lead_json(row, now, self.s.enforce_hours)
            item["lease_id"] = str(row["lease_id"])
            data.append(item)
        send_json(resp, 200, {"data": data})


class CompleteResource:
    """POST /v1/dial-queue/{lead_id}/complete"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Report a dial outcome",
            description="The lead leaves the queue and takes the outcome as its status. Only "
            "the holder of a live lease may (its `lease_id`, or else the key that claimed it). "
            "`do_not_call` also suppresses the phone for the org.",
            scope="dial",
            body=CompleteIn,
            parameters=(LEAD_ID,),
            responses=(Resp(200, "The lead, with its new status.", StoredLead),),
            errors=(*BODY_ERRORS, 404, 409),
            notes=(LEASED_404, NOT_LEASED),
            tags=("dial-queue",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "dial")
        lead = lead_uuid(lead_id)
        body = await decode_body(req, CompleteIn, 4096)
        if body.outcome not in OUTCOMES:
            raise bad("outcome", "outcome must be one of " + ", ".join(OUTCOMES))
        with _as_problems():
            row, _added = await self.s.queue.complete(
                principal.org_id, principal.key_id, lead, body.outcome, _lease_id(body.lease_id)
            )
        if body.outcome == "do_not_call":
            await self.s.publish_suppressions(principal.org_id, [row["phone"]])
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))


class ReleaseResource:
    """POST /v1/dial-queue/{lead_id}/release"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Release a leased lead",
            description="Puts the lead back in the queue (status `new`), first in line. Same "
            "holder rule as completing.",
            scope="dial",
            body=ReleaseIn,
            body_required=False,
            parameters=(LEAD_ID,),
            responses=(Resp(200, "The lead, back in the queue.", StoredLead),),
            errors=(*BODY_ERRORS, 404, 409),
            notes=(LEASED_404, NOT_LEASED),
            tags=("dial-queue",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "dial")
        lead = lead_uuid(lead_id)
        body = await decode_body(req, ReleaseIn, 4096, empty_ok=True)
        with _as_problems():
            row = await self.s.queue.release(
                principal.org_id, principal.key_id, lead, _lease_id(body.lease_id)
            )
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))
