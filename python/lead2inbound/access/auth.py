"""Authentication: API keys from the Authorization header to a `Principal`.

Order of work, cheapest first: the header's shape, then the key's format and CRC32 checksum in
Rust (garbage never reaches a store), then the key record from a per-process cache (or Postgres),
then the HMAC digest in Rust in constant time. Revocation is broadcast over Redis to every worker
of every node, which drops the key from its cache at once; the cache TTL is the backstop when a
broadcast is missed (and a Redis reconnect drops the whole cache).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from lead2inbound import _core
from lead2inbound.contract.problems import forbidden, unauthorized
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.auth")

SCOPES = ("write", "read", "dial", "admin")
REVOCATION_CHANNEL = "l2i:revocations"
MAX_AUTH_HEADER = 512
NEGATIVE_CACHE_CAP = 4096  # unknown or revoked key ids remembered per worker (LRU)
_TOUCH_EVERY_S = 60.0
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the org always comes from the key, never from the request."""

    key_id: str
    org_id: str
    env: str
    scopes: frozenset[str]
    rate_limit: int
    require_valid_phone: bool
    # Browsers (docs/web-forms.md): a publishable `l2i_pk_` key, the origins a page may call
    # from, the per-client-IP limit and the form endpoint's redirects.
    publishable: bool = False
    allowed_origins: frozenset[str] = frozenset()
    ip_rate_limit: int | None = None
    success_url: str | None = None
    error_url: str | None = None
    # A re-post of a lead that ended without a sale puts it back in the queue (migration 0014)
    requeue_duplicates: bool = False

    @property
    def sandbox(self) -> bool:
        return self.env == "test"

    def allows_origin(self, origin: str | None) -> bool:
        return origin is not None and origin in self.allowed_origins

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise forbidden(scope)


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    principal: Principal | None  # None: revoked (cached so a revoked key costs no query)
    expires: float


def presented_key(authorization: str | None) -> str | None:
    """The key from `Bearer <key>` or `Basic base64(<key>:)`; None for anything else."""
    if not authorization or len(authorization) > MAX_AUTH_HEADER:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep or password:
            return None
        return user or None
    return None


