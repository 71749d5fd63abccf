"""Lead sources in Postgres: create, list, get, delete, with their secrets sealed.

Secrets (a signing secret, Facebook's verify token and page access token) are sealed with
dnc/crypto.py's `SecretBox` under `L2I_SECRET_KEY`, with the org id and `source:<id>` as the
associated data, and never leave this module except to the signature check and the Graph client:
what is shown says only which secrets a source has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import uuid_utils

from lead2inbound.contract.wire import NUL_DETAIL, nul_errors
from lead2inbound.dnc.crypto import SecretBox, SecretError, associated_data
from lead2inbound.sources.mapping import FORMATS, MappingError, check_mapping, check_options
from lead2inbound.sources.presets import PRESETS
from lead2inbound.sources.signatures import SCHEMES
from lead2inbound.store.queries import sql

SECRET_NAMES = ("secret", "verify_token", "page_token", "body_secret")


class SourceError(ValueError):
    """A source that cannot be made: (field, what is wrong)."""

    def __init__(self, where: str, detail: str):
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


@dataclass
class Source:
    org_id: str
    source_id: str
    name: str
    preset: str | None
    format: str
    json_field: str | None
    mapping: dict[str, Any]
    options: dict[str, Any]
    signature: str
    sealed: bytes | None
    key_id: str | None
    sandbox: bool
    rate_limit: int
    created_at: datetime
    require_valid_phone: bool = False
    success_status: int = 201
    requeue_duplicates: bool = False  # re-posts requeue (intake/duplicates.py)

    @property
    def path(self) -> str:
        return f"/v1/sources/{self.source_id}/leads"

    def secrets(self, box: SecretBox) -> dict[str, str]:
        """The opened secrets ({} when none); SecretError when they do not open."""
        if self.sealed is None:
            return {}
        plain = box.open(self.sealed, self.key_id, _aad(self.org_id, self.source_id))
        return dict(json.loads(plain))

    def as_dict(self, secret_names: list[str] | None = None) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "name": self.name,
            "preset": self.preset,
            "format": self.format,
            "json_field": self.json_field,
            "mapping": self.mapping,
            "options": self.options,
            "signature": self.signature,
            "secrets": secret_names or [],
            "sandbox": self.sandbox,
            "rate_limit": self.rate_limit,
            "success_status": self.success_status,
            "ingest_url": self.path,
            "created_at": self.created_at.isoformat(),
        }


def _aad(org_id: str, source_id: str) -> bytes:
    return associated_data(str(org_id), f"source:{source_id}")


def _row(row: Any) -> Source:
    return Source(
        org_id=str(row[0]),
        source_id=str(row[1]),
        name=row[2],
        preset=row[3],
        format=row[4],
        json_field=row[5],
        mapping=row[6],
        options=row[7] or {},
        signature=row[8],
        sealed=bytes(row[9]) if row[9] is not None else None,
        key_id=row[10],
        sandbox=row[11],
        rate_limit=row[12],
        created_at=row[13],
        require_valid_phone=bool(row[14]),
        success_status=int(row[15]),
        requeue_duplicates=bool(row[16]) if len(row) > 16 else False,
    )


def plan(
    *,
    name: str,
    preset: str | None = None,
    format: str | None = None,
    json_field: str | None = None,
    mapping: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    signature: str | None = None,
    secrets: dict[str, str | None] | None = None,
    sandbox: bool = False,
    rate_limit: int = 120,
    success_status: int | None = None,
) -> dict[str, Any]:
    """A new source's row (without ids and sealing), checked; SourceError names the bad field."""
    if not isinstance(name, str) or not 1 <= len(name) <= 200 or "\x00" in name:
        raise SourceError("name", "must be 1 to 200 characters")
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise SourceError("preset", f"unknown preset (one of {', '.join(PRESETS)})")
        base = PRESETS[preset].as_dict()
    fmt = format or base.get("format") or "json"
    if fmt not in FORMATS:
        raise SourceError("format", f"one of {', '.join(FORMATS)}")
    scheme = signature or base.get("signature") or "none"
    if scheme not in SCHEMES:
        raise SourceError("signature", f"one of {', '.join(SCHEMES)}")
    mapping = mapping if mapping is not None else base.get("mapping")
    options = options if options is not None else base.get("options", {})
    json_field = json_field or base.get("json_field")
    given = {k: v for k, v in (secrets or {}).items() if v}
    # Postgres (text, jsonb) cannot hold NUL: refuse it here for the API and the CLI alike
    for where, value in (("mapping", mapping), ("options", options), ("json_field", json_field),
                         ("secrets", given)):  # fmt: skip
        found = nul_errors(value, [where])
        if found:
            raise SourceError(found[0].param, NUL_DETAIL)
    if fmt == "form_json" and not json_field:
        json_field = "data.json"
    try:
        check_mapping(mapping)
        check_options(options)
    except MappingError as exc:
        where = exc.where
        if not where.startswith(("options", "mapping")):
            where = f"mapping.{where}"
        raise SourceError(where, exc.detail) from None
    unknown = set(given) - set(SECRET_NAMES)
    if unknown:
        raise SourceError("secrets", f"unknown secret(s): {', '.join(sorted(unknown))}")
    if scheme != "none" and not given.get("secret"):
        raise SourceError("secret", f"the {scheme} signature needs the shared secret")
    if options.get("body_secret_at") and not given.get("body_secret"):
        raise SourceError("body_secret", "options.body_secret_at needs the secret to expect there")
    if given.get("body_secret") and not options.get("body_secret_at"):
        raise SourceError("options.body_secret_at", "where the body carries body_secret")
    if fmt == "facebook":
        if scheme != "facebook":
            raise SourceError("signature", "a facebook source checks Facebook's signature")
        for needed in ("verify_token", "page_token"):
            if not given.get(needed):
                raise SourceError(needed, "a facebook source needs it")
    if isinstance(rate_limit, bool) or not 1 <= rate_limit <= 1_000_000:
        raise SourceError("rate_limit", "must be from 1 to 1000000 per minute")
    status = success_status or base.get("success_status") or 201
    if status not in (200, 201):
        raise SourceError("success_status", "200 or 201")
    return {
        "name": name,
        "preset": preset,
        "format": fmt,
        "json_field": json_field if fmt == "form_json" else None,
        "mapping": mapping,
        "options": options,
        "signature": scheme,
        "secrets": given,
        "sandbox": bool(sandbox),
        "rate_limit": rate_limit,
        "success_status": status,
    }


