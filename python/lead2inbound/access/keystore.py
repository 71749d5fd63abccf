"""Orgs and API keys: creation, listing and revocation, shared by the CLI and the admin API.

A key is shown once, when it is made; Postgres keeps only its HMAC digest under the pepper.
Revocation is committed first, then broadcast on Redis so every worker drops the key from its
cache at once (each worker's cache TTL is the backstop if the broadcast is missed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import uuid_utils

from lead2inbound import _core
from lead2inbound.access.auth import REVOCATION_CHANNEL, SCOPES
from lead2inbound.store.queries import sql


class KeyStoreError(ValueError):
    """A request the key store refuses (bad scopes, unknown org, ...)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    org_id: str
    env: str
    name: str
    scopes: list[str]
    rate_limit: int
    last4: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "env": self.env,
            "scopes": self.scopes,
            "rate_limit": self.rate_limit,
            "last4": self.last4,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def parse_scopes(raw: str | list[str]) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = [s.strip() for s in items if s.strip()]
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise KeyStoreError(
            f"scopes must be a non-empty subset of {', '.join(SCOPES)}"
            + (f" (unknown: {', '.join(bad)})" if bad else "")
        )
    return sorted(set(scopes), key=SCOPES.index)


def create_org(conn: psycopg.Connection, name: str) -> str:
    org_id = str(uuid_utils.uuid7())
    conn.execute(sql("org_insert"), (org_id, name))
    return org_id


def resolve_org(conn: psycopg.Connection, org: str) -> str:
    """An org id from its id or its (unique enough) name."""
    try:
        row = conn.execute(
            "SELECT org_id FROM orgs WHERE org_id = %s", (uuid.UUID(org),)
        ).fetchone()
    except ValueError:
        rows = conn.execute("SELECT org_id FROM orgs WHERE name = %s", (org,)).fetchall()
        if len(rows) > 1:
            raise KeyStoreError(f"several orgs are named {org!r}; use the org id") from None
        row = rows[0] if rows else None
    if row is None:
        raise KeyStoreError(f"no org {org!r}")
    return str(row[0])


def create_key(
    conn: psycopg.Connection,
    *,
    org_id: str,
    name: str,
    scopes: list[str],
    pepper: bytes,
    rate_limit: int = 120,
    test: bool = False,
) -> tuple[str, KeyInfo]:
    """Mint a key, store its digest, and return (the full key, shown once; its record)."""
    if not 1 <= rate_limit <= 1_000_000:
        raise KeyStoreError("rate limit must be between 1 and 1000000 per minute")
    if not 1 <= len(name) <= 200:
        raise KeyStoreError("name must be 1 to 200 characters")
    full, key_id = _core.mint_key("test" if test else "live")
    parsed = _core.parse_key(full)
    assert parsed is not None
    row = conn.execute(
        sql("key_insert"),
        (
            key_id,
            org_id,
            parsed.env,
            _core.key_digest(pepper, full),
            name,
            scopes,
            rate_limit,
            parsed.last4,
        ),
    ).fetchone()
    assert row is not None
    return full, KeyInfo(row[0], str(row[1]), row[2], row[3], list(row[4]), row[5], row[6], row[7])


def list_keys(conn: psycopg.Connection, org_id: str) -> list[KeyInfo]:
    rows = conn.execute(sql("keys_list"), (org_id,)).fetchall()
    return [
        KeyInfo(r[0], org_id, r[1], r[2], list(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in rows
    ]


def revoke_key(conn: psycopg.Connection, key_id: str, org_id: str | None = None) -> bool:
    row = conn.execute(sql("key_revoke"), (key_id, org_id, org_id)).fetchone()
    return row is not None


def broadcast_revocation(redis_url: str, key_id: str) -> None:
    """Tell every worker on every node to drop the key from its cache (best effort)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.publish(REVOCATION_CHANNEL, key_id)
    finally:
        client.close()


# --- the same, for the admin API (async connections from the worker's pool) ---------------------


async def create_key_async(
    conn: Any,
    *,
    org_id: str,
    name: str,
    scopes: list[str],
    pepper: bytes,
    rate_limit: int = 120,
    test: bool = False,
) -> tuple[str, KeyInfo]:
    full, key_id = _core.mint_key("test" if test else "live")
    parsed = _core.parse_key(full)
    assert parsed is not None
    cur = await conn.execute(
        sql("key_insert"),
        (key_id, org_id, parsed.env, _core.key_digest(pepper, full), name, scopes, rate_limit,
         parsed.last4),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    return full, KeyInfo(row[0], str(row[1]), row[2], row[3], list(row[4]), row[5], row[6], row[7])


async def list_keys_async(conn: Any, org_id: str) -> list[KeyInfo]:
    cur = await conn.execute(sql("keys_list"), (org_id,))
    rows = await cur.fetchall()
    return [
        KeyInfo(r[0], org_id, r[1], r[2], list(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in rows
    ]


async def revoke_key_async(conn: Any, key_id: str, org_id: str) -> Any:
    cur = await conn.execute(sql("key_revoke"), (key_id, org_id, org_id))
    return await cur.fetchone()
