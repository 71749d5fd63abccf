"""Prometheus metrics. With several Granian workers `l2i serve` sets PROMETHEUS_MULTIPROC_DIR so
that /metrics, whichever worker answers it, reports the sum over all workers."""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY


class LeadOutcome(Protocol):
    """What the lead counters read of a write's result (intake's `WriteResult` is one)."""

    created: bool
    status: str
    reasons: list[str]


REQUESTS = Counter(
    "l2i_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "l2i_http_request_seconds",
    "HTTP request latency by route and method",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0),
)
LEADS = Counter(
    "l2i_leads_total", "Leads by outcome (created|duplicate) and status", ["outcome", "status"]
)
LEAD_REASONS = Counter("l2i_lead_reasons_total", "Stored leads by ineligibility reason", ["reason"])


class Tally:
    """Hot-path counts kept in plain dicts and added to the Prometheus values in one go every
    `FLUSH_S` and before /metrics answers.

    In multiprocess mode every `inc` of a Prometheus value takes a lock, calls getpid() and
    writes the mmap'd file; the five or six of them per lead were ~7% of a worker's Python time.
    Another worker's /metrics sees this worker's counts at most `FLUSH_S` late. A histogram's
    observation goes to the bucket `observe` would pick (the first bound >= the value);
    tests/test_metrics_tally.py compares the two."""

    FLUSH_S = 0.5

    def __init__(self) -> None:
        self._counts: dict[Any, float] = {}
        self._hists: dict[Any, list[float]] = {}  # child -> [sum, count per bucket...]

    def inc(self, child: Any, amount: float = 1.0) -> None:
        self._counts[child] = self._counts.get(child, 0.0) + amount

    def observe(self, child: Any, value: float) -> None:
        acc = self._hists.get(child)
        if acc is None:
            acc = self._hists[child] = [0.0] * (len(child._upper_bounds) + 1)
        acc[0] += value
        acc[1 + bisect_left(child._upper_bounds, value)] += 1

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        for child, amount in counts.items():
            child.inc(amount)
        hists, self._hists = self._hists, {}
        for child, acc in hists.items():
            child._sum.inc(acc[0])
            for bucket, n in zip(child._buckets, acc[1:], strict=True):
                if n:
                    bucket.inc(n)

    async def flush_forever(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.FLUSH_S)
                self.flush()
        finally:
            self.flush()


TALLY = Tally()  # one per process: the hot path's counters go through it


_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, made once per process and then looked up: `labels()` builds and
    hashes a key and takes a lock every time. Made on first use, not ahead: a made child is
    exported, even at 0 (a `mode="fallback"` series must appear only once one was taken)."""
    key = (metric, labels)
    made = _children.get(key)
    if made is None:
        made = _children[key] = metric.labels(*labels)
    return made


class Metrics:
    """The hot path's metrics (request and lead counts), through the per-process `TALLY`."""

    def lead(self, result: LeadOutcome) -> None:
        TALLY.inc(child(LEADS, "created" if result.created else "duplicate", result.status))
        if result.created:
            for reason in result.reasons:
                TALLY.inc(child(LEAD_REASONS, reason))

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        TALLY.inc(child(REQUESTS, route, method, str(status)))
        TALLY.observe(child(LATENCY, route, method), seconds)

    def exposition(self) -> tuple[bytes, str]:
        TALLY.flush()  # this worker's own counts are exact; the others' at most FLUSH_S late
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = DEFAULT_REGISTRY
        return generate_latest(registry), CONTENT_TYPE_LATEST


def latency_quantiles(
    route: str, method: str, qs: tuple[float, ...] = (0.5, 0.99)
) -> tuple[int, list[float | None]]:
    """(requests, the quantiles in seconds) of a route's latency histogram since start (every
    worker's when multiprocess), each the upper bound of the bucket it falls in (what the
    histogram can tell). None: no requests yet."""
    TALLY.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    buckets: dict[float, float] = {}
    for family in registry.collect():
        if family.name != "l2i_http_request_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_bucket")
                and labels.get("route") == route
                and labels.get("method") == method
            ):
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    if not buckets:
        return 0, [None for _ in qs]
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return 0, [None for _ in qs]
    out: list[float | None] = []
    for q in qs:
        rank = q * total
        out.append(next((b for b in bounds if buckets[b] >= rank), bounds[-1]))
    return int(total), out
