"""An org's webhook endpoints in Postgres: create (URL through the outbound guard, secret shown
once), list, get, update (PATCH: URL, types, description, enabled), delete, rotate the secret
with an overlap, replay, list attempts.

Secrets are sealed with dnc/crypto.py's SecretBox (L2I_SECRET_KEY), the org id and
"webhook:<endpoint_id>" as associated data, as JSON `{"secret", "previous", "previous_until"}`:
during a rotation's overlap deliveries are signed with both (webhook-signature carries two).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid_utils
from psycopg.rows import dict_row

from lead2inbound.dnc.crypto import SecretBox
from lead2inbound.store.events import TYPES
from lead2inbound.store.queries import sql
from lead2inbound.webhooks.signing import new_secret

MAX_TYPES = 50


def _aad(org_id: str, endpoint_id: str) -> bytes:
    return f"{org_id}\0webhook:{endpoint_id}".encode()


def bad_types(types: list[str]) -> str | None:
    """Why this filter cannot be stored, or None: `*`, a known type, or a family `lead.*`."""
    if not 1 <= len(types) <= MAX_TYPES:
        return f"types must list 1 to {MAX_TYPES} event types"
    families = {t.split(".")[0] + ".*" for t in TYPES}
    for t in types:
        if t != "*" and t not in TYPES and t not in families:
            return f"unknown event type {t[:64]!r} (see docs/events.md; `*` and `lead.*` work)"
    return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    org_id: str
    endpoint_id: str
    sandbox: bool
    url: str
    types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> Endpoint:
        return cls(
            str(row["org_id"]),
            str(row["endpoint_id"]),
            row["sandbox"],
            row["url"],
            list(row["types"]),
            row["description"],
            row["enabled"],
            row["disabled_reason"],
            row["created_at"],
        )

    def json(self) -> dict[str, Any]:
        return {
            "id": self.endpoint_id,
            "url": self.url,
            "types": self.types,
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "sandbox": self.sandbox,
            "created_at": self.created_at.isoformat(),
        }


def _seal(box: SecretBox, org_id: str, endpoint_id: str, value: dict[str, Any]) -> Any:
    return box.seal(json.dumps(value).encode(), _aad(org_id, endpoint_id))


def live_secrets(
    box: SecretBox, org_id: str, endpoint_id: str, sealed: bytes, key_id: str | None
) -> list[str]:
    """The secrets deliveries are signed with now: the current one, and the previous one while
    its overlap lasts."""
    value = json.loads(box.open(bytes(sealed), key_id, _aad(org_id, endpoint_id)))
    out = [value["secret"]]
    if value.get("previous") and value.get("previous_until", 0) > time.time():
        out.append(value["previous"])
    return out


async def create(
    conn: Any,
    box: SecretBox,
    *,
    org_id: str,
    sandbox: bool,
    url: str,
    types: list[str],
    description: str | None,
    enabled: bool = True,
) -> tuple[Endpoint, str]:
    """A new endpoint and its signing secret (shown once)."""
    endpoint_id = str(uuid_utils.uuid7())
    secret = new_secret()
    sealed, key_id = _seal(box, org_id, endpoint_id, {"secret": secret})
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql("webhook_endpoint_insert"),
        {"org": org_id, "id": endpoint_id, "sandbox": sandbox, "url": url, "types": types,
         "description": description, "enabled": enabled, "secrets": sealed, "key_id": key_id},
    )  # fmt: skip
    row = await cur.fetchone()
    return Endpoint.of(row), secret


async def list_(conn: Any, org_id: str, sandbox: bool) -> list[Endpoint]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql("webhook_endpoints_list"), {"org": org_id, "sandbox": sandbox})
    return [Endpoint.of(r) for r in await cur.fetchall()]


async def _row(conn: Any, org_id: str, sandbox: bool, endpoint_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql("webhook_endpoint_get"), {"org": org_id, "sandbox": sandbox, "id": endpoint_id}
    )
    return await cur.fetchone()


async def get(conn: Any, org_id: str, sandbox: bool, endpoint_id: str) -> Endpoint | None:
    row = await _row(conn, org_id, sandbox, endpoint_id)
    return None if row is None else Endpoint.of(row)


async def delete(conn: Any, org_id: str, sandbox: bool, endpoint_id: str) -> bool:
    cur = await conn.execute(
        sql("webhook_endpoint_delete"), {"org": org_id, "sandbox": sandbox, "id": endpoint_id}
    )
    return await cur.fetchone() is not None


async def update(
    conn: Any,
    org_id: str,
    sandbox: bool,
    endpoint_id: str,
    *,
    url: str | None = None,
    types: list[str] | None = None,
    description: str | None = None,
    set_description: bool = False,
    enabled: bool | None = None,
) -> Endpoint | None:
    """Change the given fields (the caller has checked the URL and the types); None: no such
    endpoint. Turned on again, it is sent what was recorded while it was off."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql("webhook_endpoint_update"),
        {"org": org_id, "sandbox": sandbox, "id": endpoint_id, "url": url, "types": types,
         "description": description, "set_description": set_description, "enabled": enabled},
    )  # fmt: skip
    row = await cur.fetchone()
    return None if row is None else Endpoint.of(row)


async def delivery_state(
    conn: Any, org_id: str, endpoint_id: str, event_id: str
) -> dict[str, Any] | None:
    """One event's delivery to the endpoint (`state`, `in_flight`, `next_attempt_at`), or None
    when the endpoint never had it."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql("webhook_delivery_state"), {"org": org_id, "id": endpoint_id, "event": event_id}
    )
    return await cur.fetchone()


async def rotate(
    conn: Any, box: SecretBox, org_id: str, sandbox: bool, endpoint_id: str, overlap_s: int
) -> str | None:
    """A new secret (shown once); the old one still signs for `overlap_s` seconds. Call inside a
    transaction. None: no such endpoint."""
    row = await _row(conn, org_id, sandbox, endpoint_id)
    if row is None:
        return None
    old = json.loads(box.open(bytes(row["secrets"]), row["key_id"], _aad(org_id, endpoint_id)))
    secret = new_secret()
    value = {"secret": secret, "previous": old["secret"], "previous_until": time.time() + overlap_s}
    sealed, key_id = _seal(box, org_id, endpoint_id, value)
    await conn.execute(
        sql("webhook_endpoint_reseal"),
        {"org": org_id, "id": endpoint_id, "secrets": sealed, "key_id": key_id},
    )
    return secret


async def replay(
    conn: Any,
    org_id: str,
    endpoint_id: str,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Send the endpoint's matching events again, now (one event, or a time range; at most
    10,000 per call): a pending one waiting for a retry is due now too; one a worker is
    sending at this moment is left to its answer. Returns how many were scheduled."""
    cur = await conn.execute(
        sql("webhook_replay"),
        {"org": org_id, "id": endpoint_id, "event": event_id, "since": since, "until": until},
    )
    return len(await cur.fetchall())


def attempt_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["attempt_id"]),
        "event_id": str(row["event_id"]),
        "event_type": row["type"],
        "attempt": row["attempt"],
        "attempted_at": row["attempted_at"].isoformat(),
        "status": row["status"],
        "duration_ms": row["duration_ms"],
        "response": row["response"],
        "error": row["error"],
    }


async def attempts(
    conn: Any, org_id: str, endpoint_id: str, limit: int, before: int | None
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql("webhook_attempts_list"),
        {"org": org_id, "id": endpoint_id, "before": before, "limit": limit},
    )
    return [attempt_json(r) for r in await cur.fetchall()]
