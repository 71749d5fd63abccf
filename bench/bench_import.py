"""Throughput of the bulk ways in: CSV import (rows/s) and batch posts (leads/s).

Starts its own embedded Postgres (not durable) and Redis and one Granian server, makes an org and
a key, then:

- streams a generated CSV of `--rows` rows (never held in memory: rows are generated as the
  request body is sent) to POST /v1/leads/import, and reports rows/s;
- posts `--batches` batches of 1,000 leads to POST /v1/leads/batch from `--concurrency`
  clients, and reports leads/s.

    .venv/bin/python bench/bench_import.py --rows 1000000 --batches 50

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import seeded_stack  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

TS = "2026-07-05T12:00:00Z"


def csv_rows(n: int, offset: int) -> Iterator[bytes]:
    yield b"phone,first_name,state,consent_timestamp,utm_source,plan\n"
    buf = []
    for i in range(n):
        buf.append(f"+1512{offset + i:07d},Jane {i},TX,{TS},bench,gold\n")
        if len(buf) == 2000:
            yield "".join(buf).encode()
            buf = []
    if buf:
        yield "".join(buf).encode()


def post(host: str, port: int, path: str, body: object, headers: dict[str, str]) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=3600)
    if isinstance(body, bytes):
        conn.request("POST", path, body=body, headers=headers)
    else:
        conn.request("POST", path, body=body, headers=headers, encode_chunked=True)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {data}")
    return data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    with seeded_stack(["write"]) as seeded:
        key = seeded.key
        env = seeded.env(L2I_CSV_MAX_ROWS=str(max(args.rows, 1)))
        with ServerProcess(env=env, log_path=seeded.tmp / "server.log") as server:
            host, port = "127.0.0.1", server.port
            auth = {"Authorization": f"Bearer {key}"}

            started = time.perf_counter()
            summary = post(
                host,
                port,
                "/v1/leads/import",
                csv_rows(args.rows, 0),
                {**auth, "Content-Type": "text/csv"},
            )
            took = time.perf_counter() - started
            print(
                f"csv import: {summary['rows']} rows ({summary['created']} created, "
                f"{summary['failed']} failed) in {took:.1f} s = {summary['rows'] / took:,.0f} "
                "rows/s"
            )

            base = 5_000_000
            lock = threading.Lock()
            todo = list(range(args.batches))

            def worker() -> None:
                while True:
                    with lock:
                        if not todo:
                            return
                        b = todo.pop()
                    leads = [
                        {
                            "phone": f"+1512{base + b * 1000 + i:07d}",
                            "state": "TX",
                            "consent": {"consent_timestamp": TS},
                        }
                        for i in range(1000)
                    ]
                    body = json.dumps({"leads": leads}).encode()
                    post(
                        host,
                        port,
                        "/v1/leads/batch",
                        body,
                        {**auth, "Content-Type": "application/json"},
                    )

            started = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.perf_counter() - started
            n = args.batches * 1000
            print(
                f"batch: {n} leads in {args.batches} batches of 1000, {args.concurrency} "
                f"clients, in {took:.1f} s = {n / took:,.0f} leads/s"
            )


if __name__ == "__main__":
    main()
