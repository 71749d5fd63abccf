"""The separate metrics listener (`L2I_METRICS_ADDR`): a small process `l2i serve` starts beside
Granian, so Prometheus scrapes a port that is not the API's and the API port answers /metrics 404.

It reads what every worker wrote to PROMETHEUS_MULTIPROC_DIR (`l2i serve` sets it whenever the
listener runs, even with one worker), so one scrape is the sum over all workers, at most
`Tally.FLUSH_S` late; plus `l2i_dial_queue_depth`, read from Postgres at scrape time (at most
once every 5 s, 1 s budget; omitted while Postgres does not answer). A process rather than a
thread of Granian's main process: Granian forks its workers (and respawns them), and a fork
beside a running thread can inherit a lock held by it.

    python -m lead2inbound.ops.metrics_listener   # reads L2I_METRICS_ADDR, L2I_DATABASE_URL
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import psycopg
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lead2inbound.ops.config import Config

QUEUE_DEPTH_SQL = (
    "SELECT count(*), count(*) FILTER (WHERE lease_expires_at > now()) FROM dial_queue"
)
QUEUE_DEPTH_EVERY_S = 5.0
QUEUE_DEPTH_HELP = (
    "Leads in the dial queue: ready (waiting for a claim) or leased (claimed, lease not expired)"
)


class QueueDepth(Collector):
    """`l2i_dial_queue_depth{state}` from Postgres, cached for QUEUE_DEPTH_EVERY_S."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._depth: tuple[int, int] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def _read(self) -> tuple[int, int] | None:
        now = time.monotonic()
        if self._depth is not None and now - self._at < QUEUE_DEPTH_EVERY_S:
            return self._depth
        try:
            with psycopg.connect(
                self.database_url, connect_timeout=1, options="-c statement_timeout=1000"
            ) as conn:
                row = conn.execute(QUEUE_DEPTH_SQL).fetchone()
        except psycopg.Error:
            return None
        self._depth = (int(row[0]), int(row[1])) if row else (0, 0)
        self._at = now
        return self._depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            depth = self._read()
        if depth is None:
            return
        total, leased = depth
        family = GaugeMetricFamily("l2i_dial_queue_depth", QUEUE_DEPTH_HELP, labels=["state"])
        family.add_metric(["ready"], total - leased)
        family.add_metric(["leased"], leased)
        yield family


def registry(database_url: str | None) -> CollectorRegistry:
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg)
    if database_url:
        reg.register(QueueDepth(database_url))
    return reg


def main() -> None:
    cfg = Config.from_env()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise SystemExit("the metrics listener needs PROMETHEUS_MULTIPROC_DIR (l2i serve sets it)")
    host, port = cfg.metrics_listen()
    start_http_server(port, addr=host, registry=registry(cfg.database_url))
    print(f"listening on {cfg.metrics_addr}", flush=True)  # `l2i serve` waits for this line
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
