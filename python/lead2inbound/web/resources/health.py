"""GET /healthz, /readyz and /metrics: what an operator's probes and Prometheus read."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.ops.metrics_listener import QUEUE_DEPTH_EVERY_S, QUEUE_DEPTH_HELP, QUEUE_DEPTH_SQL
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp

if TYPE_CHECKING:
    from lead2inbound.web.services import Services


class HealthResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Liveness",
            description="The process is alive.",
            responses=(
                Resp(
                    200,
                    "Alive.",
                    raw_schema={
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"type": "string", "enum": ["ok"]}},
                    },
                ),
            ),
        )
    }
    """The process is alive and serving."""

    async def on_get(self, req: Any, resp: Any) -> None:
        send_json(resp, 200, {"status": "ok"})


_READY = {
    "type": "object",
    "required": ["status", "checks", "degraded"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "degraded", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        "degraded": {"type": "boolean"},
    },
}


class ReadyResource:
    """Postgres and Redis reachable, migrations current; degraded when Redis is down."""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Readiness",
            description="Postgres and Redis reachable and migrations current (`degraded` "
            "while the rate limiter runs on its per-process fallback).",
            responses=(
                Resp(200, "Ready (possibly degraded).", raw_schema=_READY),
                Resp(503, "Not ready.", raw_schema=_READY, headers=("Retry-After",)),
            ),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_get(self, req: Any, resp: Any) -> None:
        postgres, migrations = await self._postgres()
        redis_ok = await self._redis()
        degraded = not redis_ok or self.s.limiter.degraded
        ready = postgres and migrations
        status = "ready" if ready and not degraded else ("degraded" if ready else "unavailable")
        body = {
            "status": status,
            "checks": {
                "postgres": "ok" if postgres else "unavailable",
                "migrations": "current" if migrations else ("behind" if postgres else "unknown"),
                "redis": "ok" if redis_ok else "unavailable",
                "rate_limiter": "fallback" if self.s.limiter.degraded else "redis",
            },
            "degraded": degraded,
        }
        send_json(resp, 200 if ready else 503, body)
        if not ready:
            resp.set_header("Retry-After", "1")

    async def _postgres(self) -> tuple[bool, bool]:
        from lead2inbound.store.migrate import available

        try:
            async with asyncio.timeout(2.0), self.s.pool.connection(timeout=2.0) as conn:
                cur = await conn.execute("SELECT max(version) FROM l2i_schema_migrations")
                row = await cur.fetchone()
        except Exception:
            return False, False
        latest = max(m.version for m in available())
        return True, bool(row and row[0] is not None and row[0] >= latest)

    async def _redis(self) -> bool:
        try:
            async with asyncio.timeout(0.5):
                return bool(await self.s.redis.ping())
        except Exception:
            return False


class MetricsResource:
    """Prometheus exposition, plus `l2i_dial_queue_depth` read from Postgres at scrape time
    (at most once every 5 s per worker, 1 s budget; omitted when Postgres does not answer)."""

    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="Prometheus metrics",
            responses=(
                Resp(
                    200,
                    "Prometheus text exposition.",
                    media="text/plain",
                    raw_schema={"type": "string"},
                ),
            ),
        )
    }

    def __init__(self, services: Services):
        self.s = services
        self._depth: tuple[int, int] | None = None
        self._depth_at = 0.0

    async def on_get(self, req: Any, resp: Any) -> None:
        data, content_type = self.s.metrics.exposition()
        depth = await self._queue_depth()
        if depth is not None:
            total, leased = depth
            data += (
                b"# HELP l2i_dial_queue_depth %s\n"
                b"# TYPE l2i_dial_queue_depth gauge\n"
                b'l2i_dial_queue_depth{state="ready"} %d\n'
                b'l2i_dial_queue_depth{state="leased"} %d\n'
                % (QUEUE_DEPTH_HELP.encode(), total - leased, leased)
            )
        resp.status = 200
        resp.content_type = content_type
        resp.data = data

    async def _queue_depth(self) -> tuple[int, int] | None:
        now = time.monotonic()
        if self._depth is not None and now - self._depth_at < QUEUE_DEPTH_EVERY_S:
            return self._depth
        try:
            async with asyncio.timeout(1.0), self.s.pool.connection(timeout=1.0) as conn:
                cur = await conn.execute(QUEUE_DEPTH_SQL)
                row = await cur.fetchone()
        except Exception:
            return None
        self._depth = (int(row[0]), int(row[1])) if row else (0, 0)
        self._depth_at = now
        return self._depth
