"""Key management by API (`admin` scope): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import keystore
from ..auth import REVOCATION_CHANNEL
from ..http import send_json
from ..problems import not_found
from ..schemas import ApiKeyIn
from .common import bad, decode_body

if TYPE_CHECKING:
    from ..app import Services


class ApiKeysResource:
    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        body = await decode_body(req, ApiKeyIn, 16_384)
        try:
            scopes = keystore.parse_scopes(body.scopes)
        except keystore.KeyStoreError as exc:
            raise bad("scopes", str(exc)) from None
        if not 1 <= len(body.name) <= 200 or "\x00" in body.name:
            raise bad("name", "name must be 1 to 200 characters")
        if isinstance(body.rate_limit, bool) or not 1 <= body.rate_limit <= 1_000_000:
            raise bad("rate_limit", "rate_limit must be from 1 to 1000000 per minute")
        async with self.s.pool.connection() as conn:
            full, info = await keystore.create_key_async(
                conn,
                org_id=principal.org_id,
                name=body.name,
                scopes=scopes,
                pepper=self.s.config.key_pepper.encode(),
                rate_limit=body.rate_limit,
                test=body.test,
            )
        send_json(resp, 201, {"key": full, **info.as_dict()})
        resp.set_header("Location", f"/v1/api-keys/{info.key_id}")

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            keys = await keystore.list_keys_async(conn, principal.org_id)
        send_json(resp, 200, {"data": [k.as_dict() for k in keys]})


class ApiKeyResource:
    def __init__(self, services: Services):
        self.s = services

    async def on_delete(self, req: Any, resp: Any, key_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        if len(key_id) != 12 or not key_id.isalnum() or not key_id.isascii():
            raise not_found("API key")
        async with self.s.pool.connection() as conn:
            row = await keystore.revoke_key_async(conn, key_id, principal.org_id)
        if row is None:
            raise not_found("API key")
        # Committed (autocommit statement): now tell every worker on every node.
        self.s.keys.forget(key_id)
        await self.s.publish(REVOCATION_CHANNEL, key_id)
        send_json(resp, 200, {"key_id": key_id, "revoked_at": row[2].isoformat()})
