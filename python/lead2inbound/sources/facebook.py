"""Facebook Lead Ads: the leadgen notification, the Graph API fetch, and the retrier.

A `leadgen` change notification names a lead (`leadgen_id`) but does not hold it. Each one is
kept in `facebook_leads` first (so the answer to Facebook can be a quick 200 and nothing is lost),
then the retrier fetches `GET /{leadgen-id}` from the Graph API with the page access token,
maps it with the source's mapping and writes it through the same pipeline as any lead. A fetch
that fails (timeout, 5xx, an expired token: OAuthException 190) stays pending and is tried again
after a backoff that doubles up to `L2I_FACEBOOK_RETRY_MAX_BACKOFF_S`; a lead whose mapping fails
validation is kept as `failed` with the reason. One row per leadgen id, and the duplicate check on
the phone, make a lead fetched twice one lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from lead2inbound.access.auth import Principal
from lead2inbound.contract.problems import ProblemError
from lead2inbound.dnc.crypto import SecretBox, SecretError
from lead2inbound.dnc.gate import DncService
from lead2inbound.intake.pipeline import OrgPolicy, prepare
from lead2inbound.intake.validation import parse_lead
from lead2inbound.intake.writer import LeadWriter, WriteResult
from lead2inbound.ops.background import BackgroundTask
from lead2inbound.ops.config import Config
from lead2inbound.sources.preview import mapped_lead
from lead2inbound.sources.store import Source, get_async
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.sources")

LEAD_FIELDS = (
    "id,created_time,ad_id,ad_name,adset_id,campaign_id,campaign_name,form_id,field_data,"
    "custom_disclaimer_responses,is_organic,platform"
)


class GraphError(Exception):
    """The Graph API did not hand the lead over (the retrier tries again later)."""


@dataclass(frozen=True)
class Notice:
    leadgen_id: str
    value: dict[str, Any]


def leadgen_notices(body: Any) -> list[Notice]:
    """The leadgen changes of a webhook body (`object: page`, `entry[].changes[]`); other
    fields and malformed entries are skipped (Facebook sends one field per subscription)."""
    out: list[Notice] = []
    if not isinstance(body, dict) or body.get("object") != "page":
        return out
    for entry in body.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or change.get("field") != "leadgen":
                continue
            value = change.get("value")
            if isinstance(value, dict) and value.get("leadgen_id") not in (None, ""):
                out.append(Notice(str(value["leadgen_id"]), value))
    return out


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


class GraphClient:
    def __init__(self, config: Config):
        self._default = config.facebook_graph_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=config.facebook_timeout_ms / 1000)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def lead(self, source: Source, leadgen_id: str, token: str) -> dict[str, Any]:
        base = str(source.options.get("graph_url") or self._default).rstrip("/")
        try:
            resp = await self._client.get(
                f"{base}/{leadgen_id}",
                params={"fields": LEAD_FIELDS},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TimeoutException:
            raise GraphError("Graph API timeout") from None
        except httpx.HTTPError as exc:
            raise GraphError(f"Graph API unreachable ({type(exc).__name__})") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict) or "error" in body:
            raise GraphError(_graph_error(resp.status_code, body))
        if not isinstance(body.get("field_data"), list):
            raise GraphError("Graph API answer without field_data")
        return body


def _graph_error(status: int, body: Any) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return f"Graph API HTTP {status}"
    code = err.get("code")
    kind = err.get("type") or "error"
    if code == 190:
        return (
            f"the page access token is expired or invalid ({kind} 190): give the source a new "
            "one (l2i sources secrets --page-token)"
        )
    return f"Graph API HTTP {status}: {kind} {code}: {str(err.get('message') or '')[:200]}"


def facebook_lead(source: Source, doc: dict[str, Any]) -> Any:
    """The LeadIn and wire names a fetched Graph lead makes under the source's mapping."""
    data, names, _ = mapped_lead(source, doc)
    return parse_lead(data, strict=False, names=names)


class FacebookRetrier(BackgroundTask):
    """Fetches kept notifications' leads, in the background of every worker (rows are claimed
    with SKIP LOCKED and a lease, so workers and nodes share the work without doing it twice)."""

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
        batch: int = 10,
    ):
        self._pool = pool
        self._config = config
        self._writer = writer
        self._dnc = dnc
        self._box = box
        self._on_written = on_written
        self._batch = batch
        self.graph = GraphClient(config)
        self._wake = asyncio.Event()

    async def stop(self) -> None:
        await super().stop()
        await self.graph.aclose()

    def kick(self) -> None:
        """A notification was just kept: fetch it now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                done = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres away: try again later, never die
                log.warning("facebook retrier round failed: %s", exc)
                done = 0
            if done < self._batch:
                interval = self._config.facebook_retry_interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval * random.uniform(0.75, 1.25))
                self._wake.clear()

    def _backoff(self, attempts: int) -> float:
        cap = self._config.facebook_retry_max_backoff_s
        base = min(self._config.facebook_retry_interval_s, 2.0)
        return min(cap, base * 2.0 ** min(attempts, 30)) * random.uniform(0.8, 1.2)

    async def round(self) -> int:
        """One round: claim due notifications and fetch them; returns how many it took."""
        lease_s = self._config.facebook_timeout_ms / 1000 * 2 + 30
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                sql("facebook_leads_due"), {"lease_s": lease_s, "limit": self._batch}
            )
            rows = await cur.fetchall()
        await asyncio.gather(*(self._one(str(r[0]), r[1], str(r[2]), r[4]) for r in rows))
        return len(rows)

    async def _one(self, org_id: str, leadgen_id: str, source_id: str, attempts: int) -> None:
        status, error, lead_id, delay = "pending", None, None, self._backoff(attempts)
        try:
            async with self._pool.connection() as conn:
                source = await get_async(conn, source_id, org_id)
            if source is None:
                return  # deleted: its notifications went with it
            token = source.secrets(self._box).get("page_token", "")
            doc = await self.graph.lead(source, leadgen_id, token)
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
            log.warning("facebook lead %s: %s (attempt %d)", leadgen_id, error, attempts + 1)
        except ProblemError as exc:  # the fetched lead does not validate: kept, not retried
            detail = "; ".join(f"{e.param}: {e.detail}" for e in exc.errors or []) or exc.detail
            status, error, delay = "failed", f"{exc.code}: {detail}"[:1000], 0.0
        except SecretError as exc:
            error = f"the page token does not open: {exc}"
        except Exception as exc:  # Postgres or the writer away: try again later
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("facebook lead %s: %s", leadgen_id, error)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    sql("facebook_lead_settle"),
                    {
                        "org_id": org_id,
                        "leadgen_id": leadgen_id,
                        "status": status,
                        "error": error,
                        "lead_id": lead_id,
                        "delay_s": delay,
                    },
                )
        except Exception as exc:  # the lease runs out and the row is claimed again
            log.warning("facebook lead %s: could not record the attempt: %s", leadgen_id, exc)


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
