"""Prometheus metrics. With several Granian workers `l2i serve` sets PROMETHEUS_MULTIPROC_DIR so
that /metrics, whichever worker answers it, reports the sum over all workers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

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
    def lead(self, result: WriteResult) -> None:
        LEADS.labels("created" if result.created else "duplicate", result.status).inc()
        if result.created:
            for reason in result.reasons:
                LEAD_REASONS.labels(reason).inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        REQUESTS.labels(route, method, str(status)).inc()
        LATENCY.labels(route, method).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = DEFAULT_REGISTRY
        return generate_latest(registry), CONTENT_TYPE_LATEST
