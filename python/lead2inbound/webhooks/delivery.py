"""The delivery worker: the event log out to webhook endpoints, at least once, signed.

One per worker process (several per node and several nodes are safe). Each round, on the shared
`RetryLoop` (ops/background.py), in three short transactions with the HTTP calls outside them:

1. fan-out (`webhook_fanout.sql`): each enabled endpoint, locked SKIP LOCKED, gets a delivery row
   per new event its filter matches; its cursor moves past every event looked at, below the
   log's horizon, so no event is skipped;
2. claim (`webhook_claim.sql`): due deliveries are leased (SKIP LOCKED, `L2I_WEBHOOK_LEASE_S`)
   into the free ones of `L2I_WEBHOOK_CONCURRENCY` slots; a lead's deliveries to an endpoint go
   one at a time in log order, different leads concurrently;
3. each is sent as its own task (`RetryLoop.spawn`: a slow receiver holds its slot only, not
   the round) through the outbound guard (ops/outbound.py) on kept-alive connections; the
   next round, woken by a send ending, settles every send that ended since in one statement
   (`webhook_settle.sql`, `webhook_health.sql`): a 2xx within `L2I_WEBHOOK_TIMEOUT_S` is
   delivered (whatever its body's length: its first 1 KB is kept with the attempt); anything
   else is tried again after `L2I_WEBHOOK_RETRY_SCHEDULE` (jittered) until the schedule ends
   (failed); 410 Gone disables the endpoint at once, and so does failing for
   `L2I_WEBHOOK_DISABLE_AFTER_S` straight (a `webhook_endpoint.disabled` event says so).

A worker that dies mid-send leaves its lease to expire; the next claim sends the delivery again
(the same `webhook-id`): at least once, never twice otherwise.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from lead2inbound.dnc.crypto import SecretBox, SecretError
from lead2inbound.ops.background import RetryLoop, backoff
from lead2inbound.ops.config import Config
from lead2inbound.ops.outbound import (
    Connections,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    send,
)
from lead2inbound.store import events
from lead2inbound.store.events import Event
from lead2inbound.store.queries import sql
from lead2inbound.webhooks import signing
from lead2inbound.webhooks.endpoints import live_secrets

log = logging.getLogger("lead2inbound.webhooks")

RESPONSE_KEPT = 1024  # bytes of an answer kept with its attempt
_json = msgspec.json.Encoder()


def policy_of(config: Config) -> OutboundPolicy:
    """A receiver's answer is read up to 64 KiB (so its connection can be used again) and only
    its first `RESPONSE_KEPT` bytes are kept; a longer one is cut there, never a failure."""
    return OutboundPolicy(
        allow_http=config.webhooks_allow_http,
        allow_private=config.webhooks_allow_private,
        max_body_bytes=64 * 1024,
        timeout_s=config.webhook_timeout_s,
    )


def body_of(row: dict[str, Any]) -> bytes:
    """The delivery's JSON body: Standard Webhooks' `{type, timestamp, data}`, with the event's
    id, org, lead, request and mode alongside."""
    lead = row["lead_id"]
    return _json.encode(
        {
            "type": row["type"],
            "timestamp": row["created_at"].isoformat(),
            "id": str(row["event_id"]),
            "org": str(row["org_id"]),
            "sandbox": row["sandbox"],
            "lead_id": None if lead is None else str(lead),
            "request_id": row["request_id"],
            "data": row["data"],
        }
    )


@dataclass(slots=True)
class Result:
    endpoint_id: str
    event_id: str
    outcome: str  # delivered | retry | failed
    status: int | None
    ms: int
    response: str | None
    error: str | None
    retry_in: float
    gone: bool = False


class Deliverer(RetryLoop):
    TASK_NAME = "l2i-webhooks"

    def __init__(self, pool: AsyncConnectionPool, box: SecretBox, config: Config):
        super().__init__()
        self._pool = pool
        self._box = box
        self._config = config
        self._policy = policy_of(config)
        self._schedule = config.retry_schedule()
        self.batch = config.webhook_concurrency
        self.interval_s = 1.0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.connections = Connections()  # keep-alive to the receivers, through the guard
        self._results: list[Result] = []  # sends done, not settled yet
        # Orgs with an enabled endpoint, re-read at most every interval: a commit of another
        # org (most of them, at intake rates) wakes nothing. None: not read yet, wake always.
        self._orgs: frozenset[str] | None = None
        self._orgs_read = 0.0

    async def stop(self) -> None:
        await super().stop()  # sends still in flight are cancelled: their leases run out
        try:
            await self._settle_ended()
        except Exception as exc:  # Postgres away: the leases run out, they are sent again
            log.warning("webhook results not settled at stop: %s", exc)
        await self.connections.aclose()

    def on_events(self, orgs: set[str] | None) -> None:
        """The LISTEN connection's news: run a round now if it may concern an endpoint."""
        if orgs is None or self._orgs is None or not orgs.isdisjoint(self._orgs):
            self.poke()

    async def _read_orgs(self) -> None:
        if time.monotonic() - self._orgs_read < self.interval_s and self._orgs is not None:
            return
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql("webhook_orgs"))
            self._orgs = frozenset(str(r[0]) for r in await cur.fetchall())
        self._orgs_read = time.monotonic()

    def endpoints_changed(self) -> None:
        """An endpoint was made or enabled here: read the orgs again on the next round."""
        self._orgs = None
        self.poke()

    async def round(self) -> int:
        """Settle the sends that ended since the last round (one statement for all of them),
        then, for orgs with an endpoint, fan out and start a send for each delivery claimed
        into the free slots."""
        await self._settle_ended()
        await self._read_orgs()
        free = self.free()
        if not self._orgs or free <= 0:
            return 0
        await self.fan_out()
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                sql("webhook_claim"),
                {"limit": free, "owner": self.owner, "lease": self._config.webhook_lease_s},
            )
            names = [c.name for c in cur.description or ()]
            rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
        for row in rows:
            self.spawn(self._deliver(row))
        return len(rows)

    async def _deliver(self, row: dict[str, Any]) -> None:
        self._results.append(await self._send(row))

    async def _settle_ended(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            await self._settle(results)
        except BaseException:
            self._results[:0] = results  # the next round tries again (the leases are still ours)
            raise

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for the sends in flight and settle them (tests, benchmarks)."""
        await super().drain(timeout_s)
        await self._settle_ended()

    async def fan_out(self, limit: int = 1000) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(sql("webhook_fanout"), {"limit": limit})
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _send(self, row: dict[str, Any]) -> Result:
        endpoint_id, event_id = str(row["endpoint_id"]), str(row["event_id"])
        attempt = row["attempts"]
        body = body_of(row)
        started = time.monotonic()
        status: int | None = None
        response = error = None
        try:
            keys = live_secrets(self._box, str(row["org_id"]), endpoint_id, row["secrets"],
                                row["key_id"])  # fmt: skip
            headers = signing.headers(keys, event_id, int(time.time()), body)
            answer = await send("POST", row["url"], policy=self._policy, headers=headers,
                                content=body, connections=self.connections,
                                keep_bytes=RESPONSE_KEPT)  # fmt: skip
            status = answer.status
            response = answer.body.decode("utf-8", "replace")
        except OutboundRefused as exc:
            error = f"refused: {exc.reason}"
        except (OutboundError, SecretError) as exc:
            error = str(exc)[:500] or type(exc).__name__
        except Exception as exc:  # never lose the lease's settlement to a bug
            log.exception("webhook send failed")
            error = f"internal: {type(exc).__name__}"
        ms = int((time.monotonic() - started) * 1000)
        if status is not None and 200 <= status < 300:
            return Result(endpoint_id, event_id, "delivered", status, ms, response, None, 0.0)
        if status == 410:
            return Result(endpoint_id, event_id, "failed", status, ms, response, error, 0.0, True)
        if attempt >= len(self._schedule):
            return Result(endpoint_id, event_id, "failed", status, ms, response, error, 0.0)
        delay = backoff(attempt, schedule=self._schedule)
        return Result(endpoint_id, event_id, "retry", status, ms, response, error, delay)

    async def _settle(self, results: list[Result]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                sql("webhook_settle"),
                {
                    "ep": [r.endpoint_id for r in results],
                    "ev": [r.event_id for r in results],
                    "outcome": [r.outcome for r in results],
                    "status": [r.status for r in results],
                    "ms": [r.ms for r in results],
                    "response": [r.response for r in results],
                    "error": [r.error for r in results],
                    "retry_in": [r.retry_in for r in results],
                    "owner": self.owner,
                },
            )
            cur = await conn.execute(
                sql("webhook_health"),
                {
                    "ep": [r.endpoint_id for r in results],
                    "ok": [r.outcome == "delivered" for r in results],
                    "gone": [r.gone for r in results],
                    "limit": self._config.webhook_disable_after_s,
                },
            )
            disabled = [
                Event(
                    str(org),
                    "webhook_endpoint.disabled",
                    {"endpoint_id": str(ep), "url": url, "reason": reason},
                    sandbox=sandbox,
                )
                for org, ep, sandbox, url, enabled, reason, was in await cur.fetchall()
                if not enabled and not was
            ]
            await events.record_many(conn, disabled)
        for event in disabled:
            log.warning("webhook endpoint %s disabled (%s)", event.data["endpoint_id"],
                        event.data["reason"])  # fmt: skip