def _params(org_id: str, planned: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    source_id = str(uuid_utils.uuid7())
    sealed, key_id = None, None
    if planned["secrets"]:
        try:
            sealed, key_id = box.seal(
                json.dumps(planned["secrets"]).encode(), _aad(org_id, source_id)
            )
        except SecretError as exc:
            raise SourceError("secrets", str(exc)) from None
    return {
        **planned,
        "org_id": org_id,
        "source_id": source_id,
        "mapping": json.dumps(planned["mapping"]),
        "options": json.dumps(planned["options"]),
        "secrets": sealed,
        "key_id": key_id,
    }


def create(
    conn: psycopg.Connection, box: SecretBox, org_id: str, planned: dict[str, Any]
) -> Source:
    params = _params(org_id, planned, box)
    conn.execute(sql("source_insert"), params)
    found = get(conn, params["source_id"], org_id)
    assert found is not None
    return found


async def create_async(
    conn: psycopg.AsyncConnection, box: SecretBox, org_id: str, planned: dict[str, Any]
) -> Source:
    params = _params(org_id, planned, box)
    await conn.execute(sql("source_insert"), params)
    found = await get_async(conn, params["source_id"], org_id)
    assert found is not None
    return found


def get(conn: psycopg.Connection, source_id: str, org_id: str | None) -> Source | None:
    row = conn.execute(sql("source_get"), {"source_id": source_id, "org_id": org_id}).fetchone()
    return _row(row) if row else None


async def get_async(
    conn: psycopg.AsyncConnection, source_id: str, org_id: str | None
) -> Source | None:
    cur = await conn.execute(sql("source_get"), {"source_id": source_id, "org_id": org_id})
    row = await cur.fetchone()
    return _row(row) if row else None


def list_sources(conn: psycopg.Connection, org_id: str) -> list[Source]:
    return [_row(r) for r in conn.execute(sql("sources_list"), {"org_id": org_id}).fetchall()]


async def list_async(conn: psycopg.AsyncConnection, org_id: str) -> list[Source]:
    cur = await conn.execute(sql("sources_list"), {"org_id": org_id})
    return [_row(r) for r in await cur.fetchall()]


def delete(conn: psycopg.Connection, source_id: str, org_id: str) -> bool:
    cur = conn.execute(sql("source_delete"), {"org_id": org_id, "source_id": source_id})
    return cur.fetchone() is not None


async def delete_async(conn: psycopg.AsyncConnection, source_id: str, org_id: str) -> bool:
    cur = await conn.execute(sql("source_delete"), {"org_id": org_id, "source_id": source_id})
    return await cur.fetchone() is not None


def secret_names(source: Source, box: SecretBox) -> list[str]:
    """Which secrets a source has (never their values); [] when they cannot be opened."""
    try:
        return sorted(source.secrets(box))
    except SecretError:
        return ["(sealed under another key)"]


def _resealed(
    box: SecretBox, source: Source, new: dict[str, str | None]
) -> tuple[tuple[Any, ...], list[str]]:
    given = {k: v for k, v in new.items() if v}
    unknown = set(given) - set(SECRET_NAMES)
    if unknown:
        raise SourceError("secrets", f"unknown secret(s): {', '.join(sorted(unknown))}")
    try:
        merged = {**source.secrets(box), **given}
        sealed, key_id = box.seal(
            json.dumps(merged).encode(), _aad(source.org_id, source.source_id)
        )
    except SecretError as exc:
        raise SourceError("secrets", str(exc)) from None
    return (sealed, key_id, source.org_id, source.source_id), sorted(merged)


_RESEAL = "UPDATE lead_sources SET secrets = %s, key_id = %s WHERE org_id = %s AND source_id = %s"


def replace_secrets(
    conn: psycopg.Connection, box: SecretBox, source: Source, new: dict[str, str | None]
) -> list[str]:
    """Replace some of a source's secrets (a new page token, a rotated signing secret), sealed
    under the current key; returns the names it now holds."""
    params, names = _resealed(box, source, new)
    conn.execute(_RESEAL, params)
    return names


async def replace_secrets_async(
    conn: psycopg.AsyncConnection, box: SecretBox, source: Source, new: dict[str, str | None]
) -> list[str]:
    params, names = _resealed(box, source, new)
    await conn.execute(_RESEAL, params)
    return names


def rekey(conn: psycopg.Connection, box: SecretBox) -> tuple[int, int]:
    """Re-seal every source's secrets under the current key (`l2i dnc rekey` runs it with the
    DNC credentials'); `(resealed, already current)`."""
    resealed = current = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT org_id, source_id, secrets, key_id FROM lead_sources "
            "WHERE secrets IS NOT NULL FOR UPDATE"
        ).fetchall()
        for org_id, source_id, sealed, key_id in rows:
            if key_id == box.current_id:
                current += 1
                continue
            aad = _aad(str(org_id), str(source_id))
            new, new_id = box.seal(box.open(bytes(sealed), key_id, aad), aad)
            conn.execute(
                "UPDATE lead_sources SET secrets = %s, key_id = %s "
                "WHERE org_id = %s AND source_id = %s",
                (new, new_id, org_id, source_id),
            )
            resealed += 1
    return resealed, current


