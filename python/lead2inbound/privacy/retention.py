"""The retention purge: `L2I_LEAD_RETENTION_DAYS` (docs/privacy.md).

Leads created more than that many days ago are reduced to the record an erasure keeps
(`L2I_ERASURE_KEEP`): their personal data goes, their decision and (by default) the consent
proof stay. Each worker runs one purge task (ops/background.py); a round is one short
transaction over at most `L2I_RETENTION_BATCH` leads, locked with SKIP LOCKED so workers and
nodes share the work and intake never waits on it (new leads are never in a batch). A full
batch is followed by the next at once, after a pause that leaves room for intake; otherwise the
task sleeps `L2I_RETENTION_INTERVAL_S`. 0 days (the default) keeps leads forever: no task runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool

from lead2inbound.ops.background import BackgroundTask
from lead2inbound.privacy.erasure import scrub_events
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.retention")

PURGED = Counter("l2i_retention_purged", "Leads reduced by the retention purge")
# Between two full batches: a breath for the pool and the disk, so a backlog (a first run over
# years of leads) drains steadily instead of in one rush.
PAUSE_S = 0.05


class RetentionPurge(BackgroundTask):
    TASK_NAME = "l2i-retention"

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        days: int,
        batch: int,
        interval_s: float,
        keep_proof: bool,
        clock: Callable[[], datetime],
    ):
        self._pool = pool
        self.days = days
        self._batch = batch
        self._interval_s = interval_s
        self._keep_proof = keep_proof
        self._clock = clock

    def start(self) -> None:
        if self.days > 0:
            super().start()

    async def _run(self) -> None:
        while True:
            try:
                done = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres away: try again later, never die
                log.warning("retention round failed: %s", exc)
                done = 0
            if done >= self._batch:
                await asyncio.sleep(PAUSE_S)
            else:
                await asyncio.sleep(self._interval_s * random.uniform(0.75, 1.25))

    async def round(self) -> int:
        """One batch; returns how many leads it reduced."""
        cutoff = self._clock() - timedelta(days=self.days)
        params: dict[str, Any] = {
            "cutoff": cutoff,
            "batch": self._batch,
            "keep_proof": self._keep_proof,
        }
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(sql("retention_purge"), params)
            rows = await cur.fetchall()
            done = len(rows)
            # their events keep no personal values either (an event may outlive the purge)
            await scrub_events(
                conn, [(str(r[0]), str(r[1])) for r in rows], keep_proof=self._keep_proof
            )
        if done:
            PURGED.inc(done)
        return done
