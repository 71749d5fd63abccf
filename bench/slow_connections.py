"""Slow clients against `l2i serve` (issue 21, item 5): how long a new client's GET /healthz
takes while N connections sit idle, send their header section slowly, or trickle a body.

Starts its own embedded Postgres (not durable) and Redis, an org and a key, then `l2i serve`
(127.0.0.1 only) with `--workers`, and runs `tests/support/slow_clients.py`'s attack for
`--seconds`. `--granian-defaults` serves the same app the way `l2i serve` did before issue 21
(Granian's own cap: backlog / workers = 512 per worker with two workers; a 30 s header timeout;
no read timeout between the pieces of a body), to measure the "before".

    .venv/bin/python bench/slow_connections.py --connections 5000 --workers 2
    .venv/bin/python bench/slow_connections.py --connections 5000 --workers 2 --granian-defaults

Not part of the test suite (tests/test_connections.py runs the same attack, bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.support.slow_clients import attack, raise_own_nofile  # noqa: E402
from tests.support.stack import PEPPER, make_org  # noqa: E402

from lead2inbound.ops.embedded import EmbeddedStack, free_port  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--granian-defaults", action="store_true")
    args = ap.parse_args()
    raise_own_nofile(args.connections + 1000)

    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedStack(Path(tmp) / "stores", durable=False, persistent_redis=False) as stack,
    ):
        migrate(stack.database_url)
        key = make_org(stack.database_url).key(rate_limit=1_000_000)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("L2I_")}
        env.update(
            L2I_DATABASE_URL=stack.database_url,
            L2I_REDIS_URL=stack.redis_url,
            L2I_KEY_PEPPER=PEPPER,
            L2I_LOG_LEVEL="warning",
            L2I_AUTH_FAILURES_PER_MINUTE="0",
            L2I_WORKERS=str(args.workers),
        )
        if args.granian_defaults:
            cmd = [
                sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(args.workers), "--loop", "uvloop",
                "--http", "1", "--no-ws", "--http1-header-read-timeout", "30000",
                "lead2inbound.asgi:app",
            ]  # fmt: skip
            env["L2I_BODY_READ_TIMEOUT_S"] = "30"  # the old app: only a whole-body deadline
        else:
            cmd = [sys.executable, "-m", "lead2inbound.cli", "serve", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            report = asyncio.run(attack(port, args.connections, key=key, duration_s=args.seconds))
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
    served = sorted(t for t in report.probe_latencies if t is not None)
    failed = len(report.probe_latencies) - len(served)
    print(f"slow connections opened: {report.opened} (failed to open: {report.open_failed})")
    print(f"/healthz probes: {len(report.probe_latencies)}, failed or > 5 s: {failed}")
    if served:
        print(
            f"/healthz latency: median {served[len(served) // 2] * 1000:.1f} ms, "
            f"max {served[-1] * 1000:.1f} ms"
        )
    print(f"closed by the server: {report.closed_by_server}")
    print(f"still open after {args.seconds:g} s: {report.still_open}")
    print(f"latest close (s): { {k: round(v, 1) for k, v in report.close_after_s.items()} }")
    print(f"answers: {report.answers}")


if __name__ == "__main__":
    main()
