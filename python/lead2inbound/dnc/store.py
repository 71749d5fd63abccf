"""The store of DNC connections (operator side: `l2i dnc connect|disconnect|status|rekey`).

Credentials are sealed (crypto.SecretBox) before they reach Postgres and are never printed: the
status shows the provider, its URL, timeout and options, and which key version sealed them.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from lead2inbound.dnc.crypto import SecretBox, associated_data
from lead2inbound.dnc.providers import PROVIDERS
from lead2inbound.store.queries import sql

NEEDS = {"tcpa-litigator-list": ("username", "password"), "dncscrub": ("login_id",), "registry": ()}


class DncStoreError(Exception):
    pass


def connect(
    conn: psycopg.Connection,
    box: SecretBox,
    *,
    org_id: str,
    provider: str,
    credentials: dict[str, str],
    base_url: str | None,
    timeout_ms: int,
    options: dict[str, Any],
) -> str | None:
    """Connect (or replace) the org's provider; returns the sealing key id (None: no secret)."""
    if provider not in PROVIDERS:
        raise DncStoreError(f"unknown provider {provider!r} (one of {', '.join(PROVIDERS)})")
    missing = [name for name in NEEDS[provider] if not credentials.get(name)]
    if missing:
        raise DncStoreError(f"{provider} needs {', '.join(missing)}")
    if not 50 <= timeout_ms <= 60_000:
        raise DncStoreError("the timeout must be between 50 and 60000 ms")
    sealed, key_id = None, None
    if NEEDS[provider]:
        plain = json.dumps({k: credentials[k] for k in NEEDS[provider]}).encode()
        sealed, key_id = box.seal(plain, associated_data(org_id, provider))
    conn.execute(
        sql("dnc_connect"),
        (org_id, provider, base_url, timeout_ms, json.dumps(options), sealed, key_id),
    )
    return key_id


def disconnect(conn: psycopg.Connection, org_id: str) -> bool:
    cur = conn.execute("DELETE FROM dnc_connections WHERE org_id = %s", (org_id,))
    return cur.rowcount > 0


def status(conn: psycopg.Connection, org_id: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(sql("dnc_status"), {"org_id": org_id}).fetchall()
    out = []
    for (
        oid,
        name,
        provider,
        base_url,
        timeout_ms,
        options,
        key_id,
        connected_at,
        unscrubbed,
        pending,
    ) in rows:
        out.append(
            {
                "org_id": str(oid),
                "org": name,
                "provider": provider,
                "base_url": base_url,
                "timeout_ms": timeout_ms,
                "options": options or {},
                "key_id": key_id,
                "connected_at": connected_at.isoformat() if connected_at else None,
                "unscrubbed_leads": unscrubbed,
                "pending_scrub_leads": pending,
            }
        )
    return out


def rekey(conn: psycopg.Connection, box: SecretBox) -> tuple[int, int]:
    """Re-seal every stored credential under the current key; `(resealed, already current)`."""
    resealed = current = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT org_id, provider, credentials, key_id FROM dnc_connections "
            "WHERE credentials IS NOT NULL FOR UPDATE"
        ).fetchall()
        for org_id, provider, sealed, key_id in rows:
            if key_id == box.current_id:
                current += 1
                continue
            aad = associated_data(str(org_id), provider)
            new, new_id = box.seal(box.open(bytes(sealed), key_id, aad), aad)
            conn.execute(
                "UPDATE dnc_connections SET credentials = %s, key_id = %s, updated_at = now() "
                "WHERE org_id = %s",
                (new, new_id, org_id),
            )
            resealed += 1
    return resealed, current
