"""Console sessions and one-time sign-in links (docs/console.md), kept in Postgres.

The browser holds a random token; only its SHA-256 is stored, so the table signs nobody in. A
session belongs to one org and ends at the first of: its idle timeout (renewed as it is used),
its absolute lifetime, sign-out, or the revocation of the admin key that opened it. The CSRF
token of a session is an HMAC of its token under the key pepper: nothing more to store, and
useless without the cookie it is bound to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

IDLE_TIMEOUT = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
LINK_TTL_DEFAULT = timedelta(minutes=15)
LINK_TTL_MAX = timedelta(hours=24)
_TOKEN_MAX = 100


@dataclass(frozen=True, slots=True)
class Session:
    org_id: str
    org_name: str
    key_id: str | None
    token: str
    expires_at: datetime


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(pepper: bytes, token: str) -> str:
    return hmac.new(pepper, b"console-csrf:" + token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(pepper: bytes, token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(pepper, token), presented or "")


async def open_session(conn: Any, org_id: str, key_id: str | None) -> str:
    """A new session of `org_id`; its token (for the cookie)."""
    token = new_token()
    await conn.execute(
        "INSERT INTO console_sessions (token_digest, org_id, key_id, idle_expires_at, expires_at)"
        " VALUES (%s, %s, %s, now() + %s, now() + %s)",
        (digest(token), org_id, key_id, IDLE_TIMEOUT, LIFETIME),
    )
    return token


async def current(conn: Any, token: str | None) -> Session | None:
    """The live session of a cookie token, its idle timeout renewed; None when there is none
    (unknown, signed out, idle or past its lifetime, or its admin key revoked)."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    cur = await conn.execute(
        """
        UPDATE console_sessions s
           SET last_seen_at = now(), idle_expires_at = least(now() + %s, s.expires_at)
          FROM orgs o
         WHERE s.token_digest = %s AND o.org_id = s.org_id
           AND s.revoked_at IS NULL AND s.idle_expires_at > now() AND s.expires_at > now()
           AND (s.key_id IS NULL OR EXISTS (
                SELECT 1 FROM api_keys k
                 WHERE k.key_id = s.key_id AND k.org_id = s.org_id AND k.revoked_at IS NULL))
        RETURNING s.org_id, o.name, s.key_id, s.expires_at
        """,
        (IDLE_TIMEOUT, digest(token)),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Session(str(row[0]), row[1], row[2], token, row[3])


async def alive(conn: Any, token: str | None) -> bool:
    """Whether the session of a cookie token is still live (as `current`, without renewing its
    idle timeout): an open event stream asks this now and then and ends when it is not."""
    if not token or len(token) > _TOKEN_MAX:
        return False
    cur = await conn.execute(
        """
        SELECT 1 FROM console_sessions s
         WHERE s.token_digest = %s
           AND s.revoked_at IS NULL AND s.idle_expires_at > now() AND s.expires_at > now()
           AND (s.key_id IS NULL OR EXISTS (
                SELECT 1 FROM api_keys k
                 WHERE k.key_id = s.key_id AND k.org_id = s.org_id AND k.revoked_at IS NULL))
        """,
        (digest(token),),
    )
    return await cur.fetchone() is not None


async def sign_out(conn: Any, token: str | None) -> None:
    if token and len(token) <= _TOKEN_MAX:
        await conn.execute(
            "UPDATE console_sessions SET revoked_at = now() "
            "WHERE token_digest = %s AND revoked_at IS NULL",
            (digest(token),),
        )


def parse_ttl(raw: str) -> timedelta:
    """`15m`, `2h`, `900s` or a number of seconds, at most LINK_TTL_MAX (ValueError)."""
    text = raw.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    scale = units.get(text[-1:], 0)
    number = text[:-1] if scale else text
    if not number.isdigit():
        raise ValueError(f"{raw!r} is not a duration like 15m, 2h or 900s")
    ttl = timedelta(seconds=int(number) * (scale or 1))
    if not timedelta(seconds=1) <= ttl <= LINK_TTL_MAX:
        raise ValueError("a link lives from 1 s to 24 h")
    return ttl


def create_link(conn: Any, org_id: str, ttl: timedelta = LINK_TTL_DEFAULT) -> str:
    """A one-time sign-in token for `org_id` (sync: the operator's command line)."""
    token = new_token()
    conn.execute(
        "INSERT INTO console_links (token_digest, org_id, expires_at) VALUES (%s, %s, now() + %s)",
        (digest(token), org_id, ttl),
    )
    return token


async def use_link(conn: Any, token: str | None) -> str | None:
    """The org of an unused, unexpired link, marked used in the same statement (so two
    concurrent uses get one session); None otherwise."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    cur = await conn.execute(
        "UPDATE console_links SET used_at = now() WHERE token_digest = %s "
        "AND used_at IS NULL AND expires_at > now() RETURNING org_id",
        (digest(token),),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None
