"""The Falcon ASGI app: `create_app(config)` wires the services and the resources.

The services (web/services.py) open on ASGI lifespan startup and close on shutdown, after the
writer has flushed everything pending; the request middleware here sets the request id, the
rate-limit headers of every authenticated answer, request metrics and the access log.
"""

from __future__ import annotations

import re
import time
from typing import Any

import falcon
import falcon.asgi

from lead2inbound.contract.problems import ProblemError
from lead2inbound.ops.config import Config
from lead2inbound.ops.logs import ACCESS_LOG
from lead2inbound.ops.logs import configure as configure_logging
from lead2inbound.store.events import REQUEST_ID
from lead2inbound.web.console.pages import add_routes as add_console_routes
from lead2inbound.web.cors import Cors
from lead2inbound.web.http import (
    BodyReads,
    handle_falcon_error,
    handle_problem,
    handle_unexpected,
    new_request_id,
    public_path,
)
from lead2inbound.web.resources.api_keys import ApiKeyResource, ApiKeysResource
from lead2inbound.web.resources.dial_queue import (
    AttemptResource,
    ClaimResource,
    CompleteResource,
    DialPolicyResource,
    ReleaseResource,
)
from lead2inbound.web.resources.docs import DocsAssetResource, DocsPageResource, OpenApiResource
from lead2inbound.web.resources.erasures import ErasuresResource
from lead2inbound.web.resources.events import (
    EventsResource,
    EventStreamResource,
    LeadEventsResource,
)
from lead2inbound.web.resources.export import LeadsExportResource
from lead2inbound.web.resources.forms import FormResource, FormSentResource, FormsScriptResource
from lead2inbound.web.resources.guide import FieldsPage, QuickstartPage
from lead2inbound.web.resources.health import HealthResource, MetricsResource, ReadyResource
from lead2inbound.web.resources.imports import LeadsImportResource
from lead2inbound.web.resources.leads import LeadsBatchResource, LeadsResource
from lead2inbound.web.resources.read import LeadResource
from lead2inbound.web.resources.source_deliveries import (
    SourceDeliveriesResource,
    SourceDeliveryReplayResource,
)
from lead2inbound.web.resources.source_urls import (
    HookResource,
    SourceUrlResource,
    SourceUrlsResource,
)
from lead2inbound.web.resources.sources import (
    SourceLeadsResource,
    SourcePreviewResource,
    SourceResource,
    SourcesResource,
)
from lead2inbound.web.resources.suppressions import SuppressionResource, SuppressionsResource
from lead2inbound.web.resources.webhooks import (
    WebhookAttemptsResource,
    WebhookEndpointResource,
    WebhookEndpointsResource,
    WebhookReplayResource,
    WebhookRotateResource,
    WebhookTestResource,
)
from lead2inbound.web.services import Services

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContext:
    """Request id, rate-limit headers on every authenticated answer, and request metrics."""

    def __init__(self, services: Services | None):
        self.s = services

    async def process_startup(self, scope: Any, event: Any) -> None:
        if self.s is not None:
            await self.s.start()

    async def process_shutdown(self, scope: Any, event: Any) -> None:
        if self.s is not None:
            await self.s.stop()

    async def process_request(self, req: Any, resp: Any) -> None:
        incoming = req.get_header("X-Request-Id")
        req.context.request_id = (
            incoming if incoming and _REQUEST_ID.match(incoming) else new_request_id()
        )
        REQUEST_ID.set(req.context.request_id)  # for the events this request records
        req.context.started = time.perf_counter()
        req.context.rate_headers = None
        if self.s is not None:
            req.context.body_timeout_s = self.s.config.body_timeout_s
            cap = self.s.config.max_header_bytes
            if sum(len(k) + len(v) + 4 for k, v in req.headers.items()) > cap:
                raise ProblemError(
                    "header_too_large",
                    f"The request's header fields may total at most {cap} bytes.",
                    headers=[("Connection", "close")],
                )

    async def process_response(self, req: Any, resp: Any, resource: Any, ok: bool) -> None:
        resp.set_header("X-Request-Id", req.context.get("request_id") or new_request_id())
        for name, value in req.context.get("rate_headers") or ():
            resp.set_header(name, value)
        if self.s is not None:
            route = req.uri_template or "unmatched"
            started = req.context.get("started") or time.perf_counter()
            status = int(str(resp.status).split()[0])
            elapsed = time.perf_counter() - started
            self.s.metrics.request(route, req.method, status, elapsed)
            if ACCESS_LOG.enabled():
                principal = req.context.get("principal")
                path = public_path(req.path)  # a key or a source URL's token: its id only
                ACCESS_LOG.write(
                    f"{req.method} {path} {status}",
                    {
                        "request_id": req.context.get("request_id"),
                        "method": req.method,
                        "path": path[:256],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client_ip": req.remote_addr,
                        "key_id": principal.key_id if principal else None,
                        "org_id": principal.org_id if principal else None,
                    },
                )


