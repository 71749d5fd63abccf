"""The limiter and the broadcasts on a three-master Redis Cluster (loopback, started here), and the
service itself pointed at the cluster with `redis+cluster://`."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from lead2inbound.access.broadcast import Broadcast
from lead2inbound.access.limits import RateLimiter, rate_limit_key
from lead2inbound.ops.config import Config
from tests.support.cluster import RedisClusterProcess
from tests.support.stack import auth, lead, make_org, service_env


@pytest.fixture
def cluster(tmp_path):
    with RedisClusterProcess(tmp_path / "cluster") as c:
        yield c


def test_config_names_a_cluster():
    assert Config(redis_url="redis+cluster://h:7000/0").redis_target() == ("redis://h:7000/0", True)
    assert Config(redis_url="rediss+cluster://h:7000").redis_target() == ("rediss://h:7000", True)
    assert Config(redis_url="redis://h:7000", redis_cluster=True).redis_target()[1] is True
    assert Config(redis_url="redis://h:6379").redis_target() == ("redis://h:6379", False)
    assert Config.from_env({"L2I_REDIS_CLUSTER": "1"}).redis_cluster is True


async def test_limiter_on_a_cluster_spreads_keys_and_keeps_exact_limits(cluster):
    client = RedisCluster.from_url(cluster.url)
    await client.initialize()  # the slot map; 240 concurrent first calls would blow 50 ms
    # unpipelined on a cluster: give the loaded 2-core box a generous budget per call
    limiter = RateLimiter(client, Config(redis_timeout_ms=3000))
    try:
        key_ids = [f"key{i:04d}" for i in range(30)]
        # 30 keys, limit 5 each, 8 attempts each, all at once: exactly 5 per key get through.
        decisions = await asyncio.gather(*[limiter.check(k, 5) for k in key_ids for _ in range(8)])
        allowed: dict[str, int] = {}
        for k, d in zip([k for k in key_ids for _ in range(8)], decisions, strict=True):
            assert not d.degraded
            allowed[k] = allowed.get(k, 0) + d.allowed
        assert set(allowed.values()) == {5}
        refused = [d for d in decisions if not d.allowed]
        assert refused and all(d.retry_after >= 1 for d in refused)
        assert not limiter.degraded
        # the buckets live on every master, each under its hash tag's slot
        owners = set()
        for k in key_ids:
            node = client.get_node_from_key(rate_limit_key(k))
            owners.add(node.port)
            plain = redis.Redis(host="127.0.0.1", port=node.port)
            assert plain.exists(rate_limit_key(k)) == 1  # stored on the slot's own master
            plain.close()
        assert owners == set(cluster.ports)
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_broadcast_on_a_cluster_reaches_subscribers_on_other_nodes(cluster):
    publisher = RedisCluster.from_url(cluster.url)
    # subscribers bootstrapped from different nodes of the cluster
    subscribers = [RedisCluster(host="127.0.0.1", port=p) for p in cluster.ports]
    got: list[list[str]] = [[] for _ in subscribers]
    casts = []
    try:
        for client, sink in zip(subscribers, got, strict=True):
            b = Broadcast(client)
            b.subscribe("l2i:revocations", sink.append)
            await b.start(wait_s=5)
            assert b.connected
            casts.append(b)
        # PUBLISH's count is the publishing node's own subscribers only (0..3): not checked
        await Broadcast(publisher).publish("l2i:revocations", "key123")
        for _ in range(50):
            if all(g == ["key123"] for g in got):
                break
            await asyncio.sleep(0.05)
        assert got == [["key123"]] * len(subscribers)
    finally:
        for b in casts:
            await b.stop()
        for c in [publisher, *subscribers]:
            await c.aclose()


def test_service_on_a_cluster(cluster, server_factory, database_url):
    url = cluster.url.replace("redis://", "redis+cluster://")
    service = server_factory(service_env(database_url, url))
    key = make_org(database_url).key(rate_limit=5)
    answers = [
        httpx.post(
            f"{service.url}/v1/leads", json=lead(f"51255531{i:02d}"), headers=auth(key), timeout=10
        )
        for i in range(8)
    ]
    assert [r.status_code for r in answers] == [201] * 5 + [429] * 3
    assert answers[-1].headers["Retry-After"]
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["checks"]["redis"] == "ok" and ready["degraded"] is False, ready
