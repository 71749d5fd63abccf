"""Per-key, per-minute rate limiting: GCRA in one Redis Lua script, with an in-process fallback.

Semantics (see docs/rate-limits.md): a key with limit ``L`` per period (60 s) may send a burst of
``L`` requests at once, then one every ``period / L`` seconds (GCRA, burst ``L``). The bucket is
full again ``period`` seconds after the last burst. A request costing ``cost`` units is either
admitted whole or refused whole; a refused request consumes nothing.

Every worker on every node shares one budget per key because the state (one "theoretical arrival
time" per key) lives in Redis, is updated by a single atomic script, and uses Redis's own clock
(``TIME``), so application clocks never matter.

If Redis errors or does not answer within ``redis_timeout_ms``, ``check`` answers from an
in-process GCRA with the same semantics at ``limit // fallback_divisor`` (at least 1) and the
limiter is *degraded*. A background probe pings Redis at most once a second; as soon as Redis
answers, decisions come from Redis again. A Redis outage never refuses a request by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge
from redis.exceptions import MaxConnectionsError, NoScriptError, RedisError

from lead2inbound.ops.config import Config
from lead2inbound.ops.metrics import TALLY, child

__all__ = [
    "DEFAULT_PERIOD_S",
    "Decision",
    "LocalGCRA",
    "RateLimiter",
    "rate_limit_headers",
    "rate_limit_key",
]

log = logging.getLogger(__name__)

DEFAULT_PERIOD_S = 60.0
_US = 1_000_000
PROBE_INTERVAL_S = 1.0

RATELIMIT_DEGRADED = Gauge(
    "l2i_ratelimit_degraded",
    "1 while this process answers rate-limit checks from its in-process fallback (Redis down)",
)
RATELIMIT_DECISIONS = Counter(
    "l2i_ratelimit_decisions_total",
    "Rate-limit decisions by outcome and by where they were taken",
    ["decision", "mode"],
)


def _outcome(allowed: bool) -> str:
    return "allowed" if allowed else "limited"


# GCRA, all in integer microseconds of Redis's clock.
#   KEYS[1]  l2i:rl:{<key_id>}      holds the theoretical arrival time (TAT), absent = full bucket
#   ARGV[1]  emission interval T    (ceil(period / limit))
#   ARGV[2]  limit L                (burst; the bucket holds L * T of "credit")
#   ARGV[3]  cost                   (>= 0; 0 peeks without consuming)
# Returns {allowed 0|1, remaining, retry_after_us, reset_after_us, now_us}.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tau = T * L
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * T
local wait = new_tat - now - tau
if wait > 0 then
  local remaining = math.floor((tau - (tat - now)) / T)
  return {0, remaining, wait, tat - now, now}
end
if cost > 0 then
  local ttl_ms = math.ceil((new_tat - now) / 1000)
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
end
local remaining = math.floor((tau - (new_tat - now)) / T)
return {1, remaining, 0, new_tat - now, now}
"""


# The same GCRA for several checks of one key in one call, in order (the micro-batcher's form:
# a busy key's concurrent checks cost one script run and one reply instead of one each).
#   KEYS[1] as above; ARGV[1] T, ARGV[2] L, ARGV[3..] the costs
# Returns the five fields above for each cost, flattened.
GCRA_MANY_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local tau = T * L
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local out = {}
local changed = false
for i = 3, #ARGV do
  local cost = tonumber(ARGV[i])
  local new_tat = tat + cost * T
  local wait = new_tat - now - tau
  local n = #out
  if wait > 0 then
    out[n + 1] = 0
    out[n + 3] = wait
  else
    if cost > 0 then
      tat = new_tat
      changed = true
    end
    out[n + 1] = 1
    out[n + 3] = 0
  end
  out[n + 2] = math.floor((tau - (tat - now)) / T)
  out[n + 4] = tat - now
  out[n + 5] = now
