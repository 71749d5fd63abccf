"""The fault suite's long mode: a few hundred leads/s through each fault, then the audit.

    .venv/bin/python bench/chaos.py                       # 300 leads/s, 30 s per fault
    .venv/bin/python bench/chaos.py --rate 200 --seconds 20 --faults postgres_restart,worker_sigkill
    .venv/bin/python bench/chaos.py --json bench/results/chaos.json

Starts its own embedded Postgres and Redis (private, in a temporary directory) and a Granian
service with two workers on free loopback ports; each fault gets a fresh database. Traffic goes to
127.0.0.1 only and every run is bounded by --rate x --seconds requests. Exit status 1 if any
promise was broken (see tests/chaos/harness.py for what is checked).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos.harness import (  # noqa: E402
    audit,
    postgres_restart,
    redis_kill_restart,
    run_fault,
    service_sigterm_restart,
    worker_kill,
)
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.stack import make_org, service_env  # noqa: E402
from tests.support.stores import PostgresHandle, RedisHandle  # noqa: E402

from lead2inbound.ops.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402

FAULTS = {
    "postgres_restart": lambda srv, pg, rd: postgres_restart(pg),
    "redis_kill_restart": lambda srv, pg, rd: redis_kill_restart(rd),
    "worker_sigkill": lambda srv, pg, rd: worker_kill(srv),
    "service_sigterm_restart": lambda srv, pg, rd: service_sigterm_restart(srv),
}
SERVER_ARGS = [
    "--respawn-failed-workers",
    "--respawn-interval",
    "1",
    "--workers-kill-timeout",
    "10",
]


def one_fault(name: str, base: Path, args: argparse.Namespace) -> dict:
    pg_server = EmbeddedPostgres(base / f"{name}-pg", durable=False)
    rd_server = EmbeddedRedis(base / f"{name}-redis", persistent=False)
    pg_server.start()
    rd_server.start()
    srv = None
    try:
        migrate(pg_server.url)
        pg = PostgresHandle(pg_server.url, pg_server.admin_url, embedded=pg_server)
        rd = RedisHandle(rd_server.url, embedded=rd_server)
        env = service_env(pg.url, rd.url, L2I_DB_TIMEOUT_S="1", L2I_FALLBACK_DIVISOR="2")
        srv = ServerProcess(
            env=env,
            workers=args.workers,
            log_path=base / f"{name}-server.log",
            extra_args=SERVER_ARGS,
        ).start()
        org = make_org(pg.url)
        key = org.key(rate_limit=1_000_000)
        fault = FAULTS[name](srv, pg, rd)
        run = run_fault(
            srv.url, key, fault, rate=args.rate, duration_s=args.seconds, fault_at_s=args.fault_at
        )
        report = audit(pg.url, run, org.org_id)
        print(report.line(), flush=True)
        for p in report.problems:
            print(f"    PROBLEM: {p}", flush=True)
        return report.as_dict()
    finally:
        if srv is not None:
            srv.stop()
        rd_server.stop()
        pg_server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="leads per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--fault-at", type=float, default=8.0, help="when the fault strikes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated")
    parser.add_argument("--json", type=Path, help="write the reports here")
    parser.add_argument("--keep", type=Path, help="keep the servers' data and logs in this dir")
    args = parser.parse_args()
    if args.rate * args.seconds > 100_000:
        parser.error("keep a run under 100,000 requests (--rate x --seconds)")
    reports = []
    with tempfile.TemporaryDirectory(prefix="l2i-chaos-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for name in args.faults.split(","):
            reports.append(one_fault(name.strip(), base, args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2))
    return 1 if any(r["problems"] or r["lost"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
