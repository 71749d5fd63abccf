"""Prometheus metrics. With several Granian workers `l2i serve` sets PROMETHEUS_MULTIPROC_DIR so
that /metrics, whichever worker answers it, reports the sum over all workers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

if TYPE_CHECKING:
    from .store.writer import WriteResult

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


class Metrics:
    """The hot path's metrics, with each label set's child looked up once per process (a
    `labels()` call builds and hashes a key every time; these run for every request)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._leads: dict[tuple[bool, str], Any] = {}

    def lead(self, result: WriteResult) -> None:
        key = (result.created, result.status)
        child = self._leads.get(key)
        if child is None:
            child = LEADS.labels("created" if result.created else "duplicate", result.status)
            self._leads[key] = child
        child.inc()
        if result.created:
            for reason in result.reasons:
                LEAD_REASONS.labels(reason).inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._requests.get(key)
        if children is None:
            children = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
            self._requests[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = DEFAULT_REGISTRY
        return generate_latest(registry), CONTENT_TYPE_LATEST
