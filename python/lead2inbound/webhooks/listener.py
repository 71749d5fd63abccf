"""One LISTEN connection per worker on `l2i_events` (store/events.py CHANNEL): every committed
event wakes the delivery worker and the streams of its org at once. The log stays the truth:
a missed notification only delays a reader until its next poll, and after a reconnect every
subscriber is woken ("*") to catch up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from lead2inbound.ops.background import BackgroundTask, backoff
from lead2inbound.store.events import CHANNEL

log = logging.getLogger("lead2inbound.events.listener")

Subscriber = Callable[[set[str] | None], None]  # org ids, or None for "every org"


class EventListener(BackgroundTask):
    TASK_NAME = "l2i-event-listener"

    def __init__(self, url: str):
        self._url = url
        self._subscribers: list[Subscriber] = []
        self.connected = asyncio.Event()

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def _tell(self, orgs: set[str] | None) -> None:
        for fn in self._subscribers:
            try:
                fn(orgs)
            except Exception:
                log.exception("event subscriber failed")

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}".encode())
                    failures = 0
                    self.connected.set()
                    self._tell(None)  # anything committed while not listening
                    async for note in conn.notifies():
                        payload = note.payload
                        self._tell(None if payload == "*" else set(payload.split(",")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("event listener lost its connection: %s", exc)
            failures += 1
            await asyncio.sleep(backoff(failures, base=0.5, cap=10.0))
