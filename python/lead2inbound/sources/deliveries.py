"""What vendors sent to a source, kept (docs/lead-sources.md, "Deliveries").

Nothing a vendor sent is lost: a post that did not become a lead (a 4xx: a mapping error, a
missing phone, an unreadable body) is kept with its raw body and its headers for `RETENTION_DAYS`
so it can be replayed after the mapping is fixed; one refused for its credentials (a bad
signature or body secret) is counted without its body (anyone may post those); one that made a
lead is listed without its body. Credentials never reach a row: the `Authorization`, cookie and
every signature or key header are dropped, and the source's body secret is cut out of the body.
A source keeps at most `MAX_PER_SOURCE` rows; older ones and expired ones are purged on insert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid_utils

RETENTION_DAYS = 30
MAX_PER_SOURCE = 1000
MAX_UNAUTHORIZED_PER_SOURCE = 100
MAX_HEADERS = 50
_DROPPED = ("authorization", "cookie", "proxy-authorization")
_SECRET_WORDS = ("signature", "secret", "token", "key", "auth", "password")
REDACTED = b"[redacted]"


def kept_headers(headers: dict[str, str]) -> dict[str, str]:
    """The request's headers without any credential or signature (names in lower case)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in _DROPPED or any(word in low for word in _SECRET_WORDS):
            continue
        out[low] = value[:1000]
        if len(out) >= MAX_HEADERS:
            break
    return out


def redact(body: bytes, secret: str | None) -> bytes:
    """The body without the source's body secret (raw, and as a form would escape it)."""
    if not secret:
        return body
    from urllib.parse import quote_plus

    for form in {secret.encode(), quote_plus(secret).encode()}:
        body = body.replace(form, REDACTED)
    return body


@dataclass
class Delivery:
    delivery_id: str
    received_at: datetime
    outcome: str
    status: int
    problem: dict[str, Any] | None
    content_type: str | None
    headers: dict[str, str]
    body: bytes | None
    lead_id: str | None
    replayed_at: datetime | None
    replay_status: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "received_at": self.received_at.isoformat(),
            "outcome": self.outcome,
            "status": self.status,
            "problem": self.problem,
            "content_type": self.content_type,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace") if self.body is not None else None,
            "lead_id": self.lead_id,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "replay_status": self.replay_status,
        }


_INSERT = (
    "INSERT INTO source_deliveries (delivery_id, org_id, source_id, outcome, status, problem, "
    "content_type, headers, body, lead_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# Expired rows go, and past the newest MAX_PER_SOURCE of a source; `unauthorized` ones (which
# anyone who knows a source's id can cause) have their own smaller cap, so they can never push
# out a refused delivery that is waiting to be replayed.
_PURGE = (
    "DELETE FROM source_deliveries WHERE org_id = %(org)s AND source_id = %(src)s AND ("
    "received_at < now() - make_interval(days => %(days)s) OR delivery_id IN ("
    "SELECT delivery_id FROM (SELECT delivery_id, outcome = 'unauthorized' AS unauth, "
    "row_number() OVER (PARTITION BY outcome = 'unauthorized' "
    "ORDER BY received_at DESC, delivery_id DESC) AS n FROM source_deliveries "
    "WHERE org_id = %(org)s AND source_id = %(src)s) ranked "
    "WHERE n > CASE WHEN unauth THEN %(keep_unauth)s ELSE %(keep)s END))"
)
_COLUMNS = (
    "delivery_id, received_at, outcome, status, problem, content_type, headers, body, lead_id, "
    "replayed_at, replay_status"
)
_LIST = (
    f"SELECT {_COLUMNS} FROM source_deliveries WHERE org_id = %s AND source_id = %s "
    "AND received_at >= %s AND (%s::text IS NULL OR outcome = %s) "
    "AND received_at > now() - make_interval(days => %s) "
    "ORDER BY received_at DESC, delivery_id DESC LIMIT %s"
)
_GET = (
    f"SELECT {_COLUMNS} FROM source_deliveries "
    "WHERE org_id = %s AND source_id = %s AND delivery_id = %s"
)
_REPLAYED = (
    "UPDATE source_deliveries SET replayed_at = now(), replay_status = %s, "
    "lead_id = COALESCE(%s, lead_id) WHERE delivery_id = %s"
)


def _row(r: Any) -> Delivery:
    return Delivery(
        str(r[0]),
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6] or {},
        bytes(r[7]) if r[7] is not None else None,
        str(r[8]) if r[8] else None,
        r[9],
        r[10],
    )


async def record(
    conn: Any,
    org_id: str,
    source_id: str,
    *,
    outcome: str,
    status: int,
    problem: dict[str, Any] | None,
    content_type: str | None,
    headers: dict[str, str],
    body: bytes | None,
    lead_id: str | None,
) -> str:
    delivery_id = str(uuid_utils.uuid7())
    async with conn.transaction():
        await conn.execute(
            _INSERT,
            (
                delivery_id,
                org_id,
                source_id,
                outcome,
                status,
                json.dumps(problem) if problem is not None else None,
                (content_type or "")[:200] or None,
                json.dumps(headers),
                body,
                lead_id,
            ),
        )
        await conn.execute(
            _PURGE,
            {
                "org": org_id,
                "src": source_id,
                "days": RETENTION_DAYS,
                "keep": MAX_PER_SOURCE,
                "keep_unauth": MAX_UNAUTHORIZED_PER_SOURCE,
            },
        )
    return delivery_id


async def list_async(
    conn: Any,
    org_id: str,
    source_id: str,
    *,
    since: datetime,
    outcome: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    cur = await conn.execute(
        _LIST, (org_id, source_id, since, outcome, outcome, RETENTION_DAYS, limit)
    )
    return [_row(r) for r in await cur.fetchall()]


def list_sync(
    conn: Any, org_id: str, source_id: str, *, since: datetime, limit: int = 100
) -> list[Delivery]:
    rows = conn.execute(
        _LIST, (org_id, source_id, since, None, None, RETENTION_DAYS, limit)
    ).fetchall()
    return [_row(r) for r in rows]


async def get_async(conn: Any, org_id: str, source_id: str, delivery_id: str) -> Delivery | None:
    cur = await conn.execute(_GET, (org_id, source_id, delivery_id))
    row = await cur.fetchone()
    return _row(row) if row else None


async def replayed(conn: Any, delivery_id: str, status: int, lead_id: str | None) -> None:
    await conn.execute(_REPLAYED, (status, lead_id, delivery_id))
