"""`Idempotency-Key` on every POST: claim, replay, and the answer stored with the write.

How a POST endpoint uses it (docs/idempotency.md):

    key = idempotency_key(req)                       # None when the header is absent; 400 if bad
    ...parse and validate the body (failures here are not stored: a retry gets them again)...
    claim = await s.idempotency.begin(principal.org_id, scope_of(principal), ROUTE, key,
                                      fingerprint(parsed))
    if isinstance(claim, Stored):                    # a retry of a finished request
        return claim.send(resp)                      # same status, body, Idempotent-Replayed
    try:
        ...do the work; in the SAME transaction as the business write call
           `await store_answers(conn, [claim.answered(status, body, headers)])`...
    except BaseException:
        await s.idempotency.release(claim)           # nothing committed: retry at once
        raise

Leads go through the batched writer, which does the `store_answers` call itself for every
`PreparedLead`/unit that carries a claim (see `store/writer.py`).

A claim is a row with no answer and a lease (`LEASE_S`): while it runs, a retry is a 409; a
different body under the same key is a 422 (`idempotency_key_reused`); a finished one is replayed
for 24 hours (records are purged after that).

Records are scoped (`scope_of`): an org's live secret keys, its test secret keys, and each
publishable key have separate namespaces, so a public form key cannot claim the key a CRM's secret
key will send, and a sandbox record is never replayed to a live request (docs/idempotency.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from lead2inbound.contract.problems import ProblemError
from lead2inbound.store.queries import sql

log = logging.getLogger("lead2inbound.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
LEASE_S = 60.0
RETENTION_H = 24
PURGE_EVERY_S = 600.0
PURGE_SLICE = 5000
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_headers_json = msgspec.json.Encoder().encode


def idempotency_key(req: Any) -> str | None:
    """The header's value (a bare token or a quoted sf-string), or None. 400 when malformed."""
    raw = req.get_header(HEADER)
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not value or len(value) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        raise ProblemError(
            "bad_request",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "(a UUID is a good choice).",
        )
    return value


def scope_of(principal: Any) -> str:
    """The namespace of a caller's records inside its org (docs/idempotency.md).

    Secret keys of one mode share it (`live:secret`, `test:secret`), so a CRM may rotate its key
    and still retry; a publishable key is anyone's, so each has its own (`pk:<key id>`), and no
    stranger holding a form key can touch the records of the org's servers. Live and test never
    share one."""
    if principal.publishable:
        return f"pk:{principal.key_id}"
    return f"{'test' if principal.sandbox else 'live'}:secret"


def fingerprint(route: str, parsed: Any) -> bytes:
    """SHA-256 of the canonical JSON (sorted keys) of the parsed request, with its route."""
    digest = hashlib.sha256(route.encode())
    digest.update(b"\n")
    digest.update(_encode_sorted(parsed))
    return digest.digest()


@dataclass(slots=True)
class Answer:
    """A complete answer, as stored and as replayed."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def send(self, resp: Any, *, replayed: bool = False) -> None:
        resp.status = self.status
        resp.content_type = self.content_type
        resp.data = self.body
        for name, value in self.headers:
            resp.set_header(name, value)
        if replayed:
            resp.set_header(REPLAYED, "true")


@dataclass(slots=True)
class Claim:
    """This request holds the key; the answer is stored with the write (`answered`)."""

    org_id: str
    scope: str
    route: str
    key: str
    fingerprint: bytes | None
    token: str
    answer: Answer | None = None

    def answered(self, answer: Answer) -> Claim:
        self.answer = answer
        return self

    def row(self) -> tuple[Any, ...]:
        assert self.answer is not None
        a = self.answer
        return (
            self.org_id,
            self.scope,
            self.route,
            self.key,
            self.fingerprint,
            self.token,
            a.status,
            a.content_type,
            _headers_json(a.headers).decode(),
            a.body,
        )


@dataclass(slots=True)
class Stored:
    """A finished request's answer, to replay."""

    answer: Answer
    fingerprint: bytes | None

    def send(self, resp: Any) -> None:
        self.answer.send(resp, replayed=True)


