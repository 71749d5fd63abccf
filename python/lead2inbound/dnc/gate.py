"""Gate 4, the DNC provider, and the per-worker service behind it.

`DncService.gate(prepared)` runs in the request after `pipeline.prepare` and before the writer:

- no provider connected: nothing changes (`checks.dnc = not_connected`); the lead is counted in
  `l2i_leads_unscrubbed_total{org_id}`.
- a phone that already holds a live duplicate claim is not scrubbed (a duplicate costs no paid
  scrub): the writer will answer it as the duplicate. Should the claim lapse in between, the lead
  is stored `pending_scrub`, so it still never reaches the queue unscrubbed.
- otherwise one scrub, bounded by the org's timeout: clear / `dnc_hit` / `litigator_hit`, with the
  raw answer as evidence; no usable answer stores the lead `pending_scrub` (`dnc_unavailable`),
  unless another reason already makes it ineligible.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from prometheus_client import Counter, Histogram
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from lead2inbound.dnc.crypto import SecretBox, SecretError, associated_data
from lead2inbound.dnc.providers import DncProvider, ProviderUnavailable, ScrubResult, build_provider
from lead2inbound.ops.metrics import TALLY, child
from lead2inbound.store.queries import sql

if TYPE_CHECKING:
    from lead2inbound.intake.pipeline import PreparedLead
    from lead2inbound.intake.writer import WriteResult
    from lead2inbound.ops.config import Config

log = logging.getLogger("lead2inbound.dnc")

UNSCRUBBED = Counter(
    "l2i_leads_unscrubbed", "Leads stored with no DNC provider connected for their org", ["org_id"]
)
SCRUBS = Counter("l2i_dnc_scrubs", "DNC scrubs by provider and outcome", ["provider", "outcome"])
SCRUB_SECONDS = Histogram(
    "l2i_dnc_scrub_seconds",
    "Time of one DNC scrub (answered or not)",
    ["provider"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5),
)


@dataclass(slots=True)
class Connection:
    """An org's connected provider, ready to scrub."""

    provider: DncProvider
    timeout_s: float
    version: Any  # the row's updated_at: a changed row builds a new adapter


class _Broken:
    """A connected provider whose credentials cannot be opened: every scrub is unavailable."""

    def __init__(self, name: str, why: str):
        self.name = name
        self._why = why

    async def scrub(self, e164: str) -> ScrubResult:
        raise ProviderUnavailable(self._why)

    async def aclose(self) -> None:
        return None


def status_after_gates(lead: PreparedLead) -> str:
    reasons = [*lead.pre_reasons, *lead.post_reasons]
    if not reasons:
        return "new"
    return "pending_scrub" if reasons == ["dnc_unavailable"] else "ineligible"


