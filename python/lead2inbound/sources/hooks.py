"""Source URLs that are their own credential (docs/lead-sources.md, "Source URLs").

Most webhook senders take a URL and nothing else (no header, no signature of ours), so a source
has URLs like Slack's incoming webhooks: `POST /v1/hooks/<token>` ingests for that source with
no header at all. A token is laid out like an API key (rust-core/src/keys.rs), so typos are
refused without a store look-up and secret scanners can find one by its prefix:

    l2i_hook_<hook id: 12 base62>_<secret: 32 base62, ~190 bits><crc: 6 base62>

The crc is CRC32/IEEE of `<hook id>_<secret>` in base62 (GitHub's token checksum, as the keys').
The hook id is public (logs and error pages show `l2i_hook_<hook id>_…`); the whole token is
stored only as HMAC-SHA256 under the key pepper and shown once. Rotating gives the older URLs an
end (the overlap, so a vendor's settings can be changed without losing a post); revoking ends one
at once.
"""

from __future__ import annotations

import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

PREFIX = "l2i_hook_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LEN, SECRET_LEN, CRC_LEN = 12, 32, 6
TOKEN_LEN = len(PREFIX) + ID_LEN + 1 + SECRET_LEN + CRC_LEN
_TOKEN = re.compile(
    rf"^{PREFIX}([0-9A-Za-z]{{{ID_LEN}}})_([0-9A-Za-z]{{{SECRET_LEN}}})([0-9A-Za-z]{{{CRC_LEN}}})$"
)
_HOOK_ID = re.compile(rf"^[0-9A-Za-z]{{{ID_LEN}}}$")
DEFAULT_OVERLAP_S = 86_400
MAX_OVERLAP_S = 30 * 86_400
# What a wrong token is compared against, so an unknown hook id costs what a known one does.
_DUMMY = bytes(32)


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(width, "0")


def _random(n: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(n))


def _crc(hook_id: str, secret: str) -> str:
    return _base62(zlib.crc32(f"{hook_id}_{secret}".encode()), CRC_LEN)


def mint() -> tuple[str, str]:
    """A new token from the OS CSPRNG: `(token, hook_id)`."""
    hook_id, secret = _random(ID_LEN), _random(SECRET_LEN)
    return f"{PREFIX}{hook_id}_{secret}{_crc(hook_id, secret)}", hook_id


def parse(token: str) -> str | None:
    """The hook id of a well-formed token whose checksum holds; None for anything else."""
    found = _TOKEN.match(token) if len(token) == TOKEN_LEN else None
    if found is None:
        return None
    hook_id, secret, crc = found.groups()
    return hook_id if hmac.compare_digest(crc, _crc(hook_id, secret)) else None


def is_hook_id(raw: str) -> bool:
    """A URL's public id as `new()` makes them (so a path's NUL or junk never reaches SQL)."""
    return _HOOK_ID.fullmatch(raw) is not None


def public(hook_id: str) -> str:
    """What logs and answers may show of a token."""
    return f"{PREFIX}{hook_id}_…"


def digest(pepper: bytes, token: str) -> bytes:
    return hmac.new(pepper, token.encode(), sha256).digest()


def matches(pepper: bytes, token: str, stored: bytes | None) -> bool:
    """Constant time; an unknown hook (`stored` None) costs the same and is False."""
    same = hmac.compare_digest(digest(pepper, token), stored or _DUMMY)
    return same and stored is not None


def url_path(token: str) -> str:
    return f"/v1/hooks/{token}"


@dataclass
class Hook:
    hook_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "hook_id": self.hook_id,
            "url_hint": public(self.hook_id),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.active,
        }


def check_overlap(overlap_s: Any) -> int:
    if isinstance(overlap_s, bool) or not isinstance(overlap_s, int):
        raise ValueError("overlap_s must be a whole number of seconds")
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise ValueError(f"overlap_s must be from 0 to {MAX_OVERLAP_S} (30 days)")
    return overlap_s


_ACTIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
_INSERT = "INSERT INTO source_hooks (hook_id, org_id, source_id, digest) VALUES (%s, %s, %s, %s)"
# The older URLs end after the overlap (one that already ends sooner keeps its end).
_END_OLDER = (
    "UPDATE source_hooks SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), "
    "now() + make_interval(secs => %s)) "
    f"WHERE org_id = %s AND source_id = %s AND {_ACTIVE}"
)
_LIST = (
    f"SELECT hook_id, created_at, expires_at, revoked_at, ({_ACTIVE}) FROM source_hooks "
    "WHERE org_id = %s AND source_id = %s ORDER BY created_at, hook_id"
)
_REVOKE = (
    "UPDATE source_hooks SET revoked_at = now() "
    "WHERE org_id = %s AND source_id = %s AND hook_id = %s AND revoked_at IS NULL "
    "RETURNING hook_id"
)
_LOOKUP = f"SELECT org_id, source_id, digest FROM source_hooks WHERE hook_id = %s AND {_ACTIVE}"


def _hook(row: Any) -> Hook:
    return Hook(row[0], row[1], row[2], row[3], bool(row[4]))


def add(conn: Any, pepper: bytes, org_id: str, source_id: str, overlap_s: int | None) -> str:
    """A new URL token for the source (sync connection); with `overlap_s`, the older ones end
    after it (a rotation). Returns the token: shown once."""
    token, hook_id = mint()
    if overlap_s is not None:
        conn.execute(_END_OLDER, (overlap_s, org_id, source_id))
    conn.execute(_INSERT, (hook_id, org_id, source_id, digest(pepper, token)))
    return token


async def add_async(
    conn: Any, pepper: bytes, org_id: str, source_id: str, overlap_s: int | None
) -> str:
    token, hook_id = mint()
    async with conn.transaction():
        if overlap_s is not None:
            await conn.execute(_END_OLDER, (overlap_s, org_id, source_id))
        await conn.execute(_INSERT, (hook_id, org_id, source_id, digest(pepper, token)))
    return token


def list_hooks(conn: Any, org_id: str, source_id: str) -> list[Hook]:
    return [_hook(r) for r in conn.execute(_LIST, (org_id, source_id)).fetchall()]


async def list_async(conn: Any, org_id: str, source_id: str) -> list[Hook]:
    cur = await conn.execute(_LIST, (org_id, source_id))
    return [_hook(r) for r in await cur.fetchall()]


def revoke(conn: Any, org_id: str, source_id: str, hook_id: str) -> bool:
    return conn.execute(_REVOKE, (org_id, source_id, hook_id)).fetchone() is not None


async def revoke_async(conn: Any, org_id: str, source_id: str, hook_id: str) -> bool:
    cur = await conn.execute(_REVOKE, (org_id, source_id, hook_id))
    return await cur.fetchone() is not None


async def resolve_async(conn: Any, pepper: bytes, token: str) -> tuple[str, str] | None:
    """(org id, source id) of an active token; None for a malformed, unknown, ended or revoked
    one (the same work for each, past the format check)."""
    hook_id = parse(token)
    if hook_id is None:
        return None
    cur = await conn.execute(_LOOKUP, (hook_id,))
    row = await cur.fetchone()
    if not matches(pepper, token, bytes(row[2]) if row else None):
        return None
    assert row is not None
    return str(row[0]), str(row[1])