async def store_answers(conn: Any, claims: list[Claim]) -> None:
    """Write the answers of `claims` on `conn`, inside the caller's transaction."""
    rows = [c.row() for c in claims if c.answer is not None]
    if not rows:
        return
    cols = [list(col) for col in zip(*rows, strict=True)]
    await conn.execute(sql("idempotency_store"), cols)


class Idempotency:
    """Claims and look-ups against Postgres; one per worker (`Services.idempotency`)."""

    def __init__(self, pool: AsyncConnectionPool, *, lease_s: float = LEASE_S):
        self._pool = pool
        self._lease_s = lease_s
        self._purger: asyncio.Task[None] | None = None

    async def begin(
        self, org_id: str, scope: str, route: str, key: str, fp: bytes | None
    ) -> Claim | Stored:
        """Claim `key`, or return the stored answer of a finished request with the same body.

        409 while another request holds it; 422 when it was used with a different body. `fp`
        None (a streamed import, fingerprinted at the end) skips the body comparison here.
        """
        token = str(uuid.uuid4())
        params = {
            "org_id": org_id,
            "scope": scope,
            "route": route,
            "key": key,
            "fingerprint": fp,
            "token": token,
            "lease_s": self._lease_s,
        }
        async with self._pool.connection() as conn:
            for _ in range(3):
                cur = await conn.execute(sql("idempotency_claim"), params)
                if await cur.fetchone() is not None:
                    return Claim(org_id, scope, route, key, fp, token)
                cur = await conn.execute(sql("idempotency_get"), params)
                row = await cur.fetchone()
                if row is not None:
                    break  # else: purged between the statements; claim again
            else:  # pragma: no cover - a purge racing three times
                raise ProblemError("idempotency_in_flight", "Retry in a moment.")
        stored_fp, status, content_type, headers, body, _ = row
        if fp is not None and stored_fp is not None and bytes(stored_fp) != fp:
            raise reused(key)
        if status is None:
            raise ProblemError(
                "idempotency_in_flight",
                f"A request with {HEADER} {key!r} is still being processed; retry after it "
                "has been answered.",
                headers=[("Retry-After", "1")],
            )
        answer = Answer(
            int(status),
            bytes(body),
            content_type,
            [(str(n), str(v)) for n, v in (headers or [])],
        )
        return Stored(answer, None if stored_fp is None else bytes(stored_fp))

    async def release(self, claim: Claim) -> None:
        """Drop an unanswered claim (the request failed before committing anything)."""
        params = {
            "org_id": claim.org_id,
            "scope": claim.scope,
            "route": claim.route,
            "key": claim.key,
            "token": claim.token,
        }
        try:
            async with self._pool.connection() as conn:
                await conn.execute(sql("idempotency_release"), params)
        except Exception as exc:  # the lease runs out by itself
            log.warning("could not release idempotency claim: %s", exc)

    async def store(self, claim: Claim, answer: Answer) -> None:
        """Store an answer for a request whose work wrote nothing else (its own transaction)."""
        claim.answered(answer)
        async with self._pool.connection() as conn, conn.transaction():
            await store_answers(conn, [claim])

    # --- purge --------------------------------------------------------------------------------

    def start(self) -> None:
        self._purger = asyncio.create_task(self._purge_forever(), name="l2i-idempotency-purge")

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None

    async def purge(self) -> int:
        """Delete records older than 24 h, one bounded slice per statement. Returns the count."""
        total = 0
        async with self._pool.connection() as conn:
            while True:
                cur = await conn.execute(sql("idempotency_purge"), {"limit": PURGE_SLICE})
                await conn.commit()
                total += cur.rowcount
                if cur.rowcount < PURGE_SLICE:
                    return total

    async def _purge_forever(self) -> None:
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            try:
                await self.purge()
            except Exception as exc:  # the next round tries again
                log.warning("idempotency purge failed: %s", exc)


def reused(key: str) -> ProblemError:
    return ProblemError(
        "idempotency_key_reused",
        f"{HEADER} {key!r} was already used with a different request body; use a new key for "
        "a new request.",
    )
