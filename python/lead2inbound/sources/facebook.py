"""Facebook Lead Ads: the leadgen notification, the Graph API fetch, and the retrier.

A `leadgen` change notification names a lead (`leadgen_id`) but does not hold it. Each one is
kept in `facebook_leads` first (so the answer to Facebook can be a quick 200 and nothing is lost),
then the retrier fetches `GET /{leadgen-id}` from the Graph API with the page access token,
maps it with the source's mapping and writes it through the same pipeline as any lead.

The Graph API's address is the operator's (`L2I_FACEBOOK_GRAPH_URL`), never a tenant's, and the
fetch goes through the outbound guard (ops/outbound.py: public https addresses only unless
`L2I_FACEBOOK_GRAPH_ALLOW_PRIVATE`, no redirects, 1 MiB, one time limit). A leadgen id is the
digits Facebook sends: anything else is refused at the door and never put in a path.

A fetch that fails (timeout, 5xx, an expired token: OAuthException 190) stays pending and is
tried again after a backoff that doubles up to `L2I_FACEBOOK_RETRY_MAX_BACKOFF_S`, until
`L2I_FACEBOOK_MAX_ATTEMPTS` tries or `L2I_FACEBOOK_GIVE_UP_S` after receipt: then it is `failed`
with the last reason (so is a lead Graph says does not exist, and one whose mapping fails
validation). Orgs are served fairly: each worker runs at most `L2I_FACEBOOK_CONCURRENCY` fetches,
at most `L2I_FACEBOOK_ORG_CONCURRENCY` of them for one org, and claims the orgs' due rows in turn,
so one org's notices hanging on a silent host do not hold up another org's lead. One row per
leadgen id, and the duplicate check on the phone, make a lead fetched twice one lead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from psycopg_pool import AsyncConnectionPool

from lead2inbound.access.auth import Principal
from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.dnc.crypto import SecretBox, SecretError
from lead2inbound.dnc.gate import DncService
from lead2inbound.intake.pipeline import OrgPolicy, prepare
from lead2inbound.intake.validation import error
from lead2inbound.intake.writer import LeadWriter, WriteResult
from lead2inbound.ops.background import RetryLoop, backoff
from lead2inbound.ops.config import Config
from lead2inbound.ops.outbound import (
    Connections,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    OutboundTimeout,
    send,
)
from lead2inbound.sources.preview import source_lead
from lead2inbound.sources.store import Source, get_async
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.sources")

LEAD_FIELDS = (
    "id,created_time,ad_id,ad_name,adset_id,campaign_id,campaign_name,form_id,field_data,"
    "custom_disclaimer_responses,is_organic,platform"
)
# Meta aggregates webhook notifications into batches of at most 1000 updates; a request with
# more leadgen changes than that did not come from Facebook.
MAX_CHANGES = 1000
LEADGEN_ID = re.compile(r"[0-9]{1,32}")


class GraphError(Exception):
    """The Graph API did not hand the lead over. `permanent`: trying again cannot help (the lead
    does not exist for this token, the id is not one), so the row is `failed` at once."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Notice:
    leadgen_id: str
    value: dict[str, Any]


@dataclass(frozen=True)
class Notices:
    kept: list[Notice]  # one per distinct leadgen id
    refused: int  # leadgen changes whose id is not Facebook's digits: never fetched


