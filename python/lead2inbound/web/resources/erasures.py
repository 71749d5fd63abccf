"""POST /v1/erasures (`admin` scope): erase a person's data on request (privacy/erasure.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from lead2inbound.contract.schemas import ErasureIn, ErasureResult
from lead2inbound.privacy.erasure import erase, target
from lead2inbound.web.http import send_json
from lead2inbound.web.openapi import Op, Resp
from lead2inbound.web.resources.common import decode_body

if TYPE_CHECKING:
    from lead2inbound.web.services import Services


class ErasuresResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Erase a person's data",
            description="Every lead of the org with this number (or with the numbers of the "
            "leads carrying this email) loses its personal data; the number goes onto the "
            "org's suppression list with reason `erasure`; a record is kept (when, by which "
            "key, how many leads). What stays for the org's legal defence is the "
            "`L2I_ERASURE_KEEP` setting (docs/privacy.md). Idempotent: repeated, it erases "
            "nothing more and answers the first record.",
            scope="admin",
            body=ErasureIn,
            responses=(Resp(200, "The erasure's record.", ErasureResult),),
            errors=(400, 413, 415, 422),
            tags=("privacy",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "admin")
        body = await decode_body(req, ErasureIn, 16_384)
        kind, value = target(body.phone, body.email)
        async with self.s.pool.connection() as conn, conn.transaction():
            record, _ = await erase(
                conn,
                principal.org_id,
                kind,
                value,
                requested_by=principal.key_id,
                keep=self.s.config.erasure_keep,
                now=self.s.clock(),
            )
        if record.phones:
            await self.s.publish_suppressions(principal.org_id, record.phones)
        send_json(resp, 200, record.as_dict())
