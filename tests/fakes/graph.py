"""A fake Facebook Graph API for Lead Ads: `GET /{version}/{leadgen-id}` with a page access token.

It answers in the documented format (the lead: `id`, `created_time`, `field_data` [{name,
values}], `custom_disclaimer_responses`, ...; errors: `{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}`), and fails on demand:

fake.mode = "ok" | "timeout" | "error500" | "graph500" | "expired" | "huge"
fake.leads[leadgen_id] = {...}     # what GET /{leadgen-id} answers
fake.token                          # the page access token it accepts
fake.silent_tokens                  # requests with these tokens get no answer (a silent host)
fake.paths                          # every request path as received (raw)
fake.huge_sent                      # bytes of "huge" answers written (400 MiB offered each)
"""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from .base import FakeProvider, Request

VERSION = "v21.0"
PAGE_TOKEN = "EAAGm0PX4ZCpsBAFakePageToken" + "x" * 20


def _error(message: str, kind: str, code: int, **extra: Any) -> str:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": kind,
                "code": code,
                **extra,
                "fbtrace_id": "AbCdEfGhIjK",
            }
        }
    )


class GraphFake(FakeProvider):
    def __init__(self, port: int | None = None):
        super().__init__(port)
        self.token = PAGE_TOKEN
        self.leads: dict[str, dict[str, Any]] = {}
        self.fetches: list[str] = []
        self.silent_tokens: set[str] = set()
        self.silent_s = 30.0
        self.paths: list[str] = []
        self.huge_sent = 0
        self._count = threading.Lock()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._count:
            self.paths.append(handler.path)
        given = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if given in self.silent_tokens:
            time.sleep(self.silent_s)  # accepted, never answered
            return
        if self.mode != "huge":
            super()._handle(handler)
            return
        with self._count:
            self.hits += 1
        chunk = b"[" * 65536  # a JSON answer that never ends: 400 MiB unless the reader stops
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Connection", "close")
            handler.end_headers()
            for _ in range(400 * 16):
                handler.wfile.write(chunk)
                with self._count:
                    self.huge_sent += len(chunk)
        except OSError:  # the client stopped reading: nothing more to flush at the end
            handler.wfile = io.BytesIO()
        handler.close_connection = True

    @property
    def graph_url(self) -> str:
        return f"{self.url}/{VERSION}"

    def answer(self, req: Request) -> tuple[int, str, str]:
        ctype = "application/json; charset=UTF-8"
        if self.mode == "graph500":  # Graph's own 500: JSON, transient
            return (
                500,
                ctype,
                _error(
                    "An unexpected error has occurred. Please retry your request later.",
                    "OAuthException",
                    2,
                    is_transient=True,
                ),
            )
        given = req.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = given or req.query.get("access_token", "")
        if self.mode == "expired" or given != self.token:
            return (
                400,
                ctype,
                _error(
                    "Error validating access token: Session has expired on Saturday, "
                    "05-Jul-25 12:00:00 PDT. The current time is Sunday, 06-Jul-25 09:00:00 PDT.",
                    "OAuthException",
                    190,
                    error_subcode=463,
                ),
            )
        parts = req.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != VERSION:
            return 400, ctype, _error("Unknown path components", "OAuthException", 2500)
        leadgen_id = parts[1]
        self.fetches.append(leadgen_id)
        lead = self.leads.get(leadgen_id)
        if lead is None:
            return (
                400,
                ctype,
                _error(
                    f"Unsupported get request. Object with ID '{leadgen_id}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation.",
                    "GraphMethodException",
                    100,
                    error_subcode=33,
                ),
            )
        fields = req.query.get("fields")
        if fields:
            wanted = set(fields.split(","))
            lead = {k: v for k, v in lead.items() if k in wanted}
        return 200, ctype, json.dumps(lead)
