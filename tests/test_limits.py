"""The rate limiter against real redis-server processes (started and killed by these tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from lead2inbound.access.limits import (
    Decision,
    LocalGCRA,
    RateLimiter,
    rate_limit_headers,
    rate_limit_key,
)
from lead2inbound.ops.config import Config
from lead2inbound.ops.metrics import TALLY
from tests.limits_support import RedisServer

# Generous Redis budget where exactness is tested: 2 shared cores must not trip the fallback.
SLOW_OK = Config(redis_timeout_ms=2000)


@pytest.fixture
def server():
    srv = RedisServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
async def client(server):
    c = aioredis.Redis.from_url(server.url)
    try:
        yield c
    finally:
        await c.aclose()


def key() -> str:
    return uuid.uuid4().hex[:12]


def metric(name: str, **labels: str) -> float:
    TALLY.flush()  # as /metrics does before it answers
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("pipelining", [True, False])
async def test_remaining_counts_down_exactly_then_refuses(client, pipelining):
    rl = RateLimiter(client, SLOW_OK, pipelining=pipelining)
    k = key()
    t0 = time.time()
    for expected in (4, 3, 2, 1, 0):
        d = await rl.check(k, 5)
        assert d.allowed and d.remaining == expected and d.retry_after == 0
        assert d.limit == 5 and not d.degraded
    d = await rl.check(k, 5)
    assert not d.allowed and d.remaining == 0
    assert d.retry_after == 12  # one unit back after 60 / 5 s
    assert t0 + 59 <= d.reset_at <= time.time() + 61  # full again a minute after the burst
    # the state is one key with a cluster hash tag, expiring when the bucket is full again
    assert await client.exists(rate_limit_key(k)) == 1
    assert rate_limit_key(k) == f"l2i:rl:{{{k}}}"
    assert 58_000 < await client.pttl(rate_limit_key(k)) <= 60_000
    await rl.aclose()


async def test_cost_is_admitted_or_refused_whole(client):
    rl = RateLimiter(client, SLOW_OK)
    k = key()
    d = await rl.check(k, 10, cost=7)
    assert d.allowed and d.remaining == 3
    d = await rl.check(k, 10, cost=4)
    assert not d.allowed and d.remaining == 3 and d.retry_after == 6  # 1 unit = 6 s
    d = await rl.check(k, 10, cost=0)  # peek
    assert d.allowed and d.remaining == 3
    d = await rl.check(k, 10, cost=3)
    assert d.allowed and d.remaining == 0
    d = await rl.check(k, 10, cost=11)  # larger than the whole budget: never admitted
    assert not d.allowed
    await rl.aclose()


async def test_burst_then_steady_rate_then_full_again(client):
    # period 1 s stands in for 60 s: L=10 is a burst of 10, then one every 0.1 s
    rl = RateLimiter(client, SLOW_OK, period_s=1.0)
    k = key()
    for _ in range(10):
        assert (await rl.check(k, 10)).allowed
    d = await rl.check(k, 10)
    assert not d.allowed and d.retry_after == 1  # 0.1 s, rounded up to whole seconds
    await asyncio.sleep(0.15)
    assert (await rl.check(k, 10)).allowed
    assert not (await rl.check(k, 10)).allowed
    await asyncio.sleep(1.05)
    d = await rl.check(k, 10)
    assert d.allowed and d.remaining == 9  # full again after one period
    await asyncio.sleep(1.05)
    assert await client.exists(rate_limit_key(k)) == 0  # expired: a full bucket needs no key
    await rl.aclose()


def test_window_semantics_of_gcra():
    """Burst L, then one per period/L: over any window of W seconds at most L + floor(W*L/60)
    pass, so a 60 s window can hold up to 2L - 1 (not L) — documented in docs/rate-limits.md."""
    L, period_us = 6, 60_000_000
    g = LocalGCRA()
    T = period_us // L
    admitted: list[int] = []
    # a greedy client knocking every 100 ms for 5 minutes, sending until refused each time
    for now in range(0, 300_000_000, 100_000):
        while g.check("k", L, now_us=1_000_000_000 + now).allowed:
            admitted.append(now)
    assert admitted[:L] == [0] * L  # the burst
    assert admitted[L] == T  # then one per emission interval
    worst = max(sum(1 for t in admitted if s <= t < s + period_us) for s in admitted)
    assert worst == 2 * L - 1
    assert len(admitted) == L + (300_000_000 - 1) // T  # long-run rate is exactly L per minute


async def test_concurrent_checks_across_two_nodes_allow_exactly_the_limit(server):
    c1 = aioredis.Redis.from_url(server.url)
    # unpipelined, each concurrent check holds a connection: wait for one rather than fail
    pool = aioredis.BlockingConnectionPool.from_url(server.url, max_connections=16, timeout=5)
    c2 = aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections
    a, b = RateLimiter(c1, SLOW_OK), RateLimiter(c2, SLOW_OK, pipelining=False)
    k = key()
    calls = [(a if i % 2 else b).check(k, 100) for i in range(500)]
    decisions = await asyncio.gather(*calls)
    assert sum(d.allowed for d in decisions) == 100
    assert not any(d.degraded for d in decisions)
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(100))
    for rl in (a, b):
        await rl.aclose()
    await c1.aclose()
    await c2.aclose()


async def test_one_batch_of_many_keys_decides_each_check_in_order(client):
    """Checks that arrive together share one pipeline and one script run per key: each gets the
    answer it would have had alone, in arrival order (costs 0 peek, a refused cost consumes
    nothing), and the same decisions as the one-check script."""
    rl = RateLimiter(client, SLOW_OK)
    a, b = key(), key()
    plan = [(a, 5, 1), (b, 2, 1), (a, 5, 2), (a, 5, 0), (b, 2, 1), (a, 5, 3), (b, 2, 1), (a, 5, 1)]
    got = await asyncio.gather(*(rl.check(k, limit, cost) for k, limit, cost in plan))
    assert [(d.allowed, d.remaining) for d in got] == [
        (True, 4),  # a: 1 of 5
        (True, 1),  # b: 1 of 2
        (True, 2),  # a: 3 of 5
        (True, 2),  # a: a peek
        (True, 0),  # b: 2 of 2
        (False, 2),  # a: 3 more do not fit, nothing consumed
        (False, 0),  # b: full
        (True, 1),  # a: 4 of 5
    ]
    assert [d.retry_after for d in got if not d.allowed] == [12, 30]
    # the single-check script, on a fresh key, agrees with the batched run above
    solo = RateLimiter(client, SLOW_OK, pipelining=False)
    c = key()
    alone = [await solo.check(c, limit, cost) for k, limit, cost in plan if k == a]
    assert [(d.allowed, d.remaining) for d in alone] == [
        (d.allowed, d.remaining) for (k, _, _), d in zip(plan, got, strict=True) if k == a
    ]
    # 4 units of 12 s taken: the bucket is full again (the key expires) 48 s from now
    assert 46_000 < await client.pttl(rate_limit_key(a)) <= 48_000
    await rl.aclose()
    await solo.aclose()


@pytest.mark.parametrize("pipelining", [True, False])
async def test_script_cache_flushed_is_reloaded(client, pipelining):
    rl = RateLimiter(client, SLOW_OK, pipelining=pipelining)
    k = key()
    assert (await rl.check(k, 3)).remaining == 2
    await client.script_flush()
    assert (await rl.check(k, 3)).remaining == 1
    assert not rl.degraded
    await rl.aclose()


async def _timed(rl: RateLimiter, k: str, limit: int) -> tuple[Decision, float]:
    t = time.perf_counter()
    d = await rl.check(k, limit)
    return d, time.perf_counter() - t


async def test_redis_killed_falls_back_then_recovers_on_restart(server):
    c = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.2)
    cfg = Config(redis_timeout_ms=50, fallback_divisor=2)
    rl = RateLimiter(c, cfg)
    k = key()
    assert not (await rl.check(k, 8)).degraded
    before = metric("l2i_ratelimit_decisions_total", decision="allowed", mode="fallback")

    server.kill()
    d = await rl.check(k, 8)
    assert d.allowed and d.degraded and d.limit == 4 and d.remaining == 3
    assert rl.degraded and metric("l2i_ratelimit_degraded") == 1
    timings = [await _timed(rl, k, 8) for _ in range(50)]
    assert [d.allowed for d, _ in timings[:3]] == [True] * 3  # fallback budget 8 // 2 = 4
    assert not any(d.allowed for d, _ in timings[3:])
    assert all(d.degraded and d.retry_after >= 1 for d, _ in timings[3:])
    assert max(t for _, t in timings) < 0.01  # no Redis round trip, no timeout per request
    after = metric("l2i_ratelimit_decisions_total", decision="allowed", mode="fallback")
    assert after - before == 4

    server.start()  # same port
    t0 = time.monotonic()
    while rl.degraded:
        assert time.monotonic() - t0 < 2.5, "did not go back to Redis"
        await asyncio.sleep(0.05)
    d = await rl.check(k, 8)
    assert not d.degraded and d.allowed and d.remaining == 7  # a new Redis: full bucket
    assert metric("l2i_ratelimit_degraded") == 0
    await rl.aclose()
    await c.aclose()


async def test_redis_not_answering_costs_one_timeout_then_none(server):
    c = aioredis.Redis.from_url(server.url)
    rl = RateLimiter(c, Config(redis_timeout_ms=50))
    k = key()
    assert not (await rl.check(k, 10)).degraded
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)  # alive but silent (a black hole)
    try:
        d, first = await _timed(rl, k, 10)
        assert d.degraded and d.allowed and 0.04 < first < 0.5
        rest = [await _timed(rl, k, 10) for _ in range(20)]
        assert max(t for _, t in rest) < 0.01
    finally:
        os.kill(server.pid, signal.SIGCONT)
    t0 = time.monotonic()
    while rl.degraded:
        assert time.monotonic() - t0 < 2.5
        await asyncio.sleep(0.05)
    assert not (await rl.check(k, 10)).degraded
    await rl.aclose()
    await c.aclose()


def test_headers_allowed_and_refused():
    now = int(time.time())
    ok = Decision(True, 120, 119, now + 30, 0, False)
    assert (
        rate_limit_headers(ok)
        == [
            ("X-RateLimit-Limit", "120"),
            ("X-RateLimit-Remaining", "119"),
            ("X-RateLimit-Reset", str(now + 30)),
            ("RateLimit-Policy", '"default";q=120;w=60'),
            ("RateLimit", '"default";r=119;t=30'),
        ]
        or rate_limit_headers(ok)[-1][1] == '"default";r=119;t=29'
    )  # a second ticked
    refused = Decision(False, 120, 0, now + 60, 1, True)
    h = dict(rate_limit_headers(refused, policy="write"))
    assert h["Retry-After"] == "1"
    assert h["RateLimit-Policy"] == '"write";q=120;w=60'
    assert h["RateLimit"] == '"write";r=0;t=1'  # t never beyond Retry-After when refused
    assert h["X-RateLimit-Reset"] == str(now + 60)
