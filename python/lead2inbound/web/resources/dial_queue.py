"""The dial queue (`dial` scope): claim, attempts, complete, release; the retry policy (`admin`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from lead2inbound.access.auth import Principal
from lead2inbound.contract.problems import ProblemError, not_found
from lead2inbound.contract.schemas import (
    AttemptIn,
    ClaimIn,
    ClaimResult,
    CompleteIn,
    DialPolicy,
    DialPolicyIn,
    ReleaseIn,
    StoredLead,
)
from lead2inbound.dialing import attempts
from lead2inbound.dialing.leads import lead_json
from lead2inbound.dialing.queue import OUTCOMES, Attempt, BadAttempt, NoSuchLead, NotLeased
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
    """The queue's refusals of an attempt, complete or release as problems (404, 409, 422)."""
    try:
        yield
    except BadAttempt as exc:
        raise bad(exc.field, exc.message) from None
    except NoSuchLead:
        raise not_found("lead") from None
    except NotLeased:
        raise ProblemError(
            "not_leased",
            "This lead is not currently leased to you (never claimed, completed, released, or "
            "its lease expired).",
        ) from None


BODY_ERRORS = (400, 413, 415, 422)
# Bodies carrying `dialer` (200 characters, each up to 12 bytes as a JSON \u escape pair).
ATTEMPT_BODY = 16_384
NOT_LEASED = (
    409,
    "The lead is not leased to the caller (never claimed, completed, released, or the lease "
    "expired; or `lease_id` is not its current lease).",
)
LEASED_404 = (404, "No such lead in the caller's org.")

T = TypeVar("T")


def _leased_op(
    summary: str, description: str, body: Any, answer: Resp, *, body_required: bool = True
) -> Op:
    """An operation on a lead the caller holds a lease on: complete, attempt, release."""
    return Op(
        summary=summary,
        description=description,
        scope="dial",
        body=body,
        body_required=body_required,
        parameters=(LEAD_ID,),
        responses=(answer,),
        errors=(*BODY_ERRORS, 404, 409),
        notes=(LEASED_404, NOT_LEASED),
        tags=("dial-queue",),
    )


async def _leased_request(
    s: Services, req: Any, lead_id: str, kind: type[T], limit: int, *, empty_ok: bool = False
) -> tuple[Principal, str, T]:
    """The `dial` caller, the lead id from the path (else a 404) and the body, in that order."""
    principal = await s.authorize(req, "dial")
    lead = lead_uuid(lead_id)
    body = await decode_body(req, kind, limit, empty_ok=empty_ok)
    return principal, lead, body


def _send_lead(s: Services, resp: Any, row: dict[str, Any]) -> None:
    send_json(resp, 200, lead_json(row, s.clock(), s.enforce_hours))


