"""A per-worker bloom filter of every org's suppressed numbers: a hint, never the authority.

What it is for: code that must decide something BEFORE the lead is written, and would otherwise
ask Postgres "is this number suppressed?". The DNC gate is the case: a paid scrub is pointless for
a suppressed number, and `maybe_suppressed() == False` ("definitely not on the list") lets the
gate go straight to the provider without a database question. A "maybe" asks Postgres.

What it is NOT for: the suppression decision itself. That stays inside the writer's one statement
(no extra round trip to save) and in the claim query, both against the `suppressions` table.

Kept in step: filled from Postgres at worker start (`rebuild`), then every change is broadcast on
`l2i:suppressions` (`<org_id> <phone> ...`, or `<org_id> *` after a bulk import, which rebuilds).
Until the first rebuild has finished, and after a Redis reconnect (messages may have been missed)
until the next one has, every answer is "maybe". A stale "definitely not" (a suppression
committed on another node whose broadcast has not arrived yet, a few ms) can only cost a scrub
the gate would have paid without the hint; it can never make a suppressed lead eligible.
Removals are not taken out (a bloom cannot forget): they leave false positives until the next
rebuild, which only cost a query.
"""

from __future__ import annotations

import asyncio
import logging

from psycopg_pool import AsyncConnectionPool

from lead2inbound._core import WindowedBloom
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.suppression_hint")

_FOREVER_S = 100 * 365 * 86400.0  # a windowed bloom whose window never ends


def _key(org_id: str, phone: str) -> str:
    return f"{org_id}:{phone}"


class SuppressionHint:
    def __init__(self, pool: AsyncConnectionPool, *, fp_rate: float = 0.001):
        self._pool = pool
        self._fp_rate = fp_rate
        self._bloom = WindowedBloom(100_000, fp_rate, _FOREVER_S, 1)
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        self._during_rebuild: list[str] | None = None  # keys broadcast while a rebuild reads
        self.rebuilds = 0

    @property
    def ready(self) -> bool:
        return self._ready

    def maybe_suppressed(self, org_id: str, phone: str) -> bool:
        """False only when the number is definitely not on the org's list."""
        return not self._ready or self._bloom.contains(_key(org_id, phone))

    def add(self, org_id: str, phones: list[str]) -> None:
        keys = [_key(org_id, p) for p in phones]
        self._bloom.insert_many(keys)
        if self._during_rebuild is not None:
            self._during_rebuild.extend(keys)

    def on_message(self, message: str) -> None:
        org_id, _, rest = message.partition(" ")
        phones = rest.split()
        if phones == ["*"]:
            self.schedule_rebuild()
        elif phones:
            self.add(org_id, phones)

    def schedule_rebuild(self) -> None:
        """Drop to "maybe" at once and refill from Postgres in the background."""
        self._ready = False
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._rebuild_forever())

    async def _rebuild_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.rebuild()
                return
            except Exception as exc:
                log.warning("suppression hint rebuild failed (%s); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def rebuild(self) -> None:
        keys: list[str] = []
        self._during_rebuild = []
        async with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="l2i_suppression_hint") as cur,
        ):
            await cur.execute(sql("suppressions_all"))
            while rows := await cur.fetchmany(10_000):
                keys.extend(_key(org, phone) for org, phone in rows)
        bloom = WindowedBloom(max(100_000, 2 * len(keys)), self._fp_rate, _FOREVER_S, 1)
        bloom.insert_many(keys)
        # Broadcasts that arrived while the read ran may be newer than its snapshot: keep them.
        bloom.insert_many(self._during_rebuild)
        self._during_rebuild = None
        self._bloom = bloom
        self._ready = True
        self.rebuilds += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
