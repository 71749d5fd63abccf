"""The peer: the lead endpoint a team would write first, for comparison.

FastAPI on uvicorn, asyncpg, redis-py, pydantic, the `phonenumbers` package. Per request: look the
API key up in Postgres and check its HMAC, count the request in Redis (INCR + EXPIRE per minute),
normalize the phone, SELECT for a duplicate in the last 30 days, then INSERT the lead (and its
queue entry) and commit: one transaction per lead. It keeps the service's contract where it is
cheap to (201/200/401/422/429, answer after commit) and nothing of its hot-path design.

Environment: PEER_DATABASE_URL, PEER_REDIS_URL, PEER_PEPPER.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import phonenumbers
import redis.asyncio as aioredis
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

PEPPER = os.environ.get("PEER_PEPPER", "peer-pepper").encode()
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
    state["pool"] = await asyncpg.create_pool(
        os.environ["PEER_DATABASE_URL"], min_size=2, max_size=16
    )
    state["redis"] = aioredis.from_url(os.environ["PEER_REDIS_URL"])
    yield
    await state["pool"].close()
    await state["redis"].aclose()


app = FastAPI(lifespan=lifespan)


class Consent(BaseModel):
    consent_timestamp: str | None = None
    consent_text_version: str | None = None
    source_url: str | None = None


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str
    source: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    state: str | None = None
    consent: Consent | None = None


def digest(key: str) -> bytes:
    return hmac.new(PEPPER, key.encode(), hashlib.sha256).digest()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/leads", status_code=201)
async def create_lead(lead: LeadIn, authorization: str = Header(default="")) -> Any:
    key = authorization.removeprefix("Bearer ").strip()
    key_id = key.split("_")[2] if key.count("_") >= 3 else ""
    pool = state["pool"]
    row = await pool.fetchrow(
        "SELECT org_id, digest, scopes, rate_limit, revoked_at FROM api_keys WHERE key_id = $1",
        key_id,
    )
    if (
        row is None
        or row["revoked_at"] is not None
        or not hmac.compare_digest(row["digest"], digest(key))
    ):
        raise HTTPException(401, "unauthorized")
    if "write" not in row["scopes"]:
        raise HTTPException(403, "forbidden")
    bucket = f"peer:rl:{key_id}:{int(time.time() // 60)}"
    pipe = state["redis"].pipeline()
    pipe.incr(bucket)
    pipe.expire(bucket, 120)
    count, _ = await pipe.execute()
    if count > row["rate_limit"]:
        raise HTTPException(429, "rate limited")
    try:
        number = phonenumbers.parse(lead.phone, "US")
    except phonenumbers.NumberParseException as exc:
        raise HTTPException(422, f"invalid phone: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise HTTPException(422, "invalid phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    valid = phonenumbers.is_valid_number(number)
    org_id = row["org_id"]
    eligible = bool(lead.consent and lead.consent.consent_timestamp)
    reasons = [] if eligible else ["missing_consent"]
    status = "new" if eligible else "ineligible"
    async with pool.acquire() as conn, conn.transaction():
        existing = await conn.fetchrow(
            "SELECT lead_id, status FROM leads WHERE org_id = $1 AND phone = $2 "
            "AND created_at > now() - interval '30 days' ORDER BY created_at DESC LIMIT 1",
            org_id,
            e164,
        )
        if existing is not None:
            return JSONResponse(
                {
                    "outcome": "duplicate",
                    "lead_id": str(existing["lead_id"]),
                    "status": existing["status"],
                    "phone": e164,
                },
                status_code=200,
            )
        lead_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO leads (lead_id, org_id, phone, phone_raw, phone_valid, status, eligible,"
            " reasons, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
            lead_id,
            org_id,
            e164,
            lead.phone,
            valid,
            status,
            eligible,
            reasons,
            json.dumps(lead.model_dump(exclude_none=True)),
        )
        if eligible:
            await conn.execute("INSERT INTO dial_queue (lead_id) VALUES ($1)", lead_id)
    return {
        "outcome": "created",
        "lead_id": str(lead_id),
        "status": status,
        "eligible": eligible,
        "reasons": reasons,
        "phone": e164,
        "phone_valid": valid,
    }
