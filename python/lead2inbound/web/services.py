"""The services a request needs, opened once per worker: `Services`.

Per worker: one Postgres pool, one Redis client, one batched lead writer, one key ring (cache),
one rate limiter and one broadcast subscriber. They open on ASGI lifespan startup and close on
shutdown, after the writer has flushed everything pending. Resources receive this object; it
lives below them (it imports no resource and not the app).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from redis.asyncio.cluster import RedisCluster

from lead2inbound import _core
from lead2inbound.access import keystore
from lead2inbound.access.auth import (
    REVOCATION_CHANNEL,
    AuthFailureLimiter,
    KeyRing,
    Principal,
    client_ip,
)
from lead2inbound.access.broadcast import Broadcast
from lead2inbound.access.limits import Decision, RateLimiter, rate_limit_headers
from lead2inbound.contract.problems import ProblemError, unauthorized, validation
from lead2inbound.dialing.queue import Clock, DialQueue, Rescrub, system_clock
from lead2inbound.dnc.crypto import SecretBox
from lead2inbound.dnc.gate import DncService
from lead2inbound.dnc.rescrub import Rescrubber, rescrub_due
from lead2inbound.intake.evidence import BrowserEvidence, browser_evidence
from lead2inbound.intake.idempotency import Idempotency
from lead2inbound.intake.suppression_hint import SuppressionHint
from lead2inbound.intake.validation import error
from lead2inbound.intake.writer import LeadWriter
from lead2inbound.ops.config import Config, ConfigError
from lead2inbound.ops.metrics import TALLY, Metrics
from lead2inbound.privacy.retention import RetentionPurge
from lead2inbound.sources.facebook import FacebookRetrier
from lead2inbound.store import suppressions
from lead2inbound.store.queries import sql
from lead2inbound.store.retention import EventRetention
from lead2inbound.web.cursors import CursorSigner
from lead2inbound.webhooks.delivery import Deliverer, policy_of
from lead2inbound.webhooks.listener import EventListener
from lead2inbound.webhooks.stream import StreamHub

log = logging.getLogger("lead2inbound")
_KEY_IN_QUERY = re.compile(r"l2i_(live|test)_")
# Where a publishable key works: POST on the lead endpoints and the plain-form endpoint only.
PUBLISHABLE_ROUTES = frozenset({"/v1/leads", "/v1/leads/batch", "/v1/forms/{form_key}"})
_ORIGIN_TTL_S = 30.0


class Services:
    """Everything a resource needs, opened once per worker."""

    def __init__(
        self, config: Config, *, clock: Clock = system_clock, rescrub: Rescrub | None = None
    ):
        if not config.database_url or not config.redis_url:
            raise ConfigError("L2I_DATABASE_URL and L2I_REDIS_URL must be set for the app")
        if not config.key_pepper:
            raise ConfigError("L2I_KEY_PEPPER must be set (the HMAC key for API key digests)")
        self.config = config
        self.metrics = Metrics()
        self.pool = AsyncConnectionPool(
            config.database_url,
            min_size=config.db_pool_min,
            max_size=config.db_pool_max,
            timeout=config.db_timeout_s,
            open=False,
            check=AsyncConnectionPool.check_connection,
            name="l2i",
        )
        redis_url, cluster = config.redis_target()
        redis_timeouts = {
            "socket_timeout": max(config.redis_timeout_ms / 1000, 0.05) * 4,
            "socket_connect_timeout": 0.5,
        }
        if cluster:  # hash-tagged limiter keys; PUBLISH reaches every node of the cluster
            self.redis = RedisCluster.from_url(redis_url, **redis_timeouts)
        else:
            self.redis = aioredis.from_url(redis_url, health_check_interval=0, **redis_timeouts)
        self.limiter = RateLimiter(self.redis, config)
        self.auth_failures = AuthFailureLimiter(config.auth_failures_per_minute)
        self.keys = KeyRing(self.pool, config.key_pepper.encode(), ttl_s=config.key_cache_ttl_s)
        self.writer = LeadWriter(
            self.pool,
            max_batch=config.writer_max_batch,
            flushers=config.writer_flushers,
            queue_timeout_s=config.write_queue_timeout_s or None,
            limiter=self.limiter,
            event_log=config.event_log,
        )
        self.broadcast = Broadcast(self.redis, on_reconnect=self.keys.forget_all)
        self.dnc = DncService(self.pool, config)
        self.rescrubber = Rescrubber(
            self.pool,
            self.dnc,
            interval_s=config.dnc_rescrub_interval_s,
            batch=config.dnc_rescrub_batch,
            max_backoff_s=config.dnc_rescrub_max_backoff_s,
        )
        # The dial queue; `clock` is injectable so tests can set the time (calling hours,
        # leases); `rescrub` is the 31-day re-scrub hook the DNC provider work plugs in.
        self.clock = clock
        self.enforce_hours = config.calling_hours == "enforce"
        self.queue = DialQueue(
            self.pool,
            enforce_hours=self.enforce_hours,
            enforce_limits=config.attempt_limits == "enforce",
            order=config.queue_order,
            clock=clock,
            rescrub=rescrub or self._rescrub_due,
        )
        self.cursors = CursorSigner(config.key_pepper.encode())
        self.suppression_hint = SuppressionHint(self.pool)
        self.broadcast.add_reconnect_hook(self._on_broadcast_gap)
        self.idempotency = Idempotency(self.pool)
        # Lead sources: their secrets' box, and the Facebook Lead Ads fetcher (docs/lead-sources.md)
        self.sources_box = SecretBox(config.secret_key, config.secret_key_old)
        self.facebook = FacebookRetrier(
            self.pool,
            config,
            writer=self.writer,
            dnc=self.dnc,
            box=self.sources_box,
            on_written=self.metrics.lead,
        )
        # Events out (docs/events.md): the delivery worker, woken by the LISTEN connection
        self.deliverer = Deliverer(self.pool, self.sources_box, config)
        self.listener = EventListener(config.database_url)
        self.listener.subscribe(self.deliverer.on_events)
        self.streams = StreamHub()
        self.event_retention = EventRetention(self.pool, config.event_retention_days)
        self.listener.subscribe(self.streams.on_events)
        self.outbound = policy_of(config)
        # The retention purge (docs/privacy.md); idle unless L2I_LEAD_RETENTION_DAYS is set.
        self.lead_retention = RetentionPurge(
            self.pool,
            days=config.lead_retention_days,
            batch=config.retention_batch,
            interval_s=config.retention_interval_s,
            keep_proof=config.erasure_keep == "consent_proof",
            clock=clock,
        )
        self._rechecks: set[asyncio.Task[None]] = set()
        self._tally: asyncio.Task[None] | None = None
        self._origins: dict[str, tuple[bool, float]] = {}

    async def start(self) -> None:
        self._tally = asyncio.get_running_loop().create_task(TALLY.flush_forever())
        await self.pool.open(wait=False)
        await self.writer.start()
        self.keys.start()
        self.broadcast.subscribe(REVOCATION_CHANNEL, self.keys.forget)
        self.broadcast.subscribe(suppressions.CHANNEL, self.suppression_hint.on_message)
        await self.broadcast.start(wait_s=0.5)
        self.rescrubber.start()
        self.suppression_hint.schedule_rebuild()  # in the background: "maybe" until done
        self.idempotency.start()
        self.facebook.start()
        self.listener.start()
        self.deliverer.start()
        self.event_retention.start()
        self.lead_retention.start()
        # Everything built so far (modules, the app, pools) lives as long as the worker: move it
        # out of the collector's sight so a full collection does not walk it (tens of ms under
        # load, every second or so: the p99 of every request caught behind it).
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        for task in list(self._rechecks):  # a recheck pending at shutdown is skipped
            task.cancel()
        await self.idempotency.stop()
        await self.facebook.stop()
        self.streams.close()
        await self.lead_retention.stop()
        await self.event_retention.stop()
        await self.deliverer.stop()
        await self.listener.stop()
        await self.writer.stop()
        await self.rescrubber.stop()
        await self.dnc.aclose()
        await self.keys.stop()
        await self.suppression_hint.stop()
        await self.broadcast.stop()
        await self.limiter.aclose()
        await self.redis.aclose()
        await self.pool.close()
        if self._tally is not None:
            self._tally.cancel()  # its last flush runs as it ends
            await asyncio.gather(self._tally, return_exceptions=True)

    async def _rescrub_due(self, conn: Any, org_id: str, lead_ids: list[str]) -> list[str]:
        """The 31-day re-scrub before a claim hands leads out (a no-op without a provider)."""
        return await rescrub_due(conn, self.dnc, org_id, lead_ids)

    def _on_broadcast_gap(self) -> None:
        self.suppression_hint.schedule_rebuild()

    async def publish(self, channel: str, message: str) -> None:
        """Best effort: a lost message is covered by cache TTLs and reconnect rebuilds."""
        try:
            await self.broadcast.publish(channel, message)
        except Exception as exc:
            log.warning("publish on %s failed: %s", channel, exc)

    async def revoke_key(self, org_id: str, key_id: str) -> Any:
        """Revoke an org's key (the API's DELETE and the console): committed, then every
        worker on every node drops it. The revoked row, or None when the org has no such key."""
        async with self.pool.connection() as conn:
            row = await keystore.revoke_key_async(conn, key_id, org_id)
        if row is not None:
            self.keys.forget(key_id)
            await self.publish(REVOCATION_CHANNEL, key_id)
        return row

    async def publish_suppressions(self, org_id: str, phones: list[str]) -> None:
        """After the commit: every worker adds the numbers to its suppression hint, and the
        queue is checked for the numbers once more a few seconds later (see `_recheck`)."""
        self.suppression_hint.add(org_id, phones)
        for i in range(0, len(phones), 500):
            await self.publish(suppressions.CHANNEL, " ".join([org_id, *phones[i : i + 500]]))
        task = asyncio.get_running_loop().create_task(self._recheck(org_id, phones))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck(self, org_id: str, phones: list[str]) -> None:
        """Take the numbers out of the queue once more (suppressions.RECHECK_AFTER_S): a raced
        lead would wait there, never claimed (the claim excludes suppressed numbers) but never
        taken out either."""
        await asyncio.sleep(suppressions.RECHECK_AFTER_S)
        try:
            async with self.pool.connection() as conn:
                gone = await suppressions.dequeue(conn, org_id, phones, now=self.clock())
        except Exception as exc:  # best effort: the claim still never hands these numbers out
            log.warning("suppression recheck for org %s failed: %s", org_id, exc)
            return
        if gone:
            log.warning("suppression recheck took %d raced lead(s) out of the queue", len(gone))

    async def authorize(self, req: Any, scope: str, cost: int = 1) -> Principal:
        """Authenticate, count the request against the key's limit, then check the scope."""
        principal = await self.authenticate(req)
        await self.charge(req, principal, cost, scope)
        return principal

    async def authenticate(
        self, req: Any, *, form_key: str | None = None, pasted_key: str | None = None
    ) -> Principal:
        """Who is calling (401 otherwise); nothing is counted yet: call `charge` next.

        `form_key`: the publishable key from the plain-form endpoint's path, used instead of
        the `Authorization` header; only an `l2i_pk_` key is accepted there (a secret key in a
        URL is a leaked key: 401). `pasted_key`: a key pasted into the console's sign-in form
        (a wrong one counts toward the address's failure limit like a wrong header)."""
        ip = client_ip(
            req.remote_addr, req.get_header("X-Forwarded-For"), self.config.trusted_proxy_hops
        )
        wait = self.auth_failures.blocked(ip)
        if wait:  # too many failed attempts from this address: refused before any key lookup
            raise ProblemError(
                "rate_limited",
                f"Too many failed authentication attempts; retry after {wait} s.",
                headers=[("Retry-After", str(wait))],
            )
        try:
            if _KEY_IN_QUERY.search(req.query_string or ""):
                raise unauthorized()  # keys in URLs end up in logs: never accepted there
            if form_key is not None:
                parsed = _core.parse_key(form_key)
                if parsed is None or not parsed.publishable:
                    raise unauthorized()
                principal = await self.keys.authenticate(f"Bearer {form_key}")
            elif pasted_key is not None:
                principal = await self.keys.authenticate(f"Bearer {pasted_key.strip()}")
            else:
                principal = await self.keys.authenticate(req.get_header("Authorization"))
        except ProblemError as exc:
            if exc.code == "unauthorized":
                self.auth_failures.failed(ip)
            raise
        req.context.principal = principal
        return principal

    async def charge(self, req: Any, principal: Principal, cost: int, scope: str) -> None:
        """Count `cost` units (a batch: one per lead) against the key's limit, then the scope.

        All or nothing: a refused request consumes nothing. A cost above the key's whole
        per-minute limit could never be admitted: that is a 422, not a 429 to wait out.
        A publishable key is counted per client address first. Then the browser rules
        (`browser_gate`): a page's origin the key does not allow is a 403.
        """
        if cost > principal.rate_limit:
            decision = await self.limiter.check(principal.key_id, principal.rate_limit, 0)
            req.context.rate_headers = rate_limit_headers(decision)
            raise validation(
                [
                    error(
                        ["leads"],
                        "invalid",
                        f"{cost} leads is more than this key's whole limit of "
                        f"{principal.rate_limit} per minute: split the batch",
                    )
                ]
            )
        if principal.publishable:
            # The address's budget first: one address cannot drain a public key's budget, not
            # even with requests the key then refuses (no Origin, another endpoint).
            await self._charge_client_ip(req, principal, cost)
        decision = await self.limiter.check(principal.key_id, principal.rate_limit, cost)
        self.decided(req, decision, cost)
        await self.browser_gate(req, principal)
        principal.require(scope)

    async def browser_gate(self, req: Any, principal: Principal) -> None:
        """The rules for keys used from web pages (docs/web-forms.md), after the key's charge.

        * A cross-origin browser request (an `Origin` that is not this service's own) works only
          from an origin the key allows: 403 otherwise, nothing stored. Server-to-server
          callers send no `Origin` and see no change.
        * A publishable key works only from its allowed origins (no `Origin` at all: 403) and
          only on POST to the lead and form endpoints (its per-client-IP limit was charged
          before the key's own, in `charge`).
        """
        origin = req.get_header("Origin")
        if principal.publishable:
            if req.method != "POST" or req.uri_template not in PUBLISHABLE_ROUTES:
                raise ProblemError(
                    "forbidden",
                    "A publishable key (l2i_pk_) may only send leads: POST /v1/leads, "
                    "/v1/leads/batch or /v1/forms/{form_key}.",
                )
            if not principal.allows_origin(origin):
                raise ProblemError(
                    "forbidden",
                    "A publishable key works only from a web page on one of its allowed "
                    "origins" + (f"; {origin[:100]!r} is not one." if origin else "; no Origin."),
                )
        elif (
            origin is not None
            and not self._same_origin(req, origin)
            and not principal.allows_origin(origin)
        ):
            raise ProblemError(
                "forbidden",
                f"This key does not allow requests from web pages on {origin[:100]!r} "
                "(see the key's allowed origins).",
            )

    @staticmethod
    def _same_origin(req: Any, origin: str) -> bool:
        """Whether a page of this service itself (the /docs page) sent the request."""
        host = req.get_header("Host") or ""
        _, _, rest = origin.partition("://")
        return bool(host) and rest.lower() == host.lower()

    async def _charge_client_ip(self, req: Any, principal: Principal, cost: int) -> None:
        """A publishable key's second budget: per key and client address (the address as
        `L2I_TRUSTED_PROXY_HOPS` says). Refused: the 429 with this budget's headers."""
        limit = principal.ip_rate_limit or 1
        ip = self.client_ip(req)
        decision = await self.limiter.check(f"ip:{principal.key_id}:{ip}", limit, cost)
        if not decision.allowed:
            req.context.rate_headers = rate_limit_headers(decision, policy="client-ip")
            raise ProblemError(
                "rate_limited",
                f"This form key takes {limit} requests per minute from one address; retry "
                f"after {decision.retry_after} s.",
            )

    def client_ip(self, req: Any) -> str:
        return client_ip(
            req.remote_addr, req.get_header("X-Forwarded-For"), self.config.trusted_proxy_hops
        )

    def browser_evidence(self, req: Any, *, stamp: bool = False) -> BrowserEvidence:
        """What the consumer's browser tells about itself (intake/evidence.py)."""
        return browser_evidence(
            self.client_ip(req),
            req.get_header("User-Agent"),
            req.get_header("Referer"),
            req.get_header("Origin"),
            stamp=stamp,
        )

    async def origin_allowed(self, origin: str) -> bool:
        """Whether some live key of the service allows `origin` (what a preflight can know:
        it names no key). Cached per worker for a few seconds; a store error is a no."""
        if len(origin) > 300 or "://" not in origin:
            return False  # no key can list it (keystore.parse_origin): no query for junk
        now = asyncio.get_running_loop().time()
        hit = self._origins.get(origin)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql("origin_allowed"), (origin,))
                row = await cur.fetchone()
            allowed = bool(row and row[0])
        except Exception as exc:
            log.warning("origin look-up failed: %s", exc)
            return False
        if len(self._origins) > 10_000:
            self._origins.clear()
        self._origins[origin] = (allowed, now + _ORIGIN_TTL_S)
        return allowed

    @staticmethod
    def decided(req: Any, decision: Decision, cost: int = 1) -> None:
        """A charge's decision: the answer's rate-limit headers, and the 429 if refused."""
        req.context.rate_headers = rate_limit_headers(decision)
        if not decision.allowed:
            raise ProblemError(
                "rate_limited",
                f"This key may send {decision.limit} requests per minute"
                + (f" (this one costs {cost})" if cost != 1 else "")
                + f"; retry after {decision.retry_after} s.",
            )
