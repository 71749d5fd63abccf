"""Key management by API (`admin` scope): create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.access import keystore
from lead2inbound.contract.problems import not_found
from lead2inbound.contract.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyRevoked
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp, path
from lead2inbound.web.resources.common import bad, decode_body

if TYPE_CHECKING:
    from lead2inbound.web.services import Services


class ApiKeysResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Create an API key",
            description="A new key for the caller's org. The key is in this answer only; the "
            "service keeps its digest. `kind: publishable` makes an `l2i_pk_` form key for web "
            "pages; `allowed_origins` lets pages on those origins call the lead endpoints "
            "(docs/web-forms.md).",
            scope="admin",
            body=ApiKeyIn,
            responses=(
                Resp(201, "The new key (shown this once).", ApiKeyCreated, headers=("Location",)),
            ),
            errors=(400, 413, 415, 422),
            notes=((422, "Validation failed: `errors` names every bad field."),),
            tags=("api-keys",),
        ),
        "get": Op(
            summary="List API keys",
            description="Every key of the caller's org, revoked ones too, oldest first.",
            scope="admin",
            responses=(Resp(200, "The keys.", ApiKeyList),),
            tags=("api-keys",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        # A valid body can reach ~200 kB: 50 origins of 300 characters, each up to 12 bytes as
        # a JSON escape pair; a smaller cap answered 413 to bodies the schema allows.
        body = await decode_body(req, ApiKeyIn, 262_144)
        try:
            new = keystore.checked_new_key(
                name=body.name,
                kind=body.kind,
                scopes=body.scopes,
                rate_limit=body.rate_limit,
                test=body.test,
                allowed_origins=body.allowed_origins,
                ip_rate_limit=body.ip_rate_limit,
                success_url=body.success_url,
                error_url=body.error_url,
                requeue_duplicates=body.requeue_duplicates,
            )
        except keystore.KeyStoreError as exc:
            raise bad(exc.param or "kind", str(exc)) from None
        async with self.s.pool.connection() as conn:
            full, info = await keystore.create_new_key(
                conn, principal.org_id, self.s.config.key_pepper.encode(), new
            )
        answer = {"key": full, **info.as_dict(), "requeue_duplicates": body.requeue_duplicates}
        send_json(resp, 201, answer)
        resp.set_header("Location", f"/v1/api-keys/{info.key_id}")

    async def on_get(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        async with self.s.pool.connection() as conn:
            keys = await keystore.list_keys_async(conn, principal.org_id)
        send_json(resp, 200, {"data": [k.as_dict() for k in keys]})


class ApiKeyResource:
    openapi: ClassVar[dict[str, Op]] = {
        "delete": Op(
            summary="Revoke an API key",
            description="Committed, then broadcast: every node refuses the key within a second. "
            "Revoking a revoked key answers its revocation time again.",
            scope="admin",
            parameters=(
                path(
                    "key_id",
                    "The key's id (12 letters and digits, as listed).",
                ),
            ),
            responses=(Resp(200, "Revoked.", ApiKeyRevoked),),
            errors=(404,),
            notes=((404, "No such key in the caller's org."),),
            tags=("api-keys",),
        ),
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_delete(self, req: Any, resp: Any, key_id: str) -> None:
        principal = await self.s.authorize(req, "admin")
        if len(key_id) != 12 or not key_id.isalnum() or not key_id.isascii():
            raise not_found("API key")
        row = await self.s.revoke_key(principal.org_id, key_id)
        if row is None:
            raise not_found("API key")
        send_json(resp, 200, {"key_id": key_id, "revoked_at": row[2].isoformat()})