def check_patch(
    source: Source,
    mapping: dict[str, Any] | None,
    options: dict[str, Any] | None,
    success_status: int | None,
) -> dict[str, Any]:
    """A source's new mapping, options and success status, checked (SourceError names the
    field): what `PATCH /v1/sources/{id}` and `l2i sources update` change."""
    new = {
        "mapping": source.mapping if mapping is None else mapping,
        "options": source.options if options is None else options,
        "success_status": source.success_status if success_status is None else success_status,
    }
    for where in ("mapping", "options"):  # Postgres jsonb cannot hold NUL
        found = nul_errors(new[where], [where])
        if found:
            raise SourceError(found[0].param, NUL_DETAIL)
    try:
        check_mapping(new["mapping"])
        check_options(new["options"])
    except MappingError as exc:
        where = (
            exc.where if exc.where.startswith(("options", "mapping")) else f"mapping.{exc.where}"
        )
        raise SourceError(where, exc.detail) from None
    if new["success_status"] not in (200, 201):
        raise SourceError("success_status", "200 or 201")
    return new


_PATCH = (
    "UPDATE lead_sources SET mapping = %s, options = %s, success_status = %s "
    "WHERE org_id = %s AND source_id = %s"
)


def _patch_params(source: Source, new: dict[str, Any]) -> tuple[Any, ...]:
    mapping, options = json.dumps(new["mapping"]), json.dumps(new["options"])
    return (mapping, options, new["success_status"], source.org_id, source.source_id)


async def patch_async(conn: psycopg.AsyncConnection, source: Source, new: dict[str, Any]) -> None:
    await conn.execute(_PATCH, _patch_params(source, new))


def patch(conn: psycopg.Connection, source: Source, new: dict[str, Any]) -> None:
    conn.execute(_PATCH, _patch_params(source, new))
