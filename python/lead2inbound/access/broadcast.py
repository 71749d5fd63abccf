"""Cross-worker, cross-node invalidation over Redis pub/sub (API-key revocation, suppressions).

One ``Broadcast`` per worker process. It holds one dedicated subscriber connection (a redis-py
``PubSub``, which takes a connection of its own out of the client's pool), reads it in a
background task and runs the subscribed callbacks in the worker's event loop, in arrival order.

Pub/sub is fire-and-forget: **a message published while this worker is disconnected is lost**.
So whenever the subscription is (re)established after a gap, the ``on_reconnect`` hooks run, and
their owner must drop every cache the channel protects (e.g. the API-key cache) — after that the
caches refill from Postgres, the source of truth. The first successful subscription made by
``start()`` does not count as a reconnect (there is nothing cached that a message could have
invalidated yet); a first subscription that only succeeds later (Redis down at start) does.
Caches should still keep a TTL as a backstop (``key_cache_ttl_s``).

Reconnects: redis-py may transparently reconnect and resubscribe inside a read; a connect
callback on the subscriber connection notices that and fires the hooks too. If the connection
fails for good, the loop closes it and retries with exponential backoff (0.1 s doubling to 2 s,
with jitter). A silent half-open connection is caught by a PING after ``ping_interval_s`` without
traffic: no answer within two more intervals forces a reconnect.

Redis Cluster: plain ``PUBLISH`` / ``SUBSCRIBE`` work on a cluster (messages are forwarded to
every node), so channel names need no hash tag; sharded pub/sub (``SPUBLISH``) is not used
because these are low-volume control messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

__all__ = ["Broadcast"]

log = logging.getLogger(__name__)

_NET_ERRORS = (RedisError, OSError, TimeoutError)


def _is_cluster(client: Any) -> bool:
    from redis.asyncio.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class Broadcast:
    def __init__(
        self,
        client: Any,
        *,
        on_reconnect: Callable[[], None] | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 2.0,
        ping_interval_s: float = 5.0,
    ) -> None:
        self._client = client
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._reconnect_hooks: list[Callable[[], None]] = []
        if on_reconnect is not None:
            self._reconnect_hooks.append(on_reconnect)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._ping_interval_s = ping_interval_s
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._connected = False
        self._connected_event = asyncio.Event()
        self._subscribed: set[str] = set()
        self.reconnects = 0  # how many times on_reconnect hooks fired

    # --- public -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and subscribed."""
        return self._connected

    def subscribe(self, channel: str, callback: Callable[[str], None]) -> None:
        """Run ``callback(message)`` in this loop for every message on ``channel``.
        May be called before or after ``start()``."""
        self._callbacks.setdefault(channel, []).append(callback)
        if self._connected and channel not in self._subscribed and self._pubsub is not None:
            self._subscribed.add(channel)
            task = asyncio.get_running_loop().create_task(self._pubsub.subscribe(channel))
            task.add_done_callback(self._log_failure)

    def add_reconnect_hook(self, hook: Callable[[], None]) -> None:
        self._reconnect_hooks.append(hook)

    async def start(self, wait_s: float = 2.0) -> None:
        """Start the subscriber task; wait up to ``wait_s`` for the first subscription (never
        fails because Redis is down: the task keeps retrying in the background)."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="l2i-broadcast")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._connected_event.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_pubsub()

    async def publish(self, channel: str, message: str) -> int:
        """Publish on the shared client; returns the number of subscribers that received it
        (on a cluster: only those connected to the node that took the PUBLISH; the message still
        reaches every node's subscribers). Raises ``redis.RedisError`` if Redis is unavailable."""
        return int(await self._client.publish(channel, message))

    # --- subscriber loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        first = True
        delay = self._backoff_initial_s
        while True:
            try:
                await self._connect()
            except _NET_ERRORS as exc:
                log.warning("broadcast: cannot subscribe (%s); retry in %.1fs", exc, delay)
                await self._close_pubsub()
                first = False  # whatever connects later has missed messages
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._backoff_max_s)
                continue
            delay = self._backoff_initial_s
            if not first:
                self._fire_reconnect()
            first = False
            try:
                await self._read_loop()
            except _NET_ERRORS as exc:
                log.warning("broadcast: subscriber connection lost (%s)", exc)
            self._set_connected(False)
            await self._close_pubsub()

    async def _connect(self) -> None:
        if _is_cluster(self._client):
            # A cluster client learns the slot map on its first command; its pubsub routes
            # SUBSCRIBE by the channel's slot, so the map must be there first (idempotent).
            await self._client.initialize()
        pubsub = self._client.pubsub()
        self._pubsub = pubsub
        channels = list(self._callbacks)
        self._subscribed = set(channels)
        if channels:
            await pubsub.subscribe(*channels)
        else:
            await pubsub.ping()  # establish the connection so `connected` means something
        pubsub.connection.register_connect_callback(self._on_transparent_reconnect)
        self._set_connected(True)

    async def _read_loop(self) -> None:
        pubsub = self._pubsub
        last_rx = time.monotonic()
        pinged = False
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            now = time.monotonic()
            if msg is not None:
                last_rx = now
                pinged = False
                if msg.get("type") == "message":
                    self._dispatch(_text(msg["channel"]), _text(msg["data"]))
                continue
            if pubsub.connection is None or not pubsub.connection.is_connected:
                raise ConnectionError("subscriber connection closed")
            idle = now - last_rx
            if idle > 3 * self._ping_interval_s:
                raise TimeoutError("no answer to PING on the subscriber connection")
            if idle > self._ping_interval_s and not pinged:
                pinged = True
                await pubsub.ping()

    def _dispatch(self, channel: str, data: str) -> None:
        for cb in list(self._callbacks.get(channel, ())):
            try:
                cb(data)
            except Exception:
                log.exception("broadcast: callback for %s failed", channel)

    def _fire_reconnect(self) -> None:
        self.reconnects += 1
        log.warning("broadcast: resubscribed after a gap; dropping caches (messages may be lost)")
        for hook in list(self._reconnect_hooks):
            try:
                hook()
            except Exception:
                log.exception("broadcast: on_reconnect hook failed")

    async def _on_transparent_reconnect(self, _conn: Any) -> None:
        # redis-py reconnected (and resubscribed, its own callback runs first) inside a read.
        self._fire_reconnect()

    def _set_connected(self, value: bool) -> None:
        self._connected = value
        if value:
            self._connected_event.set()
        else:
            self._connected_event.clear()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._set_connected(False)
        if pubsub is not None:
            with contextlib.suppress(*_NET_ERRORS):
                if pubsub.connection is not None:
                    pubsub.connection.deregister_connect_callback(self._on_transparent_reconnect)
                await pubsub.aclose()

    @staticmethod
    def _log_failure(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("broadcast: late subscribe failed: %s", task.exception())