def leadgen_id(raw: Any) -> str | None:
    """The leadgen id as Facebook sends it (digits, as a string or a number), else None."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        raw = str(raw)
    if isinstance(raw, str) and LEADGEN_ID.fullmatch(raw):
        return raw
    return None


def leadgen_notices(body: Any) -> Notices:
    """The leadgen changes of a webhook body (`object: page`, `entry[].changes[]`); other
    fields and malformed entries are skipped (Facebook sends one field per subscription).
    More than MAX_CHANGES leadgen changes is a 422 (Facebook never sends that many)."""
    found: dict[str, Notice] = {}
    seen, refused = 0, 0
    if not isinstance(body, dict) or body.get("object") != "page":
        return Notices([], 0)
    for entry in body.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or change.get("field") != "leadgen":
                continue
            value = change.get("value")
            if not isinstance(value, dict) or value.get("leadgen_id") in (None, ""):
                continue
            seen += 1
            if seen > MAX_CHANGES:
                raise validation(
                    [
                        error(
                            ["entry"],
                            "too_many",
                            f"more than {MAX_CHANGES} leadgen changes in one notification "
                            "(Facebook batches at most 1000)",
                        )
                    ]
                )
            lid = leadgen_id(value["leadgen_id"])
            if lid is None:
                refused += 1
            elif lid not in found:
                found[lid] = Notice(lid, value)
    return Notices(list(found.values()), refused)


def principal_of(source: Source) -> Principal:
    """Who a source's signed posts and fetched leads act as: the source itself (its own rate
    limit; `api_key_id` on the lead is `src:<source id>`)."""
    return Principal(
        key_id=f"src:{source.source_id}",
        org_id=source.org_id,
        env="test" if source.sandbox else "live",
        scopes=frozenset({"write"}),
        rate_limit=source.rate_limit,
        require_valid_phone=source.require_valid_phone,
        requeue_duplicates=source.requeue_duplicates,
    )


def graph_policy(config: Config) -> OutboundPolicy:
    local = config.facebook_graph_allow_private
    return OutboundPolicy(
        allow_http=local, allow_private=local, timeout_s=config.facebook_timeout_ms / 1000
    )


class GraphClient:
    """`GET {L2I_FACEBOOK_GRAPH_URL}/{leadgen-id}` through the outbound guard. A source's old
    `options.graph_url` (refused at creation since) is ignored."""

    def __init__(self, config: Config):
        self._base = config.facebook_graph_url.rstrip("/")
        self._policy = graph_policy(config)
        self._connections = Connections()  # keep-alive to the Graph API, through the guard

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def lead(self, leadgen: str, token: str) -> dict[str, Any]:
        if leadgen_id(leadgen) != leadgen:  # a row kept before ids were checked
            raise GraphError("the leadgen id is not digits: never fetched", permanent=True)
        url = f"{self._base}/{leadgen}?fields={quote(LEAD_FIELDS, safe=',')}"
        try:
            resp = await send(
                "GET",
                url,
                policy=self._policy,
                headers={"Authorization": f"Bearer {token}"},
                connections=self._connections,
            )
        except OutboundTimeout as exc:
            raise GraphError(f"Graph API timeout ({exc})") from None
        except OutboundRefused as exc:
            raise GraphError(f"Graph API request refused: {exc.reason}") from None
        except OutboundError as exc:
            raise GraphError(f"Graph API unreachable ({exc})") from None
        try:
            body = json.loads(resp.body)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            body = None
        if resp.status != 200 or not isinstance(body, dict) or "error" in body:
            raise _graph_error(resp.status, body)
        if not isinstance(body.get("field_data"), list):
            raise GraphError("Graph API answer without field_data")
        return body


def _graph_error(status: int, body: Any) -> GraphError:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return GraphError(f"Graph API HTTP {status}")
    code = err.get("code")
    kind = str(err.get("type") or "error")[:100]
    if code == 190:
        return GraphError(
            f"the page access token is expired or invalid ({kind} 190): give the source a new "
            "one (l2i sources secrets --page-token)"
        )
    message = f"Graph API HTTP {status}: {kind} {code}: {str(err.get('message') or '')[:200]}"
    # 100: the object does not exist (or this token may not see it): asking again cannot help
    return GraphError(message, permanent=400 <= status < 500 and code == 100)


def facebook_lead(source: Source, doc: dict[str, Any]) -> Any:
    """The LeadIn and wire names a fetched Graph lead makes under the source's mapping."""
    lead, names, _ = source_lead(source, doc)  # lenient: only the phone refuses it
    return lead, names


