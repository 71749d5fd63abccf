"""Orgs and API keys: creation, listing and revocation, shared by the CLI and the admin API.

A key is shown once, when it is made; Postgres keeps only its HMAC digest under the pepper.
Revocation is committed first, then broadcast on Redis so every worker drops the key from its
cache at once (each worker's cache TTL is the backstop if the broadcast is missed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
import uuid_utils

from lead2inbound import _core
from lead2inbound.access.auth import REVOCATION_CHANNEL, SCOPES
from lead2inbound.contract.wire import check_url
from lead2inbound.store.queries import sql


class KeyStoreError(ValueError):
    """A request the key store refuses (bad scopes, unknown org, ...). `param` names the field."""

    def __init__(self, message: str, param: str = "") -> None:
        super().__init__(message)
        self.param = param


# A publishable key's per-client-IP limit when its creator gives none (docs/web-forms.md).
DEFAULT_IP_RATE_LIMIT = 20
MAX_ORIGINS = 50


@dataclass(frozen=True, slots=True)
class FormOptions:
    """What a key adds for browsers: the kind, the allowed origins, the form's redirects."""

    publishable: bool = False
    allowed_origins: tuple[str, ...] = ()
    ip_rate_limit: int | None = None
    success_url: str | None = None
    error_url: str | None = None

    @property
    def kind(self) -> str:
        return "publishable" if self.publishable else "secret"


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
    form: FormOptions = field(default_factory=FormOptions)

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
            **self.browser_fields(),
        }

    def browser_fields(self) -> dict[str, Any]:
        """The browser options, only on keys that have some: a secret key with no allowed
        origins lists exactly as before they existed (server-to-server clients see no change)."""
        f = self.form
        if not f.publishable and not f.allowed_origins:
            return {}
        out: dict[str, Any] = {"kind": f.kind, "allowed_origins": list(f.allowed_origins)}
        if f.publishable:
            out |= {"ip_rate_limit": f.ip_rate_limit, "success_url": f.success_url,
                    "error_url": f.error_url}  # fmt: skip
        return out


