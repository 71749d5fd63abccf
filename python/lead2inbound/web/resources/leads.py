"""POST /v1/leads (the front door) and POST /v1/leads/batch: every lead through one pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.contract.schemas import (
    MAX_BATCH,
    LeadBatchIn,
    LeadBatchResult,
    LeadIn,
    LeadResult,
)
from lead2inbound.contract.wire import decode_json
from lead2inbound.intake.evidence import with_evidence
from lead2inbound.intake.forms import WireNames, parse_form
from lead2inbound.intake.idempotency import (
    Answer,
    Claim,
    Stored,
    fingerprint,
    idempotency_key,
    scope_of,
)
from lead2inbound.intake.pipeline import PreparedLead, prepare
from lead2inbound.intake.validation import error, parse_json_lead, parse_lead
from lead2inbound.intake.writer import Charge, RateLimited, WriteResult
from lead2inbound.store.errors import StoreUnavailable
from lead2inbound.web.http import FORM, JSON, media_type, problem_body, read_body, send_json
from lead2inbound.web.openapi import Op, Resp, preflight
from lead2inbound.web.resources.common import parsed_lead, policy_of, unsupported
from lead2inbound.web.resources.read import LIST_LEADS, list_leads

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

ROUTE_LEADS = "POST /v1/leads"
ROUTE_BATCH = "POST /v1/leads/batch"
_encode = msgspec.json.Encoder().encode


def decode_lead(req: Any, body: bytes) -> tuple[LeadIn, WireNames]:
    """JSON or a web form into a `LeadIn` (and the names the poster used); else a 415."""
    kind, params = media_type(req)
    if _is_json(kind):
        return parse_json_lead(_as_utf8(body, params))
    if kind == FORM:
        data, names = parse_form(body, params.get("charset", "utf-8"))
        return parse_lead(data, strict=False, names=names)
    raise unsupported(kind)


def decode_any(req: Any, body: bytes) -> tuple[Any, WireNames, bool]:
    """JSON or a web form into plain data: (data, wire names, strict)."""
    kind, params = media_type(req)
    if _is_json(kind):
        return decode_json(_as_utf8(body, params)), {}, True
    if kind == FORM:
        data, names = parse_form(body, params.get("charset", "utf-8"))
        return data, names, False
    raise unsupported(kind)


def _is_json(kind: str) -> bool:
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def _as_utf8(body: bytes, params: dict[str, str]) -> bytes:
    charset = params.get("charset", "utf-8").lower()
    if charset in ("utf-8", "utf8"):
        return body
    try:
        return body.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise ProblemError("bad_request", f"The body is not valid {charset}: {exc}.") from None


def answer(result: WriteResult, lead: PreparedLead) -> dict[str, Any]:
    out = {
        "outcome": "created" if result.created else "duplicate",
        "lead_id": result.lead_id,
        "status": result.status,
        "eligible": result.eligible,
        "reasons": result.reasons,
        "phone": lead.number.e164,
        "phone_valid": result.phone_valid,
        "checks": result.checks,
    }
    if lead.warnings:
        out["warnings"] = list(lead.warnings)
    return out


def lead_answer(result: WriteResult, lead: PreparedLead) -> Answer:
    """The complete answer of a single POST for one written lead."""
    status = 201 if result.created else 200
    headers = [("Location", f"/v1/leads/{result.lead_id}")] if result.created else []
    return Answer(status, _encode(answer(result, lead)), headers=headers)


def prepare_for(s: Services, principal: Any, lead: LeadIn, names: WireNames) -> PreparedLead:
    """`pipeline.prepare` with the caller's org policy, key and the service's consent skew."""
    prepared = prepare(
        lead,
        policy=policy_of(principal),
        key_id=principal.key_id,
        sandbox=principal.sandbox,
        consent_skew_s=s.config.consent_clock_skew_s,
        names=names,
    )
    prepared.requeue = principal.requeue_duplicates
    return prepared


async def submit(
    s: Services,
    req: Any,
    resp: Any,
    principal: Any,
    parse: Callable[[], Awaitable[tuple[LeadIn, WireNames]]],
    route: str,
    warnings: list[str] | None = None,
) -> None:
    """One lead from its parsing to its answer: the path every single-lead way in shares
    (`POST /v1/leads`, a source's `POST /v1/sources/{id}/leads`): the charge, Idempotency-Key,
    the DNC gate, the writer, metrics and the answer. `route` names the fingerprint's route."""
    try:
        key = idempotency_key(req)
        lead, names = await parse()
        prepared = prepare_for(s, principal, lead, names)
        if warnings:  # filled by a source's parse: what its lead left out
            prepared.warnings = tuple(warnings)
    except ProblemError:
        await s.charge(req, principal, 1, "write")  # a 429 or 403 comes first
        raise
    claim: Claim | None = None
    if await _charge_rides_with_write(s, key, principal, req):
        result = await _write_charged(s, req, principal, prepared)
    else:
        await s.charge(req, principal, 1, "write")
        if key is not None:
            got = await s.idempotency.begin(
                principal.org_id,
                scope_of(principal),
                route,
                key,
                fingerprint(route, parsed_lead(lead)),
            )
            if isinstance(got, Stored):
                got.send(resp)
                return
            claim = got
        try:
            await s.dnc.gate(prepared)  # gate 4: the org's DNC provider, if connected
            result = await s.writer.write(
                prepared,
                claim=claim,
                render=(lambda results: lead_answer(results[0], prepared)) if claim else None,
            )
        except BaseException:
            if claim is not None:
                await s.idempotency.release(claim)
            raise
    s.metrics.lead(result)
    s.dnc.after_write(prepared, result)
    final = claim.answer if claim is not None and claim.answer else lead_answer(result, prepared)
    final.send(resp)


async def _charge_rides_with_write(
    s: Services, key: str | None, principal: Any, req: Any = None
) -> bool:
    """Whether the writer may take this request's charge with its batch (one wait instead
    of two): only when nothing has to happen between the charge and the write (no
    idempotency claim, no DNC scrub) and the scope is there (a 403 comes after the charge).
    A browser's request (an `Origin`) or a publishable key is charged first: its origin
    and client-address checks (`Services.browser_gate`) come with the charge."""
    if key is not None or "write" not in principal.scopes or principal.publishable:
        return False
    if req is not None and req.get_header("Origin") is not None:
        return False
    try:
        return await s.dnc.connection_for(principal.org_id) is None
    except StoreUnavailable:
        return False  # charged first; the DNC gate then answers the 503, with the headers


async def _write_charged(s: Services, req: Any, principal: Any, lead: PreparedLead) -> WriteResult:
    """Write with the request's charge taken by the writer; the decision goes on the answer
    as for `Services.charge` (a refused one is the 429, nothing written)."""
    charge = Charge(principal.key_id, principal.rate_limit)
    try:
        result = await s.writer.write(lead, charge=charge)
    except (RateLimited, StoreUnavailable):
        # a 503 has the headers too: a unit shed before its charge was decided, from a peek
        s.decided(
            req,
            charge.decision or await s.limiter.check(principal.key_id, principal.rate_limit, 0),
        )
        raise
    assert charge.decision is not None
    s.decided(req, charge.decision)
    return result


# --- documentation (openapi.py reads these next to the resources) ------------------------------

LEAD_RESPONSES = (
    Resp(
        201,
        "A new lead was stored (committed before this answer).",
        LeadResult,
        headers=("Location",),
    ),
    Resp(200, "A duplicate: the org already has a lead for this phone in its window.", LeadResult),
)


class LeadsResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Send a lead",
            description="Validates the lead, normalizes the phone, runs the gates (duplicate, "
            "suppression, DNC, consent) and stores it; answers after the commit. JSON or a web "
            "form (bracket names for nested fields; flat names are mapped, see "
            "docs/lead-sources.md).",
            scope="write",
            body=LeadIn,
            media=(JSON, FORM),
            responses=LEAD_RESPONSES,
            errors=(400, 409, 413, 415, 422, 503),
            idempotent=True,
            tags=("leads",),
            cors=True,
            notes=(
                (
                    403,
                    "The key lacks the `write` scope, or (docs/web-forms.md) the request comes "
                    "from a web page on an origin the key does not allow, or a publishable key "
                    "was used with no `Origin`.",
                ),
            ),
        ),
        "get": LIST_LEADS,
        "options": preflight("/v1/leads"),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authenticate(req)

        async def parse() -> tuple[LeadIn, WireNames]:
            body = await read_body(req, self.s.config.max_body_bytes)
            lead, names = decode_lead(req, body)
            if principal.publishable:  # the consumer's browser: its address, agent and page
                lead = with_evidence(lead, self.s.browser_evidence(req))
            return lead, names

        await submit(self.s, req, resp, principal, parse, ROUTE_LEADS)

    async def on_get(self, req: Any, resp: Any) -> None:
        """GET /v1/leads: the caller's leads, newest first (see resources/read.py)."""
        principal = await self.s.authorize(req, "read")
        send_json(resp, 200, await list_leads(self.s, req, principal.org_id))


class LeadsBatchResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Send up to 1,000 leads",
            description="Each lead is validated and written exactly as by `POST /v1/leads`; the "
            "answer has one result per lead, in order, each the status and body a single POST "
            "would have answered. A phone twice in one batch: the first is stored, the later "
            "ones are its duplicates. Each lead counts against the rate limit (a batch larger "
            "than the remaining budget is a 429 and nothing is stored). See docs/batch-and-csv.md.",
            scope="write",
            body=LeadBatchIn,
            media=(JSON, FORM),
            responses=(Resp(200, "One result per lead, in order.", LeadBatchResult),),
            errors=(400, 409, 413, 415, 422, 503),
            idempotent=True,
            tags=("leads",),
            cors=True,
        ),
        "options": preflight("/v1/leads/batch"),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authenticate(req)
        try:
            key = idempotency_key(req)
            body = await read_body(req, self.s.config.batch_max_body_bytes)
            items, names, strict = self._envelope(req, body)
        except ProblemError:
            await self.s.charge(req, principal, 1, "write")
            raise
        await self.s.charge(req, principal, len(items), "write")

        parsed: list[Any] = []
        outcomes: list[PreparedLead | ProblemError] = []
        evidence = self.s.browser_evidence(req) if principal.publishable else None
        for i, item in enumerate(items):
            item_names = _sub_names(names, i)
            try:
                lead, lead_names = parse_lead(item, strict=strict, names=item_names)
                if evidence is not None:
                    lead = with_evidence(lead, evidence)
                parsed.append(parsed_lead(lead))
                outcomes.append(prepare_for(self.s, principal, lead, lead_names))
            except ProblemError as exc:
                parsed.append(item)
                outcomes.append(exc)

        claim: Claim | None = None
        if key is not None:
            got = await self.s.idempotency.begin(
                principal.org_id,
                scope_of(principal),
                ROUTE_BATCH,
                key,
                fingerprint(ROUTE_BATCH, parsed),
            )
            if isinstance(got, Stored):
                got.send(resp)
                return
            claim = got
        leads = [o for o in outcomes if isinstance(o, PreparedLead)]
        request_id = req.context.get("request_id") or ""

        def render(results: list[WriteResult]) -> Answer:
            return batch_answer(outcomes, results, request_id)

        try:
            if leads:
                await asyncio.gather(*(self.s.dnc.gate(lead) for lead in leads))
                results = await self.s.writer.write_many(
                    leads, claim=claim, render=render if claim else None
                )
            else:
                results = []
                if claim is not None:
                    await self.s.idempotency.store(claim, render(results))
        except BaseException:
            if claim is not None:
                await self.s.idempotency.release(claim)
            raise
        for lead, result in zip(leads, results, strict=True):
            self.s.metrics.lead(result)
            self.s.dnc.after_write(lead, result)
        final = claim.answer if claim is not None and claim.answer else render(results)
        final.send(resp)

    def _envelope(self, req: Any, body: bytes) -> tuple[list[Any], WireNames, bool]:
        data, names, strict = decode_any(req, body)
        if not isinstance(data, dict) or set(data) != {"leads"}:
            unknown = sorted(set(data) - {"leads"}) if isinstance(data, dict) else []
            errs = [error([k], "unknown_field", f"unknown field '{k}'") for k in unknown]
            if not isinstance(data, dict) or "leads" not in data:
                errs.append(error(["leads"], "missing_field", "is required"))
            raise validation(errs)
        items = data["leads"]
        if isinstance(items, dict) and all(k.isdigit() for k in items):  # form: leads[0][...]
            items = [items[k] for k in sorted(items, key=int)]
        if not isinstance(items, list):
            raise validation([error(["leads"], "invalid", "must be a list of leads")])
        if not 1 <= len(items) <= MAX_BATCH:
            raise validation(
                [error(["leads"], "invalid", f"must hold 1 to {MAX_BATCH} leads, not {len(items)}")]
            )
        bad = [
            error(["leads", str(i)], "invalid", "must be an object (a lead)")
            for i, item in enumerate(items)
            if not isinstance(item, dict)
        ]
        if bad:
            raise validation(bad)
        return items, names, strict


def _sub_names(names: WireNames, index: int) -> WireNames:
    """Wire names of `leads[index]`, relative to the lead (as a single POST would name them)."""
    prefix = ("leads", str(index))
    return {path[2:]: name for path, name in names.items() if path[:2] == prefix and len(path) > 2}


def batch_answer(
    outcomes: list[PreparedLead | ProblemError], results: list[WriteResult], request_id: str
) -> Answer:
    items: list[dict[str, Any]] = []
    written = iter(results)
    created = duplicates = failed = 0
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, ProblemError):
            failed += 1
            body = problem_body(outcome, request_id, f"/v1/leads/batch#/leads/{i}")
            items.append({"status": outcome.status, "body": body})
            continue
        result = next(written)
        created += result.created
        duplicates += not result.created
        items.append({"status": 201 if result.created else 200, "body": answer(result, outcome)})
    summary = {
        "total": len(outcomes),
        "created": created,
        "duplicates": duplicates,
        "failed": failed,
    }
    return Answer(200, _encode({"results": items, "summary": summary}))
