"""Steady lead traffic while a fault is injected, then an audit of what Postgres holds.

Used by `tests/chaos/test_faults.py` (short runs, modest rates) and `bench/chaos.py` (long runs,
a few hundred leads/s). Everything is bounded: the load stops after `duration_s` and sends at
most `rate * duration_s` requests, each with its own timeout, only to 127.0.0.1.

    faults = {"postgres_restart": Fault(...), ...}
    run = run_fault(service_url, key, fault, rate=40, duration_s=12, fault_at_s=3)
    report = audit(database_url, run)      # raises nothing; report.problems lists violations
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

CONSENT = {"consent_timestamp": "2026-07-05T12:00:00Z"}


@dataclass
class Sent:
    """One request and what became of it."""

    phone: str  # E.164
    t_sent: float  # seconds since the run started
    t_done: float = 0.0
    status: int | None = None
    lead_id: str | None = None
    retry_after: str | None = None
    error: str | None = None  # exception class name when there was no answer
    connected: bool = True  # False: the connection was refused (never reached the service)
    problem: bool = True  # for errors: the answer was an application/problem+json


@dataclass
class Fault:
    """`inject()` runs in a thread at `fault_at_s`; it returns once the dependency is back (the
    moment full service is expected to resume within `recovery_budget_s`). `in_flight_errors`:
    whether requests may lose their connection (a killed worker, a restarted service)."""

    name: str
    inject: Callable[[], None]
    in_flight_errors: bool = False


@dataclass
class Run:
    fault: str
    rate: float
    duration_s: float
    fault_at_s: float
    t_back: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    in_flight_errors_allowed: bool = False


def phone_for(n: int, area: int = 512) -> str:
    """The n-th distinct test phone: 10-digit US numbers, E.164."""
    return f"+1{area}{555 + n // 10_000}{n % 10_000:04d}"


def run_fault(
    url: str,
    key: str,
    fault: Fault,
    *,
    rate: float,
    duration_s: float,
    fault_at_s: float,
    **load: Any,
) -> Run:
    """Send `rate` leads/s (open loop) for `duration_s`, injecting `fault` at `fault_at_s`.

    The load runs on an event loop in a thread of its own; the fault is injected from the calling
    thread, which must be the one that started the servers: embedded servers and Granian get a
    parent-death signal bound to the thread that started them, so restarting them from a
    short-lived thread would kill them when that thread ends."""
    run = Run(
        fault.name, rate, duration_s, fault_at_s, in_flight_errors_allowed=fault.in_flight_errors
    )
    started = time.monotonic()
    errors: list[BaseException] = []

    def load_thread() -> None:
        try:
            asyncio.run(_load(url, key, run, started, **load))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=load_thread, name="chaos-load")
    thread.start()
    try:
        time.sleep(max(0.0, started + fault_at_s - time.monotonic()))
        fault.inject()
        run.t_back = time.monotonic() - started
    finally:
        thread.join()
    if errors:
        raise errors[0]
    return run


class _Pool:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams (httpx costs ~10 ms of CPU per
    request, too much to offer a few hundred leads/s from one Python process on a small box)."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, headers: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body). Raises ConnectionRefusedError when the
        connection cannot be opened, another OSError/EOF when it dies mid-request."""
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            async with asyncio.timeout(self.timeout_s):
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ")[1])
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    if k:
                        hdrs[k.strip().lower()] = v.strip()
                data = await reader.readexactly(int(hdrs.get("content-length", "0")))
        except BaseException:
            writer.close()
            raise
        if hdrs.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, hdrs, data

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _load(
    url: str,
    key: str,
    run: Run,
    started: float,
    *,
    duplicate_ratio: float = 0.2,
    first_phone: int = 0,
    request_timeout_s: float = 15.0,
    seed: int = 8,
) -> None:
    rng = random.Random(seed)
    host, _, port = url.removeprefix("http://").partition(":")
    pool = _Pool(host, int(port), request_timeout_s)
    headers = f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
    used: list[str] = []
    next_phone = first_phone
    tasks: list[asyncio.Task[None]] = []

    async def one(s: Sent) -> None:
        body = json.dumps({"phone": s.phone, "source": "chaos", "consent": CONSENT}).encode()
        try:
            status, hdrs, data = await pool.post("/v1/leads", headers, body)
        except ConnectionRefusedError as exc:
            s.error, s.connected = type(exc).__name__, False
        except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            s.error = type(exc).__name__
        else:
            s.status = status
            s.retry_after = hdrs.get("retry-after")
            s.problem = hdrs.get("content-type", "").startswith("application/problem+json")
            if status in (200, 201):
                s.lead_id = json.loads(data)["lead_id"]
        s.t_done = time.monotonic() - started

    for i in range(int(run.rate * run.duration_s)):
        delay = started + i / run.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if used and rng.random() < duplicate_ratio:
            phone = rng.choice(used)
        else:
            phone = phone_for(next_phone)
            next_phone += 1
            used.append(phone)
        s = Sent(phone=phone, t_sent=time.monotonic() - started)
        run.sent.append(s)
        tasks.append(asyncio.create_task(one(s)))
    await asyncio.gather(*tasks)
    pool.close()


