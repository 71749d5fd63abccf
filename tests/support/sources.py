"""Helpers for the lead-source tests: fixtures on disk, sources made by API, stored leads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack import auth, fetch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
SECRET_KEY = "test-secret-key-" + "s" * 40

LEAD_COLUMNS = (
    "lead_id, source, phone, phone_raw, first_name, last_name, email, state, postal_code, city, "
    "address, external_id, consent, attribution, custom_fields, status, reasons, api_key_id, "
    "sandbox"
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def create_source(url: str, admin_key: str, **body: Any) -> dict[str, Any]:
    resp = httpx.post(f"{url}/v1/sources", json=body, headers=auth(admin_key), timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def stored_leads(database_url: str, org_id: str) -> list[dict[str, Any]]:
    rows = fetch(
        database_url,
        f"SELECT {LEAD_COLUMNS} FROM leads WHERE org_id = %s ORDER BY created_at",
        org_id,
    )
    names = [c.strip() for c in LEAD_COLUMNS.split(",")]
    return [dict(zip(names, row, strict=True)) for row in rows]


def the_lead(database_url: str, org_id: str) -> dict[str, Any]:
    leads = stored_leads(database_url, org_id)
    assert len(leads) == 1, leads
    return leads[0]


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
