"""Statements prepared while the tables are young must not go quadratic as the tables grow.

psycopg prepares a statement after its fifth run on a connection, and Postgres may then keep a
generic plan built from the statistics of that moment. Planned over a few dozen leads, the
duplicate holders' look-up became a scan of the org's leads joined to a scan of its claims:
seconds per duplicate at a few thousand leads (found by the chaos suite at 300 leads/s with 20%
duplicates, where the stuck writers looked like a Redis-restart stall). This test makes the
service prepare its statements on a young database, grows the tables behind its back (no ANALYZE,
so no plan is invalidated), then asks for duplicates: each must be answered promptly.
"""

from __future__ import annotations

import uuid

import httpx
import psycopg

from tests.support.stack import auth, lead, make_org, service_env

GROWN = 20_000  # a wrong plan costs ~GROWN^2 tuple visits per duplicate: minutes, not ms


def test_duplicate_lookup_survives_growth_after_prepare(server_factory, database_url, redis_url):
    org = make_org(database_url)
    key = org.key(rate_limit=1_000_000)
    service = server_factory(service_env(database_url, redis_url), workers=1)
    phones = [f"+1512555{n:04d}" for n in range(12)]
    with httpx.Client(base_url=service.url, headers=auth(key), timeout=30) as client:
        for phone in phones:
            assert client.post("/v1/leads", json=lead(phone)).status_code == 201
        for _ in range(3):  # every statement of the duplicate path runs well past 5 times
            for phone in phones:
                assert client.post("/v1/leads", json=lead(phone)).status_code == 200

        with psycopg.connect(database_url, autocommit=True) as conn:
            ids = [uuid.uuid4() for _ in range(GROWN)]
            grown = [f"+1737{n:07d}" for n in range(GROWN)]
            conn.execute(
                "INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw,"
                " phone_valid, source, status, eligible, reasons, checks, consent, attribution,"
                " custom_fields)"
                " SELECT %s, l, false, 'grown', p, p, true, 'grown', 'created', false, '{}',"
                " '{}', '{}', '{}', '{}' FROM unnest(%s::text[], %s::uuid[]) AS t (p, l)",
                (org.org_id, grown, ids),
            )
            conn.execute(
                "INSERT INTO phone_claims (org_id, sandbox, phone, lead_id, claimed_at)"
                " SELECT %s, false, p, l, now() FROM unnest(%s::text[], %s::uuid[]) AS t (p, l)",
                (org.org_id, grown, ids),
            )

        # 10 s is three orders of magnitude above a right plan's answer and far below a wrong one
        for phone in phones[:4] + grown[:4]:
            resp = client.post("/v1/leads", json=lead(phone), timeout=10)
            assert resp.status_code == 200, resp.text
            assert resp.json()["outcome"] == "duplicate"
