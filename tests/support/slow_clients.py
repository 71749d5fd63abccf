"""Slow clients against a server on 127.0.0.1: many connections that send a header section or a
body slowly (or nothing), while a well-behaved client probes GET /healthz on new connections.

    report = asyncio.run(attack(port, 5000, key=key, duration_s=25))
    report.probe_latencies        # seconds per /healthz, None for one that failed or timed out
    report.closed_by_server       # slow connections the server closed (EOF / reset / an answer)

A reproduction of issue 21 item 5 (Granian's default cap of 512 connections per worker let about
1,100 of these lock every new client out).
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field

KINDS = ("idle", "slow_header", "slow_body")
TRICKLE = {"idle": b"", "slow_header": b"X", "slow_body": b" "}  # a byte per trickle_every_s


def raise_own_nofile(needed: int) -> int:
    """Raise this process's soft open-file limit to its hard limit; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Report:
    opened: int = 0
    open_failed: int = 0
    probe_latencies: list[float | None] = field(default_factory=list)
    closed_by_server: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    still_open: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    answers: dict[str, int] = field(default_factory=dict)  # first status line seen, counted
    close_after_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))


def _slow_body_head(key: str) -> bytes:
    return (
        "POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n"
    ).encode() + b'{"source": '


async def _slow_client(
    port: int, kind: str, key: str, trickle_every_s: float, stop_at: float, report: Report
) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        report.open_failed += 1
        return
    report.opened += 1
    started = time.monotonic()
    first = {
        "idle": b"",
        "slow_header": b"POST /v1/leads HTTP/1.1\r\nHost: x\r\n",
        "slow_body": _slow_body_head(key),
    }[kind]
    try:
        if first:
            writer.write(first)
        while time.monotonic() < stop_at:
            try:  # anything from the server (an answer, EOF) ends the client
                data = await asyncio.wait_for(reader.read(4096), trickle_every_s)
            except TimeoutError:
                writer.write(TRICKLE[kind])
                await writer.drain()
                continue
            if data.startswith(b"HTTP/"):
                status = data.split(b" ", 2)[1].decode()
                report.answers[f"{kind} {status}"] = report.answers.get(f"{kind} {status}", 0) + 1
            report.closed_by_server[kind] += 1
            report.close_after_s[kind] = max(report.close_after_s[kind], time.monotonic() - started)
            return
        report.still_open[kind] += 1
    except OSError:  # reset by the server
        report.closed_by_server[kind] += 1
        report.close_after_s[kind] = max(report.close_after_s[kind], time.monotonic() - started)
    finally:
        writer.close()


async def _probe(port: int, timeout_s: float) -> float | None:
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
    except (TimeoutError, OSError):
        return None
    return time.monotonic() - t0 if answer.startswith(b"HTTP/1.1 200") else None


async def attack(
    port: int,
    connections: int,
    *,
    key: str,
    duration_s: float,
    trickle_every_s: float = 1.0,
    probe_every_s: float = 0.5,
    probe_timeout_s: float = 5.0,
) -> Report:
    """Open `connections` slow clients (a third of each kind, opened in batches of 500) and
    probe /healthz every `probe_every_s` until `duration_s` has passed."""
    report = Report()
    stop_at = time.monotonic() + duration_s
    tasks = []
    for i in range(connections):
        kind = KINDS[i % len(KINDS)]
        tasks.append(
            asyncio.create_task(_slow_client(port, kind, key, trickle_every_s, stop_at, report))
        )
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    while time.monotonic() < stop_at:
        report.probe_latencies.append(await _probe(port, probe_timeout_s))
        await asyncio.sleep(probe_every_s)
    await asyncio.gather(*tasks)
    return report
