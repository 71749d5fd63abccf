"""Helpers for dial-queue tests: store many leads fast through the writer's own SQL."""

from __future__ import annotations

import psycopg

from lead2inbound.intake.pipeline import OrgPolicy, batch_json, prepare
from lead2inbound.intake.validation import lead_from_mapping
from lead2inbound.store.queries import sql


def prepared(org_id: str, phone: str, **fields: object):
    body: dict[str, object] = {
        "phone": phone,
        "consent": {"consent_timestamp": "2026-01-05T12:00:00Z"},
    }
    body.update(fields)
    return prepare(
        lead_from_mapping(body, strict=True),
        policy=OrgPolicy(org_id),
        key_id="bulkbulkbulk",
        sandbox=False,
    )


def bulk_insert(database_url: str, org_id: str, phones: list[str], batch: int = 500, **fields):
    """Write leads in batches with insert_leads.sql (one transaction and one NOTIFY per batch),
    in order, so queued_at follows the list. Returns the lead ids in order."""
    ids: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for i in range(0, len(phones), batch):
            leads = [prepared(org_id, p, **fields) for p in phones[i : i + batch]]
            with conn.transaction():
                conn.execute(sql("insert_leads"), (batch_json(leads), True))
            ids.extend(lead.lead_id for lead in leads)
    return ids


def phones(n: int, start: int = 0, npa: str = "512") -> list[str]:
    """n distinct possible US numbers (555-01xx style exchanges are avoided: plain 2xx)."""
    return [f"+1{npa}{200 + (i // 10000):03d}{i % 10000:04d}" for i in range(start, start + n)]