end
if changed then
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
end
return out
"""


def rate_limit_key(key_id: str) -> str:
    """Redis key of one API key's bucket; the ``{...}`` hash tag pins it to one cluster slot."""
    return f"l2i:rl:{{{key_id}}}"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the limit that was applied (the fallback's when degraded)
    remaining: int  # units still available right after this decision
    reset_at: int  # UTC epoch seconds when the bucket is full again
    retry_after: int  # seconds; >= 1 when refused, 0 when allowed
    degraded: bool  # True: taken by the in-process fallback, Redis unavailable


def _interval_us(limit: int, period_s: float) -> int:
    return max(1, math.ceil(period_s * _US / limit))


def _decision(
    allowed: bool,
    limit: int,
    remaining: int,
    retry_us: int,
    reset_us: int,
    now_us: int,
    degraded: bool,
) -> Decision:
    return Decision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, remaining),
        reset_at=-(-(now_us + reset_us) // _US),
        retry_after=0 if allowed else max(1, -(-retry_us // _US)),
        degraded=degraded,
    )


class LocalGCRA:
    """The same GCRA as the Lua script, in process memory (the fallback). Not shared, not locked:
    asyncio callers run it between awaits, so each call is atomic on its loop."""

    def __init__(self, period_s: float = DEFAULT_PERIOD_S, max_keys: int = 100_000) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._tat: dict[str, int] = {}
        self._calls = 0

    def check(self, key_id: str, limit: int, cost: int = 1, now_us: int | None = None) -> Decision:
        now = time.time_ns() // 1000 if now_us is None else now_us
        T = _interval_us(limit, self.period_s)
        tau = T * limit
        tat = max(self._tat.get(key_id, 0), now)
        new_tat = tat + cost * T
        wait = new_tat - now - tau
        if wait > 0:
            allowed, remaining, retry, reset = False, (tau - (tat - now)) // T, wait, tat - now
        else:
            if cost > 0:
                self._tat[key_id] = new_tat
            allowed, remaining, retry, reset = True, (tau - (new_tat - now)) // T, 0, new_tat - now
        self._calls += 1
        if self._calls % 4096 == 0 or len(self._tat) > self.max_keys:
            self._sweep(now)
        return _decision(allowed, limit, remaining, retry, reset, now, degraded=True)

    def _sweep(self, now_us: int) -> None:
        # An expired TAT is a full bucket: forgetting it changes nothing.
        self._tat = {k: v for k, v in self._tat.items() if v > now_us}
        if len(self._tat) > self.max_keys:  # pathological key churn: forget the oldest
            keep = sorted(self._tat.items(), key=lambda kv: kv[1])[-self.max_keys :]
            self._tat = dict(keep)

    def clear(self) -> None:
        self._tat.clear()


# Sends a batch of checks' script arguments; answers one reply (or a per-key error) per check.
_Send = Callable[[list[list[Any]]], Awaitable[list[Any]]]


class _RedisUnavailable(Exception):
    pass


class _PoolExhausted(Exception):
    """This process ran out of pooled connections: Redis itself is fine, so not degraded."""


class RateLimiter:
    """Per-key GCRA limiter in Redis, shared by every worker and node, with a local fallback.

    ``client`` is a ``redis.asyncio.Redis`` (or ``RedisCluster``) created with
    ``decode_responses=False`` or ``True`` (both work). ``pipelining=True`` sends the checks that
    arrive while another round trip is in flight as one pipeline (an asyncio micro-batcher).
    """

    def __init__(
        self,
        client: Any,
        config: Config | None = None,
        *,
        period_s: float = DEFAULT_PERIOD_S,
        pipelining: bool = True,
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        cfg = config or Config()
        self._client = client
        self._timeout_s = cfg.redis_timeout_ms / 1000
        self._divisor = max(1, cfg.fallback_divisor)
        self.period_s = period_s
        self._pipelining = pipelining
        self._probe_interval_s = probe_interval_s
        self._script = client.register_script(GCRA_LUA)
        self._many = client.register_script(GCRA_MANY_LUA)
        self._fallback = LocalGCRA(period_s)
        self._degraded = False
        self._probe_task: asyncio.Task[None] | None = None
        self._pending: list[tuple[list[Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- public -----------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self._degraded

    def fallback_limit(self, limit_per_minute: int) -> int:
        return max(1, limit_per_minute // self._divisor)

    async def check(self, key_id: str, limit_per_minute: int, cost: int = 1) -> Decision:
        """Admit (and consume ``cost``) or refuse (consuming nothing) one request of ``key_id``."""
        send = self._send_queued if self._pipelining else self._send_script
        (decision,) = await self._decide([(key_id, limit_per_minute, cost)], send)
        return decision

    async def check_many(self, checks: Sequence[tuple[str, int, int]]) -> list[Decision]:
        """Decide several ``(key_id, limit_per_minute, cost)`` checks in order, in one round trip
        sent at once (the lead writer's form: a batch's charges, taken just before its write)."""
        return await self._decide(checks, self._send_now) if checks else []

    async def _decide(self, checks: Sequence[tuple[str, int, int]], send: _Send) -> list[Decision]:
        for _, limit, cost in checks:
            if limit < 1:
                raise ValueError("limit_per_minute must be >= 1")
            if cost < 0:
                raise ValueError("cost must be >= 0")
        if not self._degraded:
            try:
                decisions = await self._redis_checks(checks, send)
            except _RedisUnavailable:
                self._enter_degraded()
            except _PoolExhausted:
                pass  # these requests are decided locally; the limiter stays in Redis mode
            else:
                for d in decisions:
                    TALLY.inc(child(RATELIMIT_DECISIONS, _outcome(d.allowed), "redis"))
                return decisions
        decisions = []
        for key_id, limit, cost in checks:
            d = self._fallback.check(key_id, self.fallback_limit(limit), cost)
            TALLY.inc(child(RATELIMIT_DECISIONS, _outcome(d.allowed), "fallback"))
            decisions.append(d)
        return decisions

    async def aclose(self) -> None:
        """Stop the background probe and the batcher (the client is the caller's to close)."""
        self._closed = True
        for task in [self._probe_task, *self._flushes]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._probe_task = None
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(_RedisUnavailable())
        self._pending.clear()

    # --- Redis path ---------------------------------------------------------------------------

    def _args(self, key_id: str, limit: int, cost: int) -> list[Any]:
        return [rate_limit_key(key_id), _interval_us(limit, self.period_s), limit, cost]

    async def _redis_checks(
        self, checks: Sequence[tuple[str, int, int]], send: _Send
    ) -> list[Decision]:
        try:
            replies = await send([self._args(*check) for check in checks])
        except MaxConnectionsError as exc:
            log.warning("rate limiter: connection pool exhausted (%s)", exc)
            raise _PoolExhausted from exc
        except (RedisError, OSError, TimeoutError, _RedisUnavailable) as exc:
            log.warning("rate limiter: Redis unavailable (%s: %s)", type(exc).__name__, exc)
            raise _RedisUnavailable from exc
        decisions = []
        for (_, limit, _), res in zip(checks, replies, strict=True):
            if isinstance(res, Exception):  # that key's command failed (raise_on_error=False)
                log.warning("rate limiter: Redis unavailable (%s: %s)", type(res).__name__, res)
                raise _RedisUnavailable from res
            allowed, remaining, retry_us, reset_us, now_us = (int(x) for x in res)
            decisions.append(
                _decision(bool(allowed), limit, remaining, retry_us, reset_us, now_us, False)
            )
        return decisions

    async def _send_queued(self, batch: list[list[Any]]) -> list[Any]:
        """One check, sent with whatever else this loop turn queues (the micro-batcher)."""
        return [await self._enqueue(batch[0])]

    async def _send_script(self, batch: list[list[Any]]) -> list[Any]:
        """One check, alone, through the one-check script."""
        async with asyncio.timeout(self._timeout_s):
            return [await self._script(keys=batch[0][:1], args=batch[0][1:])]

    async def _send_now(self, batch: list[list[Any]]) -> list[Any]:
        """Several checks in one pipeline, sent at once."""
        async with asyncio.timeout(self._timeout_s):
            return await self._run_batch(batch)

    async def _enqueue(self, args: list[Any]) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((args, fut))
        if not self._flush_scheduled:
            # Runs on the next loop iteration: every check that becomes ready meanwhile joins it.
            self._flush_scheduled = True
            task = asyncio.create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        # No timer of its own: the flush that takes this check has the deadline and settles
        # every future of its batch (a result, an error, or _RedisUnavailable on expiry).
        return await fut

    async def _flush(self) -> None:
        """Send everything queued so far as one pipeline (several flushes may be in flight, each
        on its own pooled connection, so a slow batch never delays the next one)."""
        self._flush_scheduled = False
        batch = [(a, f) for a, f in self._pending if not f.done()]
        self._pending = []
        if not batch:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                results = await self._run_batch([a for a, _ in batch])
        except BaseException as exc:
            err = exc if isinstance(exc, Exception) else _RedisUnavailable()
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, fut), res in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, Exception):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    async def _run_batch(self, batch: list[list[Any]]) -> list[Any]:
        """One pipeline, one EVALSHA per key (and limit) with that key's checks in order; each
        check's result (or the error of its key's command) in the batch's order."""
        groups: dict[tuple[Any, Any, Any], list[int]] = {}
        for i, (key, interval, limit, _) in enumerate(batch):
            groups.setdefault((key, interval, limit), []).append(i)
        for attempt in (0, 1):
            # EVALSHA by hand: redis-py's pipeline runs SCRIPT EXISTS before every execute when
            # a Script object is queued, which would double the round trips.
            pipe = self._client.pipeline(transaction=False)
            for (key, interval, limit), idx in groups.items():
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks the
                # evalsha method, but routes a raw EVALSHA by its key's slot (one sub-pipeline
                # per master), so this works on Redis and on Redis Cluster alike
                costs = [batch[i][3] for i in idx]
                pipe.execute_command("EVALSHA", self._many.sha, 1, key, interval, limit, *costs)
            replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                await self._client.script_load(GCRA_MANY_LUA)  # e.g. Redis restarted, cache empty
                continue
            results: list[Any] = [None] * len(batch)
            for idx, reply in zip(groups.values(), replies, strict=True):
                for n, i in enumerate(idx):
                    results[i] = reply if isinstance(reply, Exception) else reply[5 * n : 5 * n + 5]
            return results
        raise AssertionError("unreachable")

    # --- degraded mode ------------------------------------------------------------------------

    def _enter_degraded(self) -> None:
        if not self._degraded:
            log.error("rate limiter degraded: deciding in process until Redis answers again")
        self._degraded = True
        RATELIMIT_DEGRADED.set(1)
        if not self._closed and (self._probe_task is None or self._probe_task.done()):
            self._probe_task = asyncio.create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        while self._degraded:
            await asyncio.sleep(self._probe_interval_s)
            try:
                async with asyncio.timeout(max(self._timeout_s, 0.2)):
                    await self._client.ping()
            except (RedisError, OSError, TimeoutError):
                continue
            self._degraded = False
            RATELIMIT_DEGRADED.set(0)
            log.warning("rate limiter recovered: deciding in Redis again")


def rate_limit_headers(
    d: Decision, policy: str = "default", window_s: int = 60
) -> list[tuple[str, str]]:
    """Response headers for one decision: GitHub-style ``X-RateLimit-*`` plus the IETF draft-11
    ``RateLimit-Policy`` / ``RateLimit`` fields, and ``Retry-After`` when refused."""
    # t: seconds until the bucket is full; when refused, until the request would fit, so that
    # Retry-After never points before the end of the effective window (draft-11, section 2.2)
    t = d.retry_after if not d.allowed else max(0, d.reset_at - int(time.time()))
    headers = [
        ("X-RateLimit-Limit", str(d.limit)),
        ("X-RateLimit-Remaining", str(d.remaining)),
        ("X-RateLimit-Reset", str(d.reset_at)),
        ("RateLimit-Policy", f'"{policy}";q={d.limit};w={window_s}'),
        ("RateLimit", f'"{policy}";r={d.remaining};t={t}'),
    ]
    if not d.allowed:
        headers.append(("Retry-After", str(d.retry_after)))
    return headers