class ClaimResource:
    """POST /v1/dial-queue/claim"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Claim leads to dial",
            description="Leases up to `limit` of the org's queued leads that may be called now "
            "(legal calling hours in every time zone the lead may be in, unless the service runs "
            "with `L2I_CALLING_HOURS=off`; due by the retry schedule or callback; the number "
            "under its state's attempt limit, unless `L2I_ATTEMPT_LIMITS=off`). Order: callbacks "
            "due, then new leads newest first (`L2I_QUEUE_ORDER=fifo`: oldest first, merged "
            "with retries by when each became due), then retries, oldest due first. Concurrent "
            "claimers never get the same lead. Leads whose last DNC scrub is older than 31 days "
            "are scrubbed again first. Each lead is `dialing` until an attempt or completion is "
            "recorded, it is released, or its lease expires. A sandbox key claims nothing.",
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
        "post": _leased_op(
            "Report a dial outcome",
            "The lead leaves the queue and takes the outcome as its status; the "
            "call is recorded as its last attempt. Only the holder of a live lease may (its "
            "`lease_id`, or else the key that claimed it). `do_not_call` also suppresses the "
            "phone for the org. `callback_requested` with `callback_at` keeps the lead queued as "
            "a callback instead (its `next_attempt_at` says when it is claimable).",
            CompleteIn,
            Resp(200, "The lead, with its new status.", StoredLead),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal, lead, body = await _leased_request(
            self.s, req, lead_id, CompleteIn, ATTEMPT_BODY
        )
        if body.outcome not in OUTCOMES:
            raise bad("outcome", "outcome must be one of " + ", ".join(OUTCOMES))
        result = attempts.COMPLETE_RESULT.get(body.outcome, "answered")
        attempt = Attempt(result, None, body.duration_s, body.dialer)
        with _as_problems():
            row, _added = await self.s.queue.complete(
                principal.org_id, principal.key_id, lead, body.outcome, _lease_id(body.lease_id),
                callback_at=body.callback_at, attempt=attempt,
            )  # fmt: skip
        if body.outcome == "do_not_call":
            await self.s.publish_suppressions(principal.org_id, [row["phone"]])
        _send_lead(self.s, resp, row)


class AttemptResource:
    """POST /v1/dial-queue/{lead_id}/attempts"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": _leased_op(
            "Record a call attempt",
            "Records one call attempt that did not end the lead (no answer, busy, "
            "voicemail, failed, or answered without an outcome). The lease ends and the lead "
            "goes back to the queue for its next try by the org's retry policy "
            "(`GET /v1/dial-policy`), no earlier than a state attempt limit allows; after its "
            "last allowed attempt it ends `unreachable`. Same holder rule as completing.",
            AttemptIn,
            Resp(200, "The lead: `attempts`, `next_attempt_at`, `callable_at`.", StoredLead),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal, lead, body = await _leased_request(self.s, req, lead_id, AttemptIn, ATTEMPT_BODY)
        attempt = Attempt(body.result, body.at, body.duration_s, body.dialer)
        with _as_problems():
            row = await self.s.queue.attempt(
                principal.org_id, principal.key_id, lead, attempt, _lease_id(body.lease_id)
            )
        _send_lead(self.s, resp, row)


class DialPolicyResource:
    """GET/PUT /v1/dial-policy"""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Read the retry policy",
            description="The org's retry schedule: delays between attempts and the most "
            "attempts a lead gets (the defaults until one is set).",
            scope="admin",
            responses=(Resp(200, "The policy in force.", DialPolicy),),
            tags=("dial-queue",),
        ),
        "put": Op(
            summary="Set the retry policy",
            description="Replaces the org's retry schedule. It applies to attempts recorded "
            "from now on (a lead already scheduled keeps its `next_attempt_at`).",
            scope="admin",
            body=DialPolicyIn,
            responses=(Resp(200, "The policy now in force.", DialPolicy),),
            errors=BODY_ERRORS,
            tags=("dial-queue",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            policy, updated = await attempts.load(conn, principal.org_id)
        send_json(resp, 200, policy.as_json(updated))

    async def on_put(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        body = await decode_body(req, DialPolicyIn, 4096)
        policy = attempts.Policy(tuple(body.retry_after_s), body.max_attempts)
        async with self.s.pool.connection() as conn:
            updated = await attempts.store_async(conn, principal.org_id, policy)
        send_json(resp, 200, policy.as_json(updated))


class ReleaseResource:
    """POST /v1/dial-queue/{lead_id}/release"""

    openapi: ClassVar[dict[str, Op]] = {
        "post": _leased_op(
            "Release a leased lead",
            "Puts the lead back in the queue (status `new`), first in line. Same "
            "holder rule as completing.",
            ReleaseIn,
            Resp(200, "The lead, back in the queue.", StoredLead),
            body_required=False,
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any, lead_id: str) -> None:
        principal, lead, body = await _leased_request(
            self.s, req, lead_id, ReleaseIn, 4096, empty_ok=True
        )
        with _as_problems():
            row = await self.s.queue.release(
                principal.org_id, principal.key_id, lead, _lease_id(body.lease_id)
            )
        _send_lead(self.s, resp, row)