def create_asgi_app(config: Config | None = None) -> Any:
    """What Granian serves: the app behind the body guard (`web/http.py`, `BodyReads`), with the
    HTTP version spelled as Falcon expects (`served`)."""
    config = config or Config.from_env()
    return served(BodyReads(create_app(config), config.body_read_timeout_s))


def create_app(
    config: Config | None = None, *, services: Services | None = None
) -> falcon.asgi.App:
    config = config or Config.from_env()
    configure_logging(config.log_level)
    services = services or Services(config)
    app = falcon.asgi.App(middleware=[RequestContext(services), Cors(services)], cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.add_route("/v1/leads", LeadsResource(services))
    app.add_route("/v1/leads/{lead_id}", LeadResource(services))
    app.add_route("/v1/leads/{lead_id}/events", LeadEventsResource(services))
    app.add_route("/v1/events", EventsResource(services))
    app.add_route("/v1/events/stream", EventStreamResource(services))
    app.add_route("/v1/webhook-endpoints", WebhookEndpointsResource(services))
    app.add_route("/v1/webhook-endpoints/{endpoint_id}", WebhookEndpointResource(services))
    app.add_route("/v1/webhook-endpoints/{endpoint_id}/rotate", WebhookRotateResource(services))
    app.add_route("/v1/webhook-endpoints/{endpoint_id}/replay", WebhookReplayResource(services))
    app.add_route("/v1/webhook-endpoints/{endpoint_id}/attempts", WebhookAttemptsResource(services))
    app.add_route("/v1/webhook-endpoints/{endpoint_id}/test", WebhookTestResource(services))
    app.add_route("/v1/dial-queue/claim", ClaimResource(services))
    app.add_route("/v1/dial-queue/{lead_id}/complete", CompleteResource(services))
    app.add_route("/v1/dial-queue/{lead_id}/release", ReleaseResource(services))
    app.add_route("/v1/dial-queue/{lead_id}/attempts", AttemptResource(services))
    app.add_route("/v1/dial-policy", DialPolicyResource(services))
    app.add_route("/v1/suppressions", SuppressionsResource(services))
    app.add_route("/v1/suppressions/{phone}", SuppressionResource(services))
    app.add_route("/v1/api-keys", ApiKeysResource(services))
    app.add_route("/v1/api-keys/{key_id}", ApiKeyResource(services))
    app.add_route("/v1/leads/batch", LeadsBatchResource(services))
    app.add_route("/v1/leads/import", LeadsImportResource(services))
    app.add_route("/v1/leads/export", LeadsExportResource(services))
    app.add_route("/v1/erasures", ErasuresResource(services))
    app.add_route("/v1/sources", SourcesResource(services))
    app.add_route("/v1/sources/{source_id}", SourceResource(services))
    app.add_route("/v1/sources/{source_id}/leads", SourceLeadsResource(services))
    app.add_route("/v1/sources/{source_id}/urls", SourceUrlsResource(services))
    app.add_route("/v1/sources/{source_id}/urls/{hook_id}", SourceUrlResource(services))
    app.add_route("/v1/hooks/{token}", HookResource(services))
    app.add_route("/v1/sources/{source_id}/deliveries", SourceDeliveriesResource(services))
    app.add_route(
        "/v1/sources/{source_id}/deliveries/{delivery_id}/replay",
        SourceDeliveryReplayResource(services),
    )
    app.add_route("/v1/sources/{source_id}/preview", SourcePreviewResource(services))
    app.add_route("/v1/forms/{form_key}", FormResource(services))
    app.add_route("/v1/forms.js", FormsScriptResource())
    app.add_route("/v1/form-sent", FormSentResource())
    app.add_route("/openapi.json", OpenApiResource(app))
    app.add_route("/docs", DocsPageResource())
    app.add_route("/docs/assets/{name}", DocsAssetResource())
    app.add_route("/docs/quickstart", QuickstartPage(config.public_url))
    app.add_route("/docs/fields", FieldsPage())
    add_console_routes(app, services)
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(services))
    if not config.metrics_addr:  # else served by the separate listener (ops/metrics_listener)
        app.add_route("/metrics", MetricsResource(services))
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_falcon_error)
    app.add_error_handler(ProblemError, handle_problem)
    return app


# Granian names HTTP/1.0 "1" in the ASGI scope, which Falcon refuses (a bare 500 for every
# HTTP/1.0 request: HAProxy's default health check, `ab`, `curl --http1.0`).
_HTTP_VERSIONS = {"1": "1.0", "1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3"}


def served(app: Any) -> Any:
    """`app` as an ASGI server should call it: the HTTP version in the scope spelled the way the
    ASGI spec (and Falcon) expects."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        version = scope.get("http_version")
        if version is not None and version in _HTTP_VERSIONS and _HTTP_VERSIONS[version] != version:
            scope = {**scope, "http_version": _HTTP_VERSIONS[version]}
        await app(scope, receive, send)

    return asgi
