"""Retention of the event log: events (and webhook deliveries and attempts) older than
`L2I_EVENT_RETENTION_DAYS` are deleted in small batches by a background loop per worker (the
shared `RetryLoop`): a batch of `BATCH` rows per statement, found through the BRIN index on
`created_at`, again at once while batches come back full, else once a minute. Its cost is a
short statement per batch (a few ms for 1,000 rows and their three index entries); at a steady
100 leads/s (about 250 events/s) that is one batch every four seconds, spread over the workers
(SKIP LOCKED). Space is reused by autovacuum, not returned to the system."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from lead2inbound.ops.background import RetryLoop
from lead2inbound.store.queries import sql

BATCH = 1000


class EventRetention(RetryLoop):
    TASK_NAME = "l2i-event-retention"

    def __init__(self, pool: AsyncConnectionPool, days: int, *, interval_s: float = 60.0):
        super().__init__()
        self._pool = pool
        self._days = days
        self.batch = BATCH
        self.interval_s = interval_s

    async def round(self) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(sql("events_purge"), {"days": self._days, "batch": self.batch})
            return len(await cur.fetchall())
