"""Pub/sub broadcast against a real redis-server (started, killed and restarted here)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from lead2inbound.access.broadcast import Broadcast
from tests.limits_support import RedisServer

CHANNEL = "l2i:revocations"


@pytest.fixture
def server():
    srv = RedisServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


async def wait_for(predicate, timeout_s: float) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


async def test_message_reaches_two_subscribers_on_separate_connections_within_a_second(server):
    clients = [aioredis.Redis.from_url(server.url) for _ in range(3)]
    got: list[list[str]] = [[], []]
    subs = [Broadcast(clients[i]) for i in range(2)]
    for i, b in enumerate(subs):
        b.subscribe(CHANNEL, got[i].append)
        await b.start()
        assert b.connected
    publisher = Broadcast(clients[2])
    assert await publisher.publish(CHANNEL, "key:abc123") == 2
    elapsed = await wait_for(lambda: all(g == ["key:abc123"] for g in got), 1.0)
    assert elapsed < 1.0
    for b in subs:
        await b.stop()
        assert not b.connected
    for c in clients:
        await c.aclose()


async def test_subscribe_after_start_and_callbacks_per_channel(server):
    c = aioredis.Redis.from_url(server.url, decode_responses=True)
    b = Broadcast(c)
    await b.start()
    a_msgs: list[str] = []
    s_msgs: list[str] = []
    b.subscribe("l2i:a", a_msgs.append)
    b.subscribe("l2i:suppressions", s_msgs.append)
    await asyncio.sleep(0.1)
    await b.publish("l2i:a", "1")
    await b.publish("l2i:suppressions", "2")
    await b.publish("l2i:other", "3")
    await wait_for(lambda: a_msgs == ["1"] and s_msgs == ["2"], 1.0)
    await b.stop()
    await c.aclose()


async def test_restart_triggers_on_reconnect_and_messages_flow_again(server):
    sub_client = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.2)
    pub_client = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.2)
    got: list[str] = []
    dropped: list[float] = []
    b = Broadcast(sub_client, on_reconnect=lambda: dropped.append(time.monotonic()))
    b.subscribe(CHANNEL, got.append)
    await b.start()
    assert b.connected and b.reconnects == 0
    await b.publish(CHANNEL, "before")
    await wait_for(lambda: got == ["before"], 1.0)

    server.kill()
    await wait_for(lambda: not b.connected, 2.0)
    with pytest.raises(aioredis.ConnectionError):
        await Broadcast(pub_client).publish(CHANNEL, "lost while down")
    assert dropped == []

    server.start()  # same port, empty server: every subscription is gone
    await wait_for(lambda: b.connected and len(dropped) >= 1, 3.0)
    assert b.reconnects >= 1
    await Broadcast(pub_client).publish(CHANNEL, "after")
    await wait_for(lambda: got == ["before", "after"], 1.0)
    await b.stop()
    await sub_client.aclose()
    await pub_client.aclose()


async def test_start_with_redis_down_connects_later_and_counts_as_reconnect():
    srv = RedisServer()  # not started yet
    try:
        c = aioredis.Redis.from_url(srv.url, socket_connect_timeout=0.2)
        dropped: list[int] = []
        got: list[str] = []
        b = Broadcast(c, on_reconnect=lambda: dropped.append(1))
        b.subscribe(CHANNEL, got.append)
        await b.start(wait_s=0.3)
        assert not b.connected
        srv.start()
        await wait_for(lambda: b.connected, 3.0)
        assert dropped == [1]  # caches filled while unsubscribed must be dropped
        await b.publish(CHANNEL, "x")
        await wait_for(lambda: got == ["x"], 1.0)
        await b.stop()
        await c.aclose()
    finally:
        srv.close()
