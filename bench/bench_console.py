"""Console page times on a big org: 1,000,000 leads and 100,000 suppressions (issue 24).

Makes a fresh database on the Postgres at `--admin-url` (default: the machine's own; it is
dropped afterwards unless `--keep`), migrates it, fills one org with generate_series SQL (leads
spread over 29 days, 80% queued-eligible, 15% held for missing consent, 5% pending a scrub;
50,000 of them in the dial queue; 100,000 suppressed numbers), starts one Granian server, signs
in to the console with an admin key and times `--requests` sequential GETs of each page from an
HTTP client holding the session cookie. Prints p50 / p95 / max per page and a Markdown table.

    .venv/bin/python bench/bench_console.py --requests 200

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from lead2inbound.access.keystore import create_key, create_org  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402

PEPPER = "bench-pepper"

FILL = """
INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw, phone_valid,
                   phone_region, source, first_name, last_name, state, consent, status, eligible,
                   reasons, checks, timezone, timezones, calling_rules, created_at, updated_at)
SELECT %(org)s, gen_random_uuid(), false, %(key)s,
       '+1512' || lpad(i::text, 7, '0'), '512' || lpad(i::text, 7, '0'), true, 'US',
       (ARRAY['web', 'facebook', 'vendor-a', 'vendor-b'])[1 + i %% 4],
       'Name' || i, 'Bench', 'TX',
       CASE WHEN i %% 20 BETWEEN 1 AND 3 THEN NULL
            ELSE jsonb_build_object('consent_timestamp', '2026-07-05T12:00:00Z',
                                    'consent_text', 'I agree to be called.') END,
       CASE WHEN i %% 20 BETWEEN 1 AND 3 THEN 'ineligible'
            WHEN i %% 20 = 4 THEN 'pending_scrub' ELSE 'new' END,
       i %% 20 NOT BETWEEN 1 AND 4,
       CASE WHEN i %% 20 BETWEEN 1 AND 3 THEN ARRAY['missing_consent'] ELSE ARRAY[]::text[] END,
       jsonb_build_object('duplicate', 'none', 'suppression', 'clear', 'dnc', 'not_connected',
                          'consent', CASE WHEN i %% 20 BETWEEN 1 AND 3 THEN 'missing'
                                          ELSE 'present' END),
       'America/Chicago', ARRAY['America/Chicago'], ARRAY['US', 'TX'],
       now() - i * interval '2.5 seconds', now() - i * interval '2.5 seconds'
FROM generate_series(1, %(n)s) AS i
"""
QUEUE = """
INSERT INTO dial_queue (org_id, lead_id, phone, queued_at)
SELECT org_id, lead_id, phone, created_at FROM leads
WHERE org_id = %(org)s AND eligible ORDER BY created_at DESC LIMIT %(n)s
"""
SUPPRESS = """
INSERT INTO suppressions (org_id, phone, reason, created_at)
SELECT %(org)s, '+1737' || lpad(i::text, 7, '0'), 'bench', now() - i * interval '1 minute'
FROM generate_series(1, %(n)s) AS i
"""


def pages(lead_id: str, cursor_url: str) -> list[tuple[str, str]]:
    return [
        ("Overview", "/console/overview"),
        ("Leads, newest 50", "/console/leads"),
        ("Leads, page 2 (cursor)", cursor_url),
        ("Leads, status=ineligible", "/console/leads?status=ineligible"),
        ("Leads, source=vendor-b", "/console/leads?source=vendor-b"),
        ("Leads, phone (any format)", "/console/leads?phone=%28512%29+000-4242"),
        ("Leads, date range", "/console/leads?created_after=2026-01-01&created_before=2099-01-01"),
        ("Lead page", f"/console/leads/{lead_id}"),
        ("Dial queue", "/console/queue"),
        ("Suppressions, newest 50", "/console/suppressions"),
        ("Suppressions, search", "/console/suppressions?q=737-000-1234"),
        ("API keys", "/console/keys"),
        ("Leads rows (live update poll)", "/console/leads/rows?created_after=2099-01-01"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--admin-url",
        default=os.environ.get("L2I_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres"),
    )
    ap.add_argument(
        "--redis-url", default=os.environ.get("L2I_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
    )
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--suppressions", type=int, default=100_000)
    ap.add_argument("--queued", type=int, default=50_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    name = f"l2i_bench_console_{secrets.token_hex(4)}"
    base, _, _ = args.admin_url.rpartition("/")
    url = f"{base}/{name}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate(url)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            org = create_org(conn, "big org")
            key, info = create_key(
                conn, org_id=org, name="bench admin", scopes=["admin", "read", "write"],
                pepper=PEPPER.encode(), rate_limit=1_000_000,
            )  # fmt: skip
            conn.execute(FILL, {"org": org, "key": info.key_id, "n": args.leads})
            conn.execute(QUEUE, {"org": org, "n": args.queued})
            conn.execute(SUPPRESS, {"org": org, "n": args.suppressions})
            conn.execute("VACUUM ANALYZE leads")
            conn.execute("VACUUM ANALYZE dial_queue")
            conn.execute("VACUUM ANALYZE suppressions")
            lead_id = str(conn.execute("SELECT lead_id FROM leads LIMIT 1").fetchone()[0])
        print(f"filled in {time.perf_counter() - started:.0f} s: {args.leads:,} leads, "
              f"{args.suppressions:,} suppressions, {args.queued:,} queued")  # fmt: skip
        env = {"L2I_DATABASE_URL": url, "L2I_REDIS_URL": args.redis_url,
               "L2I_KEY_PEPPER": PEPPER, "L2I_LOG_LEVEL": "warning"}  # fmt: skip
        with (
            tempfile.TemporaryDirectory() as tmp,
            ServerProcess(env=env, log_path=Path(tmp) / "server.log") as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            signed = client.post("/console/sign-in", data={"key": key})
            assert signed.status_code == 303, signed.text
            first = client.get("/console/leads").text
            more = first.split('href="/console/leads?starting_after=')[1].split('"')[0]
            cursor_url = "/console/leads?starting_after=" + more.replace("&amp;", "&")
            rows = []
            for label, path in pages(lead_id, cursor_url):
                for _ in range(5):  # warm the pool and the caches
                    client.get(path)
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    resp = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, (path, resp.status_code)
                times.sort()
                p50 = statistics.median(times)
                p95 = times[int(len(times) * 0.95) - 1]
                rows.append((label, path, p50, p95, times[-1]))
                print(f"{label:36s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms")
        print("\n| page | request | p50 ms | p95 ms | max ms | p95 < 200 ms |")
        print("|---|---|--:|--:|--:|:-:|")
        for label, path, p50, p95, top in rows:
            shown = path if len(path) < 60 else path[:57] + "..."
            print(f"| {label} | `GET {shown}` | {p50:.1f} | {p95:.1f} | {top:.1f} | "
                  f"{'yes' if p95 < 200 else 'NO'} |")  # fmt: skip
    finally:
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    main()