class DncService:
    def __init__(self, pool: AsyncConnectionPool, config: Config):
        self._pool = pool
        self._config = config
        self._box = SecretBox(config.secret_key, config.secret_key_old)
        self._cache: dict[str, tuple[float, Connection | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        for _, conn in self._cache.values():
            if conn is not None:
                await conn.provider.aclose()
        self._cache.clear()

    # --- connections ------------------------------------------------------------------------

    async def connection_for(self, org_id: str) -> Connection | None:
        """The org's provider, from a per-worker cache refreshed every `L2I_DNC_CACHE_TTL_S`."""
        now = time.monotonic()
        hit = self._cache.get(org_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        lock = self._locks.setdefault(org_id, asyncio.Lock())
        async with lock:
            hit = self._cache.get(org_id)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(sql("dnc_connection"), (org_id,))
                    row = await cur.fetchone()
            except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
                from lead2inbound.store.errors import StoreUnavailable

                raise StoreUnavailable(str(exc)) from exc
            old = hit[1] if hit is not None else None
            current = self._build(org_id, row, old)
            if old is not None and old is not current:
                await old.provider.aclose()
            self._cache[org_id] = (time.monotonic() + self._config.dnc_cache_ttl_s, current)
            return current

    def _build(self, org_id: str, row: Any, old: Connection | None) -> Connection | None:
        if row is None:
            return None
        provider, base_url, timeout_ms, options, sealed, key_id, updated_at = row
        if old is not None and old.version == updated_at:
            return old
        timeout_s = timeout_ms / 1000
        registry_path = self._config.registry_dir / f"{org_id}.dnc"
        try:
            credentials: dict[str, str] = {}
            if sealed is not None:
                plain = self._box.open(bytes(sealed), key_id, associated_data(org_id, provider))
                credentials = json.loads(plain)
            adapter: DncProvider = build_provider(
                provider,
                credentials=credentials,
                base_url=base_url,
                timeout_s=timeout_s,
                options=options or {},
                registry_path=registry_path,
            )
        except (SecretError, KeyError, ValueError) as exc:
            # Never the credentials themselves: only why they could not be used.
            log.error("org %s: DNC provider %s cannot be used: %s", org_id, provider, exc)
            adapter = _Broken(provider, f"credentials unusable: {type(exc).__name__}")
        return Connection(adapter, timeout_s, updated_at)

    # --- scrubbing --------------------------------------------------------------------------

    async def scrub(self, conn: Connection, e164: str) -> ScrubResult:
        """One scrub under the org's timeout; raises ProviderUnavailable."""
        name = conn.provider.name
        started = time.perf_counter()
        try:
            async with asyncio.timeout(conn.timeout_s):
                result = await conn.provider.scrub(e164)
        except TimeoutError:
            SCRUBS.labels(name, "unavailable").inc()
            raise ProviderUnavailable("timeout") from None
        except ProviderUnavailable:
            SCRUBS.labels(name, "unavailable").inc()
            raise
        except Exception as exc:  # an adapter bug must fail closed too, never 500 a lead
            log.exception("DNC provider %s failed unexpectedly", name)
            SCRUBS.labels(name, "unavailable").inc()
            raise ProviderUnavailable(f"adapter error: {type(exc).__name__}") from None
        finally:
            SCRUB_SECONDS.labels(name).observe(time.perf_counter() - started)
        SCRUBS.labels(name, result.outcome).inc()
        return result

    async def _live_claim(self, lead: PreparedLead) -> bool:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    sql("dnc_live_claim"), (lead.org_id, lead.sandbox, lead.number.e164)
                )
                row = await cur.fetchone()
        except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
            from lead2inbound.store.errors import StoreUnavailable

            raise StoreUnavailable(str(exc)) from exc
        return bool(row and row[0])

    async def gate(self, lead: PreparedLead) -> None:
        conn = await self.connection_for(lead.org_id)
        if conn is None:
            return  # checks.dnc stays "not_connected"
        if await self._live_claim(lead):
            # A duplicate: the writer answers with the existing lead and stores nothing. Fail
            # closed should the claim lapse before the writer runs.
            apply_unavailable(lead, "not scrubbed: the phone held a live duplicate claim")
            return
        try:
            result = await self.scrub(conn, lead.number.e164)
        except ProviderUnavailable as exc:
            log.warning(
                "org %s: DNC provider %s unavailable (%s); lead %s pending_scrub",
                lead.org_id,
                conn.provider.name,
                exc.detail,
                lead.lead_id,
            )
            apply_unavailable(lead, exc.detail, conn.provider.name, exc.raw)
            return
        apply_result(lead, result)

    def after_write(self, lead: PreparedLead, result: WriteResult) -> None:
        if result.created and result.checks.get("dnc") == "not_connected":
            TALLY.inc(child(UNSCRUBBED, lead.org_id))


def apply_result(lead: PreparedLead, result: ScrubResult) -> None:
    lead.checks["dnc"] = result.outcome
    if result.outcome != "clear":
        lead.post_reasons.insert(0, result.outcome)  # gate order: dnc before consent
    lead.dnc_evidence = result.evidence()
    lead.scrubbed_at = result.checked_at
    lead.status = status_after_gates(lead)


def apply_unavailable(lead: PreparedLead, detail: str, provider: str = "", raw: str = "") -> None:
    lead.checks["dnc"] = "unavailable"
    lead.post_reasons.insert(0, "dnc_unavailable")
    lead.dnc_evidence = json.dumps(
        {
            "provider": provider,
            "outcome": "unavailable",
            "error": detail,
            "raw": raw,
            "checked_at": datetime.now(UTC).isoformat(),
        }
    )
    lead.scrubbed_at = None
    lead.status = status_after_gates(lead)