@dataclass
class Report:
    fault: str
    sent: int
    by_status: dict[str, int]
    stored: int
    lost: int
    stored_without_2xx: int
    connection_errors: int
    refused_connections: int
    recovery_s: float | None
    offered_rate: float
    problems: list[str]

    def line(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        rec = "n/a" if self.recovery_s is None else f"{self.recovery_s:.2f}s"
        return (
            f"{self.fault:<23} sent {self.sent:>6} at {self.offered_rate:.0f}/s"
            f"  answered {{{statuses}}}  stored {self.stored}"
            f"  lost {self.lost}  stored-without-2xx {self.stored_without_2xx}"
            f"  conn-errors {self.connection_errors} (refused {self.refused_connections})"
            f"  full rate again {rec} after the dependency returned"
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def audit(database_url: str, run: Run, org_id: str, recovery_budget_s: float = 5.0) -> Report:
    """Check every promise against Postgres; violations go to `Report.problems`."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        leads = conn.execute(
            "SELECT lead_id::text, phone, status, eligible, sandbox FROM leads WHERE org_id = %s",
            (org_id,),
        ).fetchall()
        unqueued = conn.execute(
            "SELECT count(*) FROM leads l LEFT JOIN dial_queue q USING (org_id, lead_id) "
            "WHERE l.org_id = %s AND l.status = 'new' AND NOT l.sandbox AND q.lead_id IS NULL",
            (org_id,),
        ).fetchone()[0]
        unclaimed = conn.execute(
            "SELECT count(*) FROM leads l LEFT JOIN phone_claims c ON c.org_id = l.org_id "
            "AND c.sandbox = l.sandbox AND c.phone = l.phone AND c.lead_id = l.lead_id "
            "WHERE l.org_id = %s AND c.lead_id IS NULL",
            (org_id,),
        ).fetchone()[0]
    by_id = {row[0]: row for row in leads}
    per_phone = Counter(row[1] for row in leads)
    problems: list[str] = []
    doubles = [p for p, n in per_phone.items() if n > 1]
    if doubles:
        problems.append(f"{len(doubles)} phones have two leads in their window: {doubles[:5]}")
    if unqueued:
        problems.append(f"{unqueued} eligible live leads are not in the dial queue (half stored)")
    if unclaimed:
        problems.append(f"{unclaimed} leads have no duplicate-window claim (half stored)")

    lost = 0
    by_status: Counter[str] = Counter()
    answered_phones: set[str] = set()
    conn_errors = refused = 0
    lost_conn: list[Sent] = []
    for s in run.sent:
        if s.status is None:
            by_status["no answer"] += 1
            conn_errors += 1
            refused += not s.connected
            if not run.in_flight_errors_allowed and s.connected:
                lost_conn.append(s)
            continue
        by_status[str(s.status)] += 1
        if s.status in (200, 201):
            answered_phones.add(s.phone)
            row = by_id.get(s.lead_id or "")
            if row is None:
                lost += 1
            elif row[1] != s.phone:
                problems.append(f"answer for {s.phone} names lead {s.lead_id} of {row[1]}")
        elif s.status in (429, 503):
            if not s.retry_after:
                problems.append(f"a {s.status} without Retry-After at {s.t_sent:.2f}s")
            if not s.problem:
                problems.append(f"a {s.status} without a problem body at {s.t_sent:.2f}s")
        else:
            problems.append(f"unexpected status {s.status} at {s.t_sent:.2f}s")
    if lost_conn:
        kinds = Counter(s.error for s in lost_conn)
        problems.append(
            f"{len(lost_conn)} requests got no answer ({dict(kinds)}), sent between "
            f"{lost_conn[0].t_sent:.2f}s and {lost_conn[-1].t_sent:.2f}s"
        )
    if lost:
        problems.append(f"{lost} leads answered 201/200 are not in Postgres")
    stored_without_2xx = sum(1 for p in per_phone if p not in answered_phones)

    # full rate again: from some moment after the dependency returned, every request succeeds
    failed_after = [
        s.t_sent for s in run.sent if s.t_sent >= run.fault_at_s and s.status not in (200, 201)
    ]
    recovery_s: float | None = None
    if run.t_back:
        last_failure = max(failed_after, default=run.t_back)
        recovery_s = max(0.0, last_failure - run.t_back)
        if recovery_s > recovery_budget_s:
            late = Counter(
                str(s.status or s.error)
                for s in run.sent
                if s.t_sent > run.t_back + recovery_budget_s and s.status not in (200, 201)
            )
            problems.append(
                f"full rate returned {recovery_s:.2f}s after the dependency "
                f"(> {recovery_budget_s}s); failures later than that: {dict(late)}"
            )
        tail = [s for s in run.sent if s.t_sent > run.t_back + recovery_budget_s]
        if not tail:
            problems.append(
                "the run ended too soon after the dependency returned to judge recovery"
            )
    return Report(
        fault=run.fault,
        sent=len(run.sent),
        by_status=dict(by_status),
        stored=len(leads),
        lost=lost,
        stored_without_2xx=stored_without_2xx,
        connection_errors=conn_errors,
        refused_connections=refused,
        recovery_s=recovery_s,
        offered_rate=round(len(run.sent) / max(run.sent[-1].t_sent, 1e-9), 1) if run.sent else 0,
        problems=problems,
    )


# --- the faults ---------------------------------------------------------------------------------


def postgres_restart(pg: Any) -> Fault:
    return Fault("postgres_restart", lambda: pg.restart("fast"))


def redis_kill_restart(redis: Any, down_s: float = 2.0) -> Fault:
    def inject() -> None:
        redis.kill()
        time.sleep(down_s)
        redis.start()

    return Fault("redis_kill_restart", inject)


def worker_kill(server: Any, timeout_s: float = 20.0) -> Fault:
    """SIGKILL one Granian worker; back when Granian has respawned it."""

    def inject() -> None:
        before = set(server.worker_pids())
        victim = server.kill_worker(0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = set(server.worker_pids())
            if victim not in now and len(now) >= len(before):
                return
            time.sleep(0.05)
        raise TimeoutError("Granian did not respawn the killed worker")

    return Fault("worker_sigkill", inject, in_flight_errors=True)


def service_sigterm_restart(server: Any) -> Fault:
    """SIGTERM the whole service (it drains), then start it again on the same port."""

    def inject() -> None:
        server.stop()
        server.start()

    return Fault("service_sigterm_restart", inject, in_flight_errors=True)