class FacebookRetrier(RetryLoop):
    """Fetches kept notifications' leads, in the background of every worker, on the shared
    `RetryLoop` (rows are claimed with SKIP LOCKED and a lease, so workers and nodes share the
    work without doing it twice).

    Each fetch runs as its own task (`spawn`, one of `L2I_FACEBOOK_CONCURRENCY` slots): a slow
    one holds its slot only, never a whole round. The claim fills free slots taking the orgs in
    turn, and never gives one org more than `L2I_FACEBOOK_ORG_CONCURRENCY` slots of this worker.
    A new notification `poke()`s the loop; so does a fetch ending (a slot is free)."""

    TASK_NAME = "l2i-facebook-retrier"

    def __init__(
        self,
        pool: AsyncConnectionPool,
        config: Config,
        *,
        writer: LeadWriter,
        dnc: DncService,
        box: SecretBox,
        on_written: Callable[[WriteResult], None] = lambda result: None,
    ):
        super().__init__()
        self._pool = pool
        self._config = config
        self._writer = writer
        self._dnc = dnc
        self._box = box
        self._on_written = on_written
        self.batch = config.facebook_concurrency
        self.interval_s = config.facebook_retry_interval_s
        self._per_org = config.facebook_org_concurrency
        self.graph = GraphClient(config)

    async def stop(self) -> None:
        await super().stop()
        await self.graph.aclose()

    def _backoff(self, attempts: int) -> float:
        cap = self._config.facebook_retry_max_backoff_s
        return backoff(attempts, base=min(self._config.facebook_retry_interval_s, 2.0), cap=cap)

    async def round(self) -> int:
        """Claim due notifications for the free slots (orgs in turn) and start their fetches;
        returns how many it started."""
        free = self.free()
        if free <= 0:
            return 0
        lease_s = self._config.facebook_timeout_ms / 1000 * 2 + 30
        busy = self.running()
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                sql("facebook_leads_due"),
                {
                    "lease_s": lease_s,
                    "limit": free,
                    "per_org": self._per_org,
                    "busy_orgs": list(busy),
                    "busy_counts": list(busy.values()),
                },
            )
            rows = await cur.fetchall()
        for org_id, leadgen, source_id, _, attempts in rows:
            org = str(org_id)
            self.spawn(self._one(org, leadgen, str(source_id), attempts), group=org)
        return len(rows)

    async def _one(self, org_id: str, leadgen: str, source_id: str, attempts: int) -> None:
        status, error, lead_id, delay = "pending", None, None, self._backoff(attempts)
        try:
            async with self._pool.connection() as conn:
                source = await get_async(conn, source_id, org_id)
            if source is None:
                return  # deleted: its notifications went with it
            token = source.secrets(self._box).get("page_token", "")
            doc = await self.graph.lead(leadgen, token)
            lead, names = facebook_lead(source, doc)
            principal = principal_of(source)
            prepared = prepare(
                lead,
                policy=OrgPolicy(org_id, source.require_valid_phone),
                key_id=principal.key_id,
                sandbox=principal.sandbox,
                consent_skew_s=self._config.consent_clock_skew_s,
                names=names,
            )
            prepared.requeue = source.requeue_duplicates
            await self._dnc.gate(prepared)
            result = await self._writer.write(prepared)
            self._on_written(result)
            self._dnc.after_write(prepared, result)
            status, lead_id, delay = "done", result.lead_id, 0.0
        except GraphError as exc:
            error = str(exc)
            if exc.permanent:
                status, delay = "failed", 0.0
            log.warning("facebook lead %s: %s (attempt %d)", leadgen, error, attempts + 1)
        except ProblemError as exc:  # the fetched lead does not validate: kept, not retried
            detail = "; ".join(f"{e.param}: {e.detail}" for e in exc.errors or []) or exc.detail
            status, error, delay = "failed", f"{exc.code}: {detail}"[:1000], 0.0
        except SecretError as exc:
            error = f"the page token does not open: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Postgres or the writer away: try again later
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("facebook lead %s: %s", leadgen, error)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    sql("facebook_lead_settle"),
                    {
                        "org_id": org_id,
                        "leadgen_id": leadgen,
                        "status": status,
                        "error": error,
                        "lead_id": lead_id,
                        "delay_s": delay,
                        "max_attempts": self._config.facebook_max_attempts,
                        "give_up_s": self._config.facebook_give_up_s,
                    },
                )
        except Exception as exc:  # the lease runs out and the row is claimed again
            log.warning("facebook lead %s: could not record the attempt: %s", leadgen, exc)


async def fetch_summary(conn: Any, source: Source) -> dict[str, dict[str, Any]]:
    """The source's notifications by status, with the latest error of each: what `l2i sources
    show` and `GET /v1/sources/{id}` report."""
    cur = await conn.execute(
        sql("facebook_leads_summary"), {"org_id": source.org_id, "source_id": source.source_id}
    )
    return {r[0]: {"count": r[1], "last_error": r[2]} for r in await cur.fetchall()}


async def keep(pool: AsyncConnectionPool, source: Source, notices: list[Notice]) -> int:
    """Store the notifications (one row per leadgen id); returns how many were new."""
    new = 0
    async with pool.connection() as conn, conn.transaction():
        for notice in notices:
            cur = await conn.execute(
                sql("facebook_lead_add"),
                {
                    "org_id": source.org_id,
                    "leadgen_id": notice.leadgen_id,
                    "source_id": source.source_id,
                    "notification": json.dumps(notice.value),
                },
            )
            new += (await cur.fetchone()) is not None
    return new
