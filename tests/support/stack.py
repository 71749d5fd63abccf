"""Helpers for server tests: orgs and keys in a test database, and a running service."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg

from lead2inbound.access.keystore import create_key, create_org

PEPPER = "test-pepper-" + secrets.token_hex(8)


@dataclass
class Org:
    org_id: str
    database_url: str

    def key(
        self,
        scopes: str = "write,read",
        *,
        rate_limit: int = 100_000,
        test: bool = False,
        name: str = "test key",
    ) -> str:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            key, _ = create_key(
                conn,
                org_id=self.org_id,
                name=name,
                scopes=scopes.split(","),
                pepper=PEPPER.encode(),
                rate_limit=rate_limit,
                test=test,
            )
        return key


def make_org(database_url: str, name: str = "acme") -> Org:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return Org(create_org(conn, name), database_url)


def service_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        "L2I_DATABASE_URL": database_url,
        "L2I_REDIS_URL": redis_url,
        "L2I_KEY_PEPPER": PEPPER,
        "L2I_LOG_LEVEL": "warning",
        # Tests (schemathesis, auth matrices) send many failed authentications from 127.0.0.1;
        # the per-address limit (default 30/min) is tested where a test sets it explicitly.
        "L2I_AUTH_FAILURES_PER_MINUTE": "0",
    }
    env.update(extra)
    return env


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


QUICKSTART = {
    "source": "my-webform",
    "first_name": "Jane",
    "phone": "5551234567",
    "state": "TX",
    "consent": {
        "consent_timestamp": "2026-07-05T12:00:00Z",
        "consent_text_version": "webform-v2",
        "source_url": "https://example.com/quote",
    },
}


def lead(phone: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "phone": phone,
        "consent": {"consent_timestamp": "2026-07-05T12:00:00Z"},
    }
    body.update(fields)
    return body


def fetch(database_url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(query.encode(), params).fetchall()