def parse_origin(raw: str) -> str:
    """One web origin, as browsers send it in `Origin`: `scheme://host[:port]`, lower case, no
    path, no wildcard (an exact match is the whole protection)."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "*" in text
    ):
        raise KeyStoreError(
            f"{text!r} is not a web origin: scheme://host[:port], like https://www.example.com",
            "allowed_origins",
        )
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def parse_origins(raw: str | list[str] | None) -> tuple[str, ...]:
    """A comma-separated string or a list of origins, each checked by `parse_origin`."""
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    origins = tuple(dict.fromkeys(parse_origin(o) for o in items if o.strip()))
    if len(origins) > MAX_ORIGINS:
        raise KeyStoreError(f"at most {MAX_ORIGINS} allowed origins", "allowed_origins")
    return origins


def _redirect_url(raw: str | None, param: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:  # a control character here would split the Location header of every form post
        return check_url(raw, param)
    except ValueError as exc:
        raise KeyStoreError(str(exc), param) from None


def form_options(
    *,
    publishable: bool = False,
    scopes: list[str] | None = None,
    allowed_origins: str | list[str] | None = None,
    ip_rate_limit: int | None = None,
    success_url: str | None = None,
    error_url: str | None = None,
) -> FormOptions:
    """Checked browser options for a new key (`KeyStoreError` names the bad one)."""
    origins = parse_origins(allowed_origins)
    if publishable:
        if scopes is not None and list(scopes) != ["write"]:
            raise KeyStoreError("a publishable key has exactly the write scope", "scopes")
        if not origins:
            raise KeyStoreError(
                "a publishable key needs its allowed origins (the sites whose pages use it)",
                "allowed_origins",
            )
        ip_rate_limit = DEFAULT_IP_RATE_LIMIT if ip_rate_limit is None else ip_rate_limit
    elif ip_rate_limit is not None or success_url or error_url:
        raise KeyStoreError(
            "ip_rate_limit, success_url and error_url are for publishable keys",
            "ip_rate_limit" if ip_rate_limit is not None else "success_url",
        )
    if ip_rate_limit is not None and (
        isinstance(ip_rate_limit, bool) or not 1 <= ip_rate_limit <= 1_000_000
    ):
        raise KeyStoreError("ip_rate_limit must be from 1 to 1000000 per minute", "ip_rate_limit")
    return FormOptions(
        publishable=publishable,
        allowed_origins=origins,
        ip_rate_limit=ip_rate_limit,
        success_url=_redirect_url(success_url, "success_url"),
        error_url=_redirect_url(error_url, "error_url"),
    )


@dataclass(frozen=True)
class NewKey:
    """A key request checked by the API's rules (`checked_new_key`): what `create_key_async`
    takes. The admin API and the console both build one here, so one rule set applies."""

    name: str
    scopes: list[str]
    rate_limit: int
    test: bool
    form: FormOptions
    requeue_duplicates: bool = False  # re-posts of ended leads requeue them (intake/duplicates.py)


def checked_new_key(
    *,
    name: str,
    kind: str,
    scopes: str | list[str],
    rate_limit: int,
    test: bool = False,
    allowed_origins: str | list[str] | None = None,
    ip_rate_limit: int | None = None,
    success_url: str | None = None,
    error_url: str | None = None,
    requeue_duplicates: bool = False,
) -> NewKey:
    """The rules of a new key; a broken one raises KeyStoreError naming its field (`param`)."""
    if kind not in ("secret", "publishable"):
        raise KeyStoreError("kind must be secret or publishable", "kind")
    if requeue_duplicates and kind == "publishable":
        raise KeyStoreError("a publishable key cannot requeue leads", "requeue_duplicates")
    try:
        parsed = parse_scopes(scopes)
    except KeyStoreError as exc:
        raise KeyStoreError(str(exc), "scopes") from None
    if not 1 <= len(name) <= 200 or "\x00" in name:
        raise KeyStoreError("name must be 1 to 200 characters", "name")
    if isinstance(rate_limit, bool) or not 1 <= rate_limit <= 1_000_000:
        raise KeyStoreError("rate_limit must be from 1 to 1000000 per minute", "rate_limit")
    try:
        form = form_options(
            publishable=kind == "publishable",
            scopes=parsed,
            allowed_origins=allowed_origins,
            ip_rate_limit=ip_rate_limit,
            success_url=success_url,
            error_url=error_url,
        )
    except KeyStoreError as exc:
        raise KeyStoreError(str(exc), exc.param or "kind") from None
    return NewKey(name, parsed, rate_limit, test, form, requeue_duplicates)


def _form_of(row: Any) -> FormOptions:
    """FormOptions from the five trailing columns of key_insert/keys_list."""
    kind, origins, ip_limit, success, err = row
    return FormOptions(kind == "publishable", tuple(origins or ()), ip_limit, success, err)


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
    form: FormOptions | None = None,
) -> tuple[str, KeyInfo]:
    """Mint a key, store its digest, and return (the full key, shown once; its record)."""
    if not 1 <= rate_limit <= 1_000_000:
        raise KeyStoreError("rate limit must be between 1 and 1000000 per minute")
    if not 1 <= len(name) <= 200:
        raise KeyStoreError("name must be 1 to 200 characters")
    form = form or FormOptions()
    full, args = _minted(org_id, name, scopes, pepper, rate_limit, test, form)
    row = conn.execute(sql("key_insert"), args).fetchone()
    assert row is not None
    return full, _created(row)


def _minted(
    org_id: str,
    name: str,
    scopes: list[str],
    pepper: bytes,
    rate_limit: int,
    test: bool,
    form: FormOptions,
) -> tuple[str, tuple[Any, ...]]:
    """A new key and the parameters of key_insert.sql for it."""
    if form.publishable and list(scopes) != ["write"]:
        raise KeyStoreError("a publishable key has exactly the write scope", "scopes")
    full, key_id = _core.mint_key("test" if test else "live", form.publishable)
    parsed = _core.parse_key(full)
    assert parsed is not None
    return full, (
        key_id,
        org_id,
        parsed.env,
        _core.key_digest(pepper, full),
        name,
        scopes,
        rate_limit,
        parsed.last4,
        form.kind,
        list(form.allowed_origins),
        form.ip_rate_limit,
        form.success_url,
        form.error_url,
    )


def _created(row: Any) -> KeyInfo:
    return KeyInfo(
        row[0], str(row[1]), row[2], row[3], list(row[4]), row[5], row[6], row[7],
        form=_form_of(row[8:13]),
    )  # fmt: skip


def _listed(org_id: str, r: Any) -> KeyInfo:
    return KeyInfo(
        r[0], org_id, r[1], r[2], list(r[3]), r[4], r[5], r[6], r[7], r[8], form=_form_of(r[9:14])
    )


def list_keys(conn: psycopg.Connection, org_id: str) -> list[KeyInfo]:
    rows = conn.execute(sql("keys_list"), (org_id,)).fetchall()
    return [_listed(org_id, r) for r in rows]


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


async def create_new_key(conn: Any, org_id: str, pepper: bytes, new: NewKey) -> tuple[str, KeyInfo]:
    """Store a checked key (`checked_new_key`): the admin API's and the console's one path."""
    async with conn.transaction():
        full, info = await create_key_async(
            conn,
            org_id=org_id,
            name=new.name,
            scopes=new.scopes,
            pepper=pepper,
            rate_limit=new.rate_limit,
            test=new.test,
            form=new.form,
        )
        if new.requeue_duplicates:
            await conn.execute(
                "UPDATE api_keys SET requeue_duplicates = true WHERE key_id = %s", (info.key_id,)
            )
    return full, info


async def create_key_async(
    conn: Any,
    *,
    org_id: str,
    name: str,
    scopes: list[str],
    pepper: bytes,
    rate_limit: int = 120,
    test: bool = False,
    form: FormOptions | None = None,
) -> tuple[str, KeyInfo]:
    full, args = _minted(org_id, name, scopes, pepper, rate_limit, test, form or FormOptions())
    cur = await conn.execute(sql("key_insert"), args)
    row = await cur.fetchone()
    assert row is not None
    return full, _created(row)


async def list_keys_async(conn: Any, org_id: str) -> list[KeyInfo]:
    cur = await conn.execute(sql("keys_list"), (org_id,))
    rows = await cur.fetchall()
    return [_listed(org_id, r) for r in rows]


async def revoke_key_async(conn: Any, key_id: str, org_id: str) -> Any:
    cur = await conn.execute(sql("key_revoke"), (key_id, org_id, org_id))
    return await cur.fetchone()
