"""The ceiling: a no-op Falcon ASGI app that does what any lead endpoint must do at least.

It reads the body, decodes it into the service's own `LeadIn` msgspec Struct with the same
pre-built decoder, and answers a fixed 201. No auth, no Redis, no Postgres. Served by Granian
with exactly the service's settings, it is the most this stack can answer on this machine.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from lead2inbound.intake.validation import lead_from_json

_ANSWER = (
    b'{"outcome":"created","lead_id":"0190f5e8-0000-7000-8000-000000000000","status":"new",'
    b'"eligible":true,"reasons":[],"phone":"+15125550143","phone_valid":true,'
    b'"checks":{"duplicate":"none","suppression":"clear","dnc":"not_connected",'
    b'"consent":"present"}}'
)


class Leads:
    async def on_post(self, req: Any, resp: Any) -> None:
        body = await req.stream.read()
        lead_from_json(body)
        resp.status = 201
        resp.content_type = "application/json"
        resp.data = _ANSWER


class Health:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"status": "ok"}


app = falcon.asgi.App()
app.add_route("/v1/leads", Leads())
app.add_route("/healthz", Health())
