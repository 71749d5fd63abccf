"""A test event to one endpoint (`l2i webhooks test`, the console's "Send a test event"): one
signed `webhook_endpoint.test` delivery sent now, not logged and not retried; its answer's status
and first 1 KB come back to the caller."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from lead2inbound.dnc.crypto import SecretBox
from lead2inbound.ops.outbound import OutboundError, OutboundPolicy, OutboundRefused, send
from lead2inbound.store.queries import sql
from lead2inbound.webhooks import signing
from lead2inbound.webhooks.endpoints import live_secrets

ANSWER_SHOWN = 1024  # bytes of the receiver's answer handed back


async def send_test_event(
    conn: Any, box: SecretBox, policy: OutboundPolicy, org_id: str, sandbox: bool,
    endpoint_id: str,
) -> dict[str, Any] | None:  # fmt: skip
    """`{"id", "status", "response"}` or `{"id", "status": None, "error"}`; None: the org has
    no such endpoint in this mode."""
    cur = await conn.execute(
        sql("webhook_endpoint_get"), {"org": org_id, "sandbox": sandbox, "id": endpoint_id}
    )
    row = await cur.fetchone()
    if row is None:
        return None
    url, sealed, key_id = row[3], row[9], row[10]
    msg_id = str(uuid.uuid4())
    body = msgspec.json.encode({
        "type": "webhook_endpoint.test", "timestamp": datetime.now(UTC).isoformat(),
        "id": msg_id, "org": org_id, "sandbox": sandbox, "lead_id": None, "request_id": None,
        "data": {"endpoint_id": endpoint_id},
    })  # fmt: skip
    keys = live_secrets(box, org_id, endpoint_id, sealed, key_id)
    headers = signing.headers(keys, msg_id, int(time.time()), body)
    try:
        answer = await send(
            "POST", url, policy=policy, headers=headers, content=body, keep_bytes=ANSWER_SHOWN
        )
    except (OutboundRefused, OutboundError) as exc:
        return {"id": msg_id, "status": None, "error": str(exc)}
    return {"id": msg_id, "status": answer.status,
            "response": answer.body.decode("utf-8", "replace")}  # fmt: skip
