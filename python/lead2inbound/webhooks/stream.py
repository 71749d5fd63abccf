"""The live stream's hub (GET /v1/events/stream): one per worker, it turns the LISTEN
connection's notifications (webhooks/listener.py) into a wake-up of each stream of the org
concerned. Streams read the log itself (store/events.py read_after) from their position, so a
notification only says "look now": nothing is lost when one is missed, and a client resuming
with Last-Event-ID reads exactly what it missed from the log."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class StreamHub:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.closing = asyncio.Event()

    def on_events(self, orgs: set[str] | None) -> None:
        """The listener's callback: wake the streams of these orgs (None: every stream)."""
        targets = self._waiting.keys() if orgs is None else orgs & self._waiting.keys()
        for org in list(targets):
            for wake in self._waiting.get(org, ()):
                wake.set()

    def join(self, org_id: str) -> asyncio.Event:
        wake = asyncio.Event()
        self._waiting[org_id].add(wake)
        return wake

    def leave(self, org_id: str, wake: asyncio.Event) -> None:
        members = self._waiting.get(org_id)
        if members is not None:
            members.discard(wake)
            if not members:
                del self._waiting[org_id]

    def close(self) -> None:
        """Shutdown: every stream ends (clients reconnect elsewhere with Last-Event-ID)."""
        self.closing.set()
        self.on_events(None)