class KeyRing:
    """Verifies presented keys against Postgres through a short-lived per-process cache."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        pepper: bytes,
        ttl_s: float = 30.0,
        negative_cap: int = NEGATIVE_CACHE_CAP,
    ):
        self._pool = pool
        self._pepper = pepper
        self._ttl = ttl_s
        self._cache: dict[str, _Entry] = {}  # keys that exist: as many as the org made
        # Unknown and revoked key ids: anyone can present any number of them, so they are kept
        # in a bounded LRU (a flood of made-up ids costs queries, never memory).
        self._negative: OrderedDict[str, _Entry] = OrderedDict()
        self._negative_cap = negative_cap
        self._loading: dict[str, asyncio.Future[_Entry]] = {}
        self._used: dict[str, float] = {}
        self._touched: dict[str, float] = {}
        self._touch_task: asyncio.Task[None] | None = None

    # --- cache control (called by the revocation broadcast) --------------------------------
    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)
        self._negative.pop(key_id, None)

    def forget_all(self) -> None:
        self._cache.clear()
        self._negative.clear()

    @property
    def cached(self) -> tuple[int, int]:
        """(keys that exist, unknown or revoked ids) held in the cache."""
        return len(self._cache), len(self._negative)

    def _cached(self, key_id: str) -> _Entry | None:
        entry = self._cache.get(key_id)
        if entry is None:
            entry = self._negative.get(key_id)
            if entry is not None:
                self._negative.move_to_end(key_id)
        return entry

    def _keep(self, key_id: str, entry: _Entry) -> None:
        if entry.principal is not None:
            self._negative.pop(key_id, None)
            self._cache[key_id] = entry
            return
        self._cache.pop(key_id, None)
        self._negative[key_id] = entry
        self._negative.move_to_end(key_id)
        while len(self._negative) > self._negative_cap:
            self._negative.popitem(last=False)

    # --- authentication --------------------------------------------------------------------
    async def authenticate(self, authorization: str | None) -> Principal:
        key = presented_key(authorization)
        parsed = _core.parse_key(key) if key else None
        if key is None or parsed is None:
            raise unauthorized()
        entry = self._cached(parsed.key_id)
        now = time.monotonic()
        if entry is None or entry.expires < now:
            entry = await self._load_once(parsed.key_id, now)
        # Verify even for unknown keys (against a dummy digest) so timing tells nothing.
        ok = _core.verify_key(self._pepper, key, entry.digest)
        if (
            not ok
            or entry.principal is None
            or entry.principal.env != parsed.env
            or entry.principal.publishable != parsed.publishable
        ):
            raise unauthorized()
        self._used[parsed.key_id] = time.time()
        return entry.principal

    async def _load_once(self, key_id: str, now: float) -> _Entry:
        """One query per key however many requests miss at once: after a cache flush (a Redis
        reconnect drops every entry) a busy key would otherwise send a query per request."""
        inflight = self._loading.get(key_id)
        if inflight is not None:
            return await asyncio.shield(inflight)
        task = asyncio.ensure_future(self._load(key_id, now))
        self._loading[key_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._loading.pop(key_id, None)
            else:
                task.add_done_callback(lambda _: self._loading.pop(key_id, None))

    async def _load(self, key_id: str, now: float) -> _Entry:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql("key_by_id"), (key_id,))
            row = await cur.fetchone()
        if row is None:
            entry = _Entry(b"\0" * 32, None, now + self._ttl)
        else:
            kid, org_id, env, digest, scopes, rate, revoked_at, require_valid, _window = row[:9]
            # the browser columns (migration 0006); a 9-column record is a plain secret key
            kind, origins, ip_rate, success_url, error_url = (
                row[9:14] if len(row) >= 14 else ("secret", (), None, None, None)
            )
            principal = None
            if revoked_at is None:
                principal = Principal(
                    key_id=kid,
                    org_id=str(org_id),
                    env=env,
                    scopes=frozenset(scopes),
                    rate_limit=rate,
                    require_valid_phone=require_valid,
                    publishable=kind == "publishable",
                    allowed_origins=frozenset(origins or ()),
                    ip_rate_limit=ip_rate,
                    success_url=success_url,
                    error_url=error_url,
                    requeue_duplicates=bool(row[14]) if len(row) > 14 else False,
                )
            entry = _Entry(bytes(digest), principal, now + self._ttl)
        self._keep(key_id, entry)
        return entry

    # --- last_used_at, off the hot path ------------------------------------------------------
    def start(self) -> None:
        self._touch_task = asyncio.create_task(self._touch_forever(), name="l2i-key-touch")

    async def stop(self) -> None:
        if self._touch_task is not None:
            self._touch_task.cancel()
            await asyncio.gather(self._touch_task, return_exceptions=True)
            self._touch_task = None
        await self.flush_last_used()

    async def _touch_forever(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            try:
                await self.flush_last_used()
            except Exception as exc:  # a failed touch is retried next round; never fatal
                log.debug("last_used_at update failed: %s", exc)

    async def flush_last_used(self) -> None:
        """Write last_used_at for keys used since their last write, at most once a minute each."""
        now = time.time()
        due = [
            (kid, used)
            for kid, used in self._used.items()
            if now - self._touched.get(kid, 0.0) >= _TOUCH_EVERY_S
        ]
        if not due:
            return
        for kid, _ in due:
            self._touched[kid] = now
            self._used.pop(kid, None)
        async with self._pool.connection() as conn:
            await conn.execute(
                sql("touch_keys"),
                ([k for k, _ in due], [datetime.fromtimestamp(u, UTC) for _, u in due]),
            )


class AuthFailureLimiter:
    """Per client IP, at most `limit` authentication failures per `period_s` (anti brute force).

    GCRA (burst `limit`, one more every `period_s / limit`), in process: each worker counts on its
    own, so a node with W workers lets an address try up to W x limit keys a minute before every
    worker refuses it. `blocked(ip)` is asked before any key is parsed or looked up; `failed(ip)`
    records a 401. While blocked, every request from the address is refused with 429, also one
    with a valid key: the address is the unit being throttled, not the key.
    """

    def __init__(self, limit: int, period_s: float = 60.0, max_ips: int = 100_000) -> None:
        self.limit = limit
        self._interval = max(1, int(period_s * _US / max(limit, 1)))
        self._tau = self._interval * max(limit, 1)
        self._tat: dict[str, int] = {}
        self._max_ips = max_ips

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def blocked(self, ip: str, now_us: int | None = None) -> int:
        """Seconds until `ip` may try again (0: not blocked)."""
        if not self.enabled:
            return 0
        now = time.time_ns() // 1000 if now_us is None else now_us
        tat = self._tat.get(ip, 0)
        wait = tat + self._interval - now - self._tau  # would one more failure fit?
        return 0 if wait <= 0 else -(-wait // _US)

    def failed(self, ip: str, now_us: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.time_ns() // 1000 if now_us is None else now_us
        tat = max(self._tat.get(ip, 0), now)
        self._tat[ip] = min(tat + self._interval, now + self._tau)
        if len(self._tat) > self._max_ips:  # expired entries are full buckets: forget them
            self._tat = {k: v for k, v in self._tat.items() if v > now}
            if len(self._tat) > self._max_ips:
                self._tat = dict(sorted(self._tat.items(), key=lambda kv: kv[1])[-self._max_ips :])


def client_ip(remote_addr: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The caller's address: the peer, or behind `trusted_hops` proxies that append to
    X-Forwarded-For, the entry that the outermost trusted proxy appended (never a value the
    client could have written itself)."""
    if trusted_hops > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    return remote_addr or "unknown"
