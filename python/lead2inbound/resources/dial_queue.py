"""The dial queue (`dial` scope): claim, complete, release."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..http import send_json
from ..problems import ProblemError, not_found
from ..schemas import ClaimIn, CompleteIn, ReleaseIn
from ..store.leads import lead_json
from ..store.queue import OUTCOMES, NoSuchLead, NotLeased
from .common import bad, decode_body, in_range, lead_uuid

if TYPE_CHECKING:
    from ..app import Services


def _lease_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad("lease_id", "lease_id must be the lease id a claim answered") from None


def _not_leased() -> ProblemError:
    return ProblemError(
        "not_leased",
        "This lead is not currently leased to you (never claimed, completed, released, or its "
        "lease expired).",
    )


class ClaimResource:
    """POST /v1/dial-queue/claim"""

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

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "dial")
        lead = lead_uuid(lead_id)
        body = await decode_body(req, CompleteIn, 4096)
        if body.outcome not in OUTCOMES:
            raise bad("outcome", "outcome must be one of " + ", ".join(OUTCOMES))
        try:
            row, _added = await self.s.queue.complete(
                principal.org_id, principal.key_id, lead, body.outcome, _lease_id(body.lease_id)
            )
        except NoSuchLead:
            raise not_found("lead") from None
        except NotLeased:
            raise _not_leased() from None
        if body.outcome == "do_not_call":
            await self.s.publish_suppressions(principal.org_id, [row["phone"]])
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))


class ReleaseResource:
    """POST /v1/dial-queue/{lead_id}/release"""

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal = await self.s.authorize(req, "dial")
        lead = lead_uuid(lead_id)
        body = await decode_body(req, ReleaseIn, 4096, empty_ok=True)
        try:
            row = await self.s.queue.release(
                principal.org_id, principal.key_id, lead, _lease_id(body.lease_id)
            )
        except NoSuchLead:
            raise not_found("lead") from None
        except NotLeased:
            raise _not_leased() from None
        send_json(resp, 200, lead_json(row, self.s.clock(), self.s.enforce_hours))
