"""The benchmark suite: the service against a ceiling and a peer, on one machine, in one run.

    make bench                        # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --smoke        # seconds: checks that nothing is lost
    .venv/bin/python bench/run.py --big          # + 10 M stored leads and the 1 M-lead RSS run

It starts everything itself: an embedded Postgres with durable settings (bench/postgres.conf:
fsync, synchronous_commit and full_page_writes on), an embedded Redis, then Granian serving the
service with its production settings (`--interface asgi --workers 2 --loop uvloop --http 1
--no-ws`, one worker per core), the ceiling (bench/ceiling_app.py, same Granian settings) and
the peer (bench/peer/, FastAPI on uvicorn, same worker count). Phases:

1. saturation, 64 connections, wrk with unique phones: ceiling, service, peer; with the ceiling
   up, locust and oha at the scenario's rate against it (the generators' own latency floor);
2. latency at a fixed arrival rate of half the service's saturation rate (oha, open loop;
   locust when oha is missing), and the scenario's rate from oha too;
3. the realistic scenario at 500 leads/s (locust: 5% duplicates, 5% without consent, 1% invalid,
   read-backs) with a dial-queue claimer measuring POST-to-claimable;
4. resident memory of the service's workers (psutil);
5. (--big) throughput with 10 M leads already stored vs the empty database; RSS after 1 M leads.

After every phase that posts leads, the number of 201 answers must equal the number of new rows
in `leads` (each phase posts as its own org): a run that loses a lead fails loudly (exit 1).
Results: bench/out/results.json (+ raw files), bench/out/*.png, and a markdown table printed and
written to bench/out/results.md; `--update-results` also records the run's figures in
bench/results-latest.json and regenerates the summary at the top of bench/RESULTS.md from it
(`--summary` regenerates it alone), and after a run of every phase replaces the suite's detailed
section of bench/RESULTS.md and copies the plots to bench/plots/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import ServerProcess  # noqa: E402

from lead2inbound.access.keystore import create_key, create_org  # noqa: E402
from lead2inbound.ops.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from lead2inbound.store.migrate import migrate  # noqa: E402

PEPPER = "bench-pepper-" + secrets.token_hex(8)
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))  # experiments may vary it
LEADS_URL = "/v1/leads"
PERCENTILES = (50, 90, 99, 99.9)
SAMPLE_S = float(os.environ.get("BENCH_SAMPLE_S", "1.0"))


class LostLeads(AssertionError):
    """The number of 201 answers differs from the number of new rows: the run fails."""


# --- stores ----------------------------------------------------------------------------------


def pg_settings() -> dict[str, str]:
    out = {}
    for line in (BENCH / "postgres.conf").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


class Stack:
    def __init__(self, data_dir: Path, stat_statements: bool = False) -> None:
        settings = pg_settings()
        if stat_statements:  # --pg-stats: where Postgres spends its time, per statement
            settings.update(shared_preload_libraries="pg_stat_statements",
                            track_io_timing="on")  # fmt: skip
        self.stat_statements = stat_statements
        for item in filter(None, os.environ.get("BENCH_EXPERIMENT_PG", "").split(";")):
            name, _, value = item.partition("=")  # experiments only, never a default
            settings[name.strip()] = value.strip()
        max_conn = int(settings.pop("max_connections", "200"))
        self.pg = EmbeddedPostgres(
            data_dir / "postgres", durable=True, max_connections=max_conn, settings=settings
        )
        # Rate-limit state is disposable (a lost bucket only resets a minute's count): no AOF.
        self.redis = EmbeddedRedis(data_dir / "redis", persistent=False)

    def start(self) -> None:
        self.pg.start()
        self.redis.start()
        migrate(self.pg.url)
        if self.stat_statements:
            with psycopg.connect(self.pg.url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if os.environ.get("BENCH_EXPERIMENT_SQL"):  # schema experiments, never a default
            with psycopg.connect(self.pg.url, autocommit=True) as conn:
                conn.execute(os.environ["BENCH_EXPERIMENT_SQL"].encode())
        with psycopg.connect(self.pg.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname='peer'").fetchone():
                conn.execute("CREATE DATABASE peer")
        with psycopg.connect(self.peer_url, autocommit=True) as conn:
            conn.execute((BENCH / "peer" / "schema.sql").read_text().encode())

    @property
    def peer_url(self) -> str:
        return self.pg.admin_url.rsplit("/", 1)[0] + "/peer"

    def statements(self, reset: bool = False) -> list[dict]:
        """Top statements by time since the last reset (needs --pg-stats)."""
        if not self.stat_statements:
            return []
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90), calls, rows, "
                "round(total_exec_time::numeric, 1), round(total_plan_time::numeric, 1), plans, "
                "wal_records, wal_fpi, round(wal_bytes / 1048576.0, 1) "
                "FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 8"
            ).fetchall()
            if reset:
                conn.execute("SELECT pg_stat_statements_reset()")
        keys = ("query", "calls", "rows", "exec_ms", "plan_ms", "plans", "wal_records",
                "wal_fpi", "wal_mb")  # fmt: skip
        return [dict(zip(keys, (str(v) if not isinstance(v, int) else v for v in r),
                         strict=True)) for r in rows]  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.redis.stop()
        self.pg.stop()

    def new_org(self, name: str) -> tuple[str, str]:
        """A fresh org and a write+read key with a limit no benchmark reaches: (org, key)."""
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            org = create_org(conn, name)
            key, _ = create_key(
                conn,
                org_id=org,
                name=name,
                scopes=["write", "read", "dial"],
                pepper=PEPPER.encode(),
                rate_limit=1_000_000,
            )
        return org, key

    def new_peer_key(self) -> tuple[str, str]:
        import hashlib
        import hmac
        import uuid

        org = str(uuid.uuid4())
        key_id = secrets.token_hex(6)
        key = f"l2i_live_{key_id}_{secrets.token_hex(16)}"
        digest = hmac.new(b"peer-pepper", key.encode(), hashlib.sha256).digest()
        with psycopg.connect(self.peer_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, org_id, digest, scopes, rate_limit) "
                "VALUES (%s, %s, %s, %s, %s)",
                (key_id, org, digest, ["write"], 1_000_000),
            )
        return org, key

    def redis_stats(self) -> dict[str, Any]:
        """Redis's own view: per-command CPU (commandstats) and the slow log."""
        import redis as redis_lib

        client = redis_lib.Redis.from_url(self.redis.url)
        try:
            stats = client.info("commandstats")
            slow = client.slowlog_get(5)
            client.config_resetstat()
            client.slowlog_reset()
        finally:
            client.close()
        top = {
            k.removeprefix("cmdstat_"): {"calls": v["calls"], "usec_per_call": v["usec_per_call"]}
            for k, v in stats.items()
            if v.get("calls", 0) > 100
        }
        return {"commandstats": top, "slowlog": [
            {"usec": e["duration"], "command": str(e["command"])[:80]} for e in slow]}  # fmt: skip

    def analyze(self, peer: bool = False) -> None:
        """Current planner statistics, as autovacuum keeps them on a live database. On a brand
        new database the first minute runs on empty-table statistics, and Postgres's FK check
        from dial_queue to leads may then pick leads_org_phone (org_id prefix only) instead of
        the primary key: cost per lead grows with the org's leads until autovacuum's first
        ANALYZE (see bench/HISTORY.md). The benchmark measures the steady state."""
        with psycopg.connect(self.peer_url if peer else self.pg.url, autocommit=True) as conn:
            conn.execute("ANALYZE")

    def count_leads(self, org: str, peer: bool = False) -> int:
        url = self.peer_url if peer else self.pg.url
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM leads WHERE org_id = %s", (org,)).fetchone()
        return int(row[0]) if row else 0


# --- servers ---------------------------------------------------------------------------------

GRANIAN_PROD = ["--workers-kill-timeout", "30", "--respawn-failed-workers", "--no-access-log"]


class PeerServer(ServerProcess):
    """uvicorn serving the peer, with the same worker count as Granian."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "bench.peer.app:app",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip


def service_env(stack: Stack, metrics_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "L2I_DATABASE_URL": stack.pg.url,
        "L2I_REDIS_URL": stack.redis.url,
        "L2I_KEY_PEPPER": PEPPER,
        # the default, as in production: one JSON access-log line per request (into the
        # phase's service.log); --service-env L2I_LOG_LEVEL=warning measures without it
        "L2I_LOG_LEVEL": "info",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- load generators -------------------------------------------------------------------------


def wrk(url: str, key: str, phase: str, seconds: float, connections: int = CONNECTIONS,
        drain: bool = False, offset: int = 0) -> dict:  # fmt: skip
    """Closed-loop saturation with wrk (one thread: the generator takes as little CPU as it can
    and still keeps 64 connections busy). `drain`: post for `seconds`, then let every request in
    flight be answered before wrk stops, so every lead sent is counted (for the exact check)."""
    secs = max(1, round(seconds))
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{secs + 2 if drain else secs}s", "--timeout",
           "10s", "-s", str(BENCH / "wrk" / "leads.lua"), url + LEADS_URL, "--", key, phase,
           str(secs if drain else 0), str(offset)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    res = json.loads(m.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["created"] = int(res["statuses"].get("201", 0))
    res["created_per_s"] = res["created"] / (res["duration_us"] / 1e6)
    res["latency_ms"] = {k: v / 1000 for k, v in res.pop("latency_us").items()}
    return res


def locust(url: str, key: str, phase: str, rate: float, seconds: float, mix: str, out: Path,
           readback: float = 0.1) -> dict:  # fmt: skip
    # each user posts every users/rate = 20 ms. Locust's own latency grows with its users at a
    # fixed total rate: against the no-op ceiling at 500/s, p50 / p99 1.49 / 3.63 ms with 10
    # users, 3.29 / 8.15 with 50, 8.19 / 23.6 with 100 (oha: 0.37 / 0.82). Fewer users would fall
    # behind the rate whenever an answer takes longer than the pacing.
    users = max(10, min(1000, int(rate / 50)))
    env = dict(os.environ, BENCH_KEY=key, BENCH_RATE=str(rate), BENCH_USERS=str(users),
               BENCH_PHASE=phase, BENCH_MIX=mix, BENCH_READBACK=str(readback),
               BENCH_OUT=str(out))  # fmt: skip
    cmd = [sys.executable, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless",
           "-H", url, "-u", str(users), "-r", str(users), "-t", f"{max(2, round(seconds))}s",
           "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=BENCH)
    if not out.exists():
        raise RuntimeError(f"locust failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    raw = json.loads(out.read_text())
    raw["cpu_warning"] = "CPU usage above 90%" in proc.stderr
    return raw


def generator_floor(ceiling: ServerProcess, rate: float, seconds: float, out: Path,
                    workdir: Path) -> dict:  # fmt: skip
    """Locust (and oha) against the no-op ceiling at the scenario's rate: what the load
    generators themselves add to every latency they report on this machine (the ceiling answers
    in microseconds, so these percentiles are the generators' own floor)."""
    raw = locust(ceiling.url, "none", "2", rate, seconds, "unique", out / "floor_raw.json",
                 readback=0.0)  # fmt: skip
    if raw["unexpected"] or set(raw["status"]) != {"201"}:  # a fast error would lower the floor
        raise RuntimeError(f"floor: the ceiling answered {raw['status']} to locust")
    res: dict[str, Any] = {
        "rate": rate,
        "locust_ms": {p: v * 1000 for p, v in pct(raw["lat"]["new"]).items()},
        "locust_rate": len(raw["lat"]["new"]) / max(raw["stopped"] - raw["started"], 1e-9),
    }
    if find_oha():
        got = oha(ceiling.url, "none", "2", rate, min(seconds, 10.0), workdir)
        if got["errors"] or set(got["status"]) != {"201"}:
            raise RuntimeError(f"floor: the ceiling answered {got['status']} / {got['errors']}")
        res["oha_ms"] = got["latency_ms"]
    lat = res["locust_ms"]
    print(f"  floor: locust p50 {lat['50']:.2f} ms p99 {lat['99']:.2f} ms"
          + (f"; oha p50 {res['oha_ms']['50']:.2f} ms p99 {res['oha_ms']['99']:.2f} ms"
             if "oha_ms" in res else ""), flush=True)  # fmt: skip
    return res


def find_oha() -> str | None:
    return shutil.which("oha") or shutil.which("oha", path=str(Path.home() / ".cargo" / "bin"))


def oha(url: str, key: str, phase: str, rate: float, seconds: float, workdir: Path) -> dict:
    """Open loop: `rate` requests/s whatever the answers do (oha -q, latency measured from each
    request's scheduled time with --latency-correction, so a stall is not hidden by the
    generator waiting for it). Bodies come from a file of unique phones; oha picks a line at
    random per request, so a few percent repeat a phone and are answered 200 (duplicate): they
    create nothing, so the 201-to-rows check stays exact."""
    lines = max(200_000, int(rate * seconds * 40))
    bodies = workdir / f"oha_bodies_{phase}.txt"
    with open(bodies, "w") as f:
        for i in range(lines):
            f.write(f'{{"source":"oha","first_name":"Jane","phone":"{phase}{i:09d}","state":"TX",'
                    f'{CONSENT_JSON}}}\n')  # fmt: skip
    cmd = [find_oha() or "oha", "-z", f"{max(1, round(seconds))}s", "-q", str(rate), "-c",
           str(CONNECTIONS), "--latency-correction", "-w", "--no-tui", "--output-format", "json",
           "-m", "POST", "-H", f"Authorization: Bearer {key}", "-T", "application/json",
           "-Z", str(bodies), url + LEADS_URL]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    bodies.unlink()
    raw = json.loads(proc.stdout)
    codes = {str(k): int(v) for k, v in raw.get("statusCodeDistribution", {}).items()}
    lp = raw.get("latencyPercentiles", {})
    return {
        "raw": raw,
        "status": codes,
        "created": codes.get("201", 0),
        "latency_ms": {
            p: 1000 * float(lp.get(f"p{p}", float("nan")) or float("nan"))
            for p in ("50", "90", "99", "99.9")
        },
        "achieved_rate": float(raw["summary"]["requestsPerSec"]),
        "errors": raw.get("errorDistribution", {}),
    }


CONSENT_JSON = (
    '"consent":{"consent_timestamp":"2026-07-05T12:00:00Z",'
    '"consent_text_version":"webform-v2","source_url":"https://example.com/quote"}'
)


def pct(values: list[float], ps: tuple[float, ...] = PERCENTILES) -> dict[str, float]:
    if not values:
        return {str(p): float("nan") for p in ps}
    s = sorted(values)
    out = {}
    for p in ps:
        i = min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))
        out[str(p)] = s[i]
    return out


# --- sampling --------------------------------------------------------------------------------


class Sampler:
    """Durable leads of one org over time (one count per second) and worker RSS/CPU."""

    def __init__(self, url: str, org: str, pids: list[int], period: float = SAMPLE_S) -> None:
        self.url, self.org, self.pids, self.period = url, org, pids, period
        self.points: list[tuple[float, int]] = []
        self.rss: list[tuple[float, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                n = conn.execute("SELECT count(*) FROM leads WHERE org_id = %s",
                                 (self.org,)).fetchone()[0]  # fmt: skip
                t = time.monotonic() - self._t0
                self.points.append((t, int(n)))
                self.rss.append((t, rss_of(self.pids)))
                self._stop.wait(self.period)

    def series(self) -> list[tuple[float, float]]:
        """(t, leads/s between samples)."""
        out = []
        for (t0, n0), (t1, n1) in zip(self.points, self.points[1:], strict=False):
            if t1 > t0:
                out.append((t1, (n1 - n0) / (t1 - t0)))
        return out


def rss_of(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            out.append(0)
    return out


def writer_stats(server: ServerProcess) -> dict[str, float]:
    """Sums and counts of the writer's histograms from the service's /metrics (all workers)."""
    import urllib.request

    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for name in ("l2i_writer_batch_size_sum", "l2i_writer_batch_size_count",
                 "l2i_writer_commit_seconds_sum", "l2i_writer_commit_seconds_count"):  # fmt: skip
        m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
        if m:
            out[name] = float(m.group(1))
    for part in ("sum", "count"):  # the service's own view of POST /v1/leads (in Falcon)
        pattern = (rf'^l2i_http_request_seconds_{part}{{(?=[^}}]*method="POST")'
                   rf'(?=[^}}]*route="/v1/leads")[^}}]*}} ([0-9.e+-]+)$')  # fmt: skip
        m = re.search(pattern, text, re.M)
        if m:
            out[f"request_{part}"] = float(m.group(1))
    return out


def writer_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    batches = d.get("l2i_writer_batch_size_count", 0.0)
    if not batches:
        return {}
    return {
        "batches": batches,
        "mean_batch": d["l2i_writer_batch_size_sum"] / batches,
        "mean_commit_ms": 1000
        * d["l2i_writer_commit_seconds_sum"]
        / max(1.0, d["l2i_writer_commit_seconds_count"]),
        # inside the app (Falcon middleware to answer): the rest of the client's latency is
        # Granian, the kernel and the load generator
        "mean_in_app_ms": 1000 * d.get("request_sum", 0.0) / max(1.0, d.get("request_count", 0.0)),
    }


def print_cpu(cores: dict[str, float], w: dict[str, float]) -> None:
    """A phase's CPU split, and the writer's figures from /metrics when it has them."""
    print("  CPU (cores busy): " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
          + (f"; writer: mean batch {w['mean_batch']:.1f} leads, mean write+commit "
             f"{w['mean_commit_ms']:.2f} ms, mean time in the app {w['mean_in_app_ms']:.2f} ms"
             if w else ""), flush=True)  # fmt: skip


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    if pid is None:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def pg_roles(pg_pid: int | None) -> dict[int, tuple[str, float]]:
    """Postgres processes by role (client backend, walwriter, autovacuum, ...) and CPU so far."""
    out: dict[int, tuple[str, float]] = {}
    if pg_pid is None:
        return out
    with contextlib.suppress(psutil.Error):
        for p in psutil.Process(pg_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                title = " ".join(p.cmdline())
                role = title.removeprefix("postgres: ").split(" ")[0]
                if role == "postgres":  # "postgres: <user> <db> <client> <state>"
                    role = "backend " + " ".join(title.split(" ")[2:3])
                t = p.cpu_times()
                out[p.pid] = (role, t.user + t.system)
    return out


class DiskProbe:
    """The disk's commit latency during a phase: one 8 kB write + fdatasync every 50 ms in the
    Postgres data directory's file system (what every durable commit waits for). A shared VM's
    disk stalls now and then (seen here: fdatasync p50 0.1 ms, max 254 ms); a stall holds every
    commit, so a latency phase's tail is read next to this."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "disk_probe"
        self.samples: list[float] = []
        self._stop = threading.Event()

    def __enter__(self) -> DiskProbe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while not self._stop.wait(0.05):
                os.pwrite(fd, b"\0" * 8192, 0)
                t = time.perf_counter()
                os.fdatasync(fd)
                self.samples.append((time.perf_counter() - t) * 1000)
        finally:
            os.close(fd)
            self.path.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        s = sorted(self.samples) or [0.0]
        return {"50": s[len(s) // 2], "99": s[int(len(s) * 0.99)], "max": s[-1], "n": len(s)}


class CpuSplit:
    """Where the machine's CPU went during a phase: service, Postgres, Redis, load generator
    (waited-for children of this process), and everything else on the box (other users)."""

    def __init__(self, stack: Stack, server: ServerProcess) -> None:
        self.groups = {"service": server.pid, "postgres": stack.pg.pid, "redis": stack.redis.pid}

    def __enter__(self) -> CpuSplit:
        import resource

        self._t0 = time.monotonic()
        self._box0 = psutil.cpu_times()
        self._c0 = {k: tree_cpu(v) for k, v in self.groups.items()}
        self._pg0 = pg_roles(self.groups["postgres"])
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._gen0 = ch.ru_utime + ch.ru_stime
        return self

    def __exit__(self, *exc: object) -> None:
        import resource

        wall = time.monotonic() - self._t0
        box1 = psutil.cpu_times()
        busy = sum(getattr(box1, f) - getattr(self._box0, f)
                   for f in ("user", "system", "nice", "irq", "softirq", "steal"))  # fmt: skip
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = {k: tree_cpu(v) - self._c0[k] for k, v in self.groups.items()}
        used["load generator"] = ch.ru_utime + ch.ru_stime - self._gen0
        used["rest of the machine"] = max(0.0, busy - sum(used.values()))
        self.cores = {k: v / wall for k, v in used.items()}  # average cores busy
        roles: dict[str, float] = {}
        for pid, (role, cpu) in pg_roles(self.groups["postgres"]).items():
            roles[role] = roles.get(role, 0.0) + cpu - self._pg0.get(pid, (role, 0.0))[1]
        self.postgres_roles = {k: round(v / wall, 3) for k, v in roles.items() if v > 0.005}
        self.seconds = used
        # the stack's own CPU (service + its stores): the noise-robust cost of the work done
        self.stack_cpu_s = used["service"] + used["postgres"] + used["redis"]


def verify(stack: Stack, org: str, created: int, what: str, peer: bool = False) -> dict:
    rows = stack.count_leads(org, peer=peer)
    ok = rows == created
    print(f"  verify {what}: {created} answers 201, {rows} new rows in leads "
          f"{'OK' if ok else 'MISMATCH'}", flush=True)  # fmt: skip
    if not ok:
        raise LostLeads(f"{what}: {created} answers were 201 but {rows} leads were stored")
    return {"answers_201": created, "rows": rows, "ok": ok}


# --- phases ----------------------------------------------------------------------------------


PROFILE_DIR: Path | None = None  # --profile: py-spy samples the service workers' saturation


def profile_workers(pids: list[int], seconds: float, tag: str) -> list[subprocess.Popen]:
    if PROFILE_DIR is None or not shutil.which("py-spy", path=str(Path(sys.executable).parent)):
        return []
    spy = str(Path(sys.executable).parent / "py-spy")
    return [
        subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(round(seconds)),
                          "--rate", "250", "--nonblocking", "--format", "raw",
                          "-o", str(PROFILE_DIR / f"profile_{tag}_w{i}.txt")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i, pid in enumerate(pids)
    ]  # fmt: skip


def saturation(stack: Stack, server: ServerProcess, name: str, phase: str, seconds: float,
               warmup: float, peer: bool = False, ceiling: bool = False) -> dict:  # fmt: skip
    if ceiling:
        wrk(server.url, "none", phase, warmup)
        with CpuSplit(stack, server) as cpu:
            res = wrk(server.url, "none", phase, seconds)
        res["cpu_cores"] = cpu.cores
        res["per_cpu_s"] = res["requests"] / max(cpu.stack_cpu_s, 1e-9)
        print(f"  {name}: {res['rps']:.0f} answers/s (201: {res['created']}), "
              f"{res['per_cpu_s']:.0f} answers per CPU-second", flush=True)  # fmt: skip
        return res
    if peer:
        _, key_w = stack.new_peer_key()
        org, key = stack.new_peer_key()
    else:
        _, key_w = stack.new_org(f"{name}-warmup")
        org, key = stack.new_org(name)
    if warmup > 0:
        wrk(server.url, key_w, phase, warmup)
    stack.analyze(peer=peer)
    stack.redis_stats()  # reset
    pids = server.worker_pids()
    url = stack.peer_url if peer else stack.pg.url
    spies = [] if peer else profile_workers(pids, seconds, name)
    w0 = {} if peer else writer_stats(server)
    stack.statements(reset=True)
    with Sampler(url, org, pids) as sampler, CpuSplit(stack, server) as cpu:
        res = wrk(server.url, key, phase, seconds, drain=True)
    res["writer"] = {} if peer else writer_delta(w0, writer_stats(server))
    res["statements"] = stack.statements()
    res["redis"] = stack.redis_stats()
    print(f"    redis: {res['redis']['commandstats']}, slowlog {res['redis']['slowlog']}",
          flush=True)  # fmt: skip
    for st in res["statements"][:5]:
        print(f"    pg: {st}", flush=True)
    for spy in spies:
        spy.wait(30)
    res["verify"] = verify(stack, org, res["created"], name, peer=peer)
    # durable leads/s over the loaded window, from the leads' own commit-side timestamps
    with psycopg.connect(url, autocommit=True) as conn:
        span = conn.execute("SELECT extract(epoch FROM max(created_at) - min(created_at)) "
                            "FROM leads WHERE org_id = %s", (org,)).fetchone()[0]  # fmt: skip
    res["window_s"] = float(span or 0)
    res["created_per_s"] = (res["created"] - 1) / res["window_s"] if span else 0.0
    res["series"] = sampler.series()
    res["rss_bytes"] = rss_of(pids)
    res["cpu_cores"] = cpu.cores
    res["postgres_cpu_cores"] = cpu.postgres_roles
    print(f"  Postgres CPU by process (cores): {cpu.postgres_roles}", flush=True)
    res["per_cpu_s"] = res["created"] / max(cpu.stack_cpu_s, 1e-9)
    print_cpu(cpu.cores, res["writer"])
    print(
        f"  {name}: {res['created_per_s']:.0f} durable leads/s, p50 "
        f"{res['latency_ms']['50']:.2f} ms, p99 {res['latency_ms']['99']:.2f} ms, "
        f"{res['per_cpu_s']:.0f} leads per CPU-second of service+Postgres+Redis",
        flush=True,
    )
    return res


def at_rate(stack: Stack, server: ServerProcess, name: str, phase: str, rate: float,
            seconds: float, mix: str, out: Path, claimer: bool) -> dict:  # fmt: skip
    org, key = stack.new_org(name)
    stack.analyze()
    claim_out = out.with_name(out.stem + "_claims.json")
    claim_proc = None
    if claimer:
        claim_proc = subprocess.Popen(
            [sys.executable, str(BENCH / "claimer.py"), "--database-url", stack.pg.url,
             "--org", org, "--out", str(claim_out)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert claim_proc.stdout is not None
        claim_proc.stdout.readline()  # "claimer ready"
    pids = server.worker_pids()
    try:
        with (
            Sampler(stack.pg.url, org, pids) as sampler,
            CpuSplit(stack, server) as cpu,
            DiskProbe(stack.pg.data_dir) as disk,
        ):
            raw = locust(server.url, key, phase, rate, seconds, mix, out)
    finally:
        if claim_proc is not None:
            time.sleep(0.5)
            claim_proc.send_signal(signal.SIGTERM)
            claim_proc.wait(30)
    created = raw["created"]
    res: dict[str, Any] = {
        "rate": rate,
        "seconds": raw["stopped"] - raw["started"],
        "status": raw["status"],
        "readback_status": raw.get("readback_status", {}),
        "unexpected": raw["unexpected"],
        "locust_cpu_warning": raw["cpu_warning"],
        "latency_ms": {
            k: {p: v * 1000 for p, v in pct(vs).items()} | {"n": len(vs)}
            for k, vs in raw["lat"].items()
        },
        "series": sampler.series(),
        "cpu_cores": cpu.cores,
        "disk_fsync_ms": disk.summary(),
    }
    posts = [v for k, vs in raw["lat"].items() if k != "readback" for v in vs]
    res["posts"] = len(posts)
    res["achieved_rate"] = len(posts) / max(res["seconds"], 1e-9)
    res["latency_ms"]["all_posts"] = {p: v * 1000 for p, v in pct(posts).items()}
    res["verify"] = verify(stack, org, len(created), name)
    if raw["unexpected"]:
        raise LostLeads(f"{name}: {raw['unexpected']} answers were not the expected status "
                        f"({raw['status']})")  # fmt: skip
    if claim_proc is not None:
        seen = json.loads(claim_out.read_text())
        # POST-to-claimable: from the 201 arriving at the client to the claimer holding the lead
        # (negative: the claimer had it before the answer arrived; counted as 0).
        delays = []
        missing = 0
        for lead_id, t_answer in created:
            t_seen = seen.get(lead_id)
            if t_seen is None:
                missing += 1
                continue
            delays.append(max(0.0, t_seen - t_answer))
        eligible = raw["lat"]["new"]
        res["claimable_ms"] = {p: v * 1000 for p, v in pct(delays).items()} | {"n": len(delays)}
        res["claimed"] = len(seen)
        res["created_not_claimed"] = missing  # ineligible (no consent) leads are never queued
        res["claimable_before_answer"] = sum(
            1 for lid, t in created if lid in seen and seen[lid] <= t
        )
        del eligible
    print(f"  {name}: {res['achieved_rate']:.0f} posts/s, POST p50 "
          f"{res['latency_ms']['all_posts']['50']:.2f} ms p99 "
          f"{res['latency_ms']['all_posts']['99']:.2f} ms"
          + (f", claimable p99 {res['claimable_ms']['99']:.2f} ms" if claimer else ""),
          flush=True)  # fmt: skip
    return res


def at_rate_open(stack: Stack, server: ServerProcess, name: str, phase: str, rate: float,
                 seconds: float, workdir: Path) -> dict:  # fmt: skip
    org, key = stack.new_org(name)
    stack.analyze()
    pids = server.worker_pids()
    w0 = writer_stats(server)
    with (
        Sampler(stack.pg.url, org, pids) as sampler,
        CpuSplit(stack, server) as cpu,
        DiskProbe(stack.pg.data_dir) as disk,
    ):
        res = oha(server.url, key, phase, rate, seconds, workdir)
    res["writer"] = writer_delta(w0, writer_stats(server))
    res["disk_fsync_ms"] = disk.summary()
    res["rate"] = rate
    res["generator"] = "oha (open loop, --latency-correction)"
    res["series"] = sampler.series()
    res["cpu_cores"] = cpu.cores
    res["latency_ms"] = {"all_posts": res["latency_ms"]}
    res["verify"] = verify(stack, org, res["created"], name)
    bad = {k: v for k, v in res["status"].items() if k not in ("201", "200")}
    if bad or res["errors"]:
        raise LostLeads(f"{name}: unexpected answers {bad} / errors {res['errors']}")
    lat = res["latency_ms"]["all_posts"]
    d = res["disk_fsync_ms"]
    print(f"  {name}: {res['achieved_rate']:.0f} posts/s (open loop), p50 {lat['50']:.2f} ms, "
          f"p99 {lat['99']:.2f} ms, p99.9 {lat['99.9']:.2f} ms; disk fdatasync p99 "
          f"{d['99']:.2f} ms, max {d['max']:.1f} ms", flush=True)  # fmt: skip
    print_cpu(cpu.cores, res["writer"])
    del res["raw"]
    return res


def preload(stack: Stack, rows: int) -> dict:
    """Store `rows` old leads (and their phone claims) for one org, fast, with generate_series.
    They are older than the duplicate window's start is irrelevant: the phones never collide
    with the benchmark's (prefix 1 is never posted)."""
    org, _ = stack.new_org("preloaded")
    t0 = time.monotonic()
    with psycopg.connect(stack.pg.url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        step = 1_000_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            with conn.transaction():
                conn.execute(
                    """
                    INSERT INTO leads (org_id, lead_id, sandbox, api_key_id, phone, phone_raw,
                        phone_valid, status, eligible, reasons, checks, created_at, updated_at)
                    SELECT %(org)s, gen_random_uuid(), false, 'preloaded0000',
                           '+1' || (1000000000 + g)::text, (1000000000 + g)::text, true,
                           'new', true, '{}', '{"duplicate":"none"}'::jsonb,
                           now() - interval '1 day', now() - interval '1 day'
                    FROM generate_series(%(a)s, %(b)s) g
                    """,
                    {"org": org, "a": start, "b": start + n - 1},
                )
                conn.execute(
                    """
                    INSERT INTO phone_claims (org_id, sandbox, phone, lead_id, claimed_at)
                    SELECT org_id, false, phone, lead_id, created_at FROM leads
                    WHERE org_id = %(org)s AND phone_raw::bigint - 1000000000
                          BETWEEN %(a)s AND %(b)s
                    """,
                    {"org": org, "a": start, "b": start + n - 1},
                )
            print(f"  preloaded {start + n} leads ({time.monotonic() - t0:.0f} s)", flush=True)
        conn.execute("VACUUM ANALYZE leads")
        conn.execute("VACUUM ANALYZE phone_claims")
        # Flush the preload's dirty pages now: otherwise the checkpoint it triggers runs during
        # the measurement, and every first write to a page after it logs a full-page image.
        conn.execute("CHECKPOINT")
    return {"rows": rows, "seconds": time.monotonic() - t0}


# --- report ----------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "?"
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_at_start": os.getloadavg(),
    }


def fmt(v: float, nd: int = 2) -> str:
    return "n/a" if v != v else f"{v:,.{nd}f}"


def disk_row(res: dict) -> list[str]:
    d = res.get("disk_fsync_ms")
    if not d:
        return []
    return [f"| disk fdatasync during that phase (8 kB every 50 ms): p50 / p99 / max (ms) | | "
            f"{d['50']:.2f} / {d['99']:.2f} / {d['max']:.1f} | | | |"]  # fmt: skip


def markdown(r: dict) -> str:
    s, c, p = r["service"], r["ceiling"], r.get("peer")
    lines = [
        f"Command: `{r['command']}` ({r['date']}). Machine: {r['machine']['cpu']}, "
        f"{r['machine']['cores']} cores, {r['machine']['memory_gb']} GB; Python "
        f"{r['machine']['python']}; load generators on the same machine, which is shared "
        "(load average at start "
        f"{', '.join(f'{x:.1f}' for x in r['machine']['load_avg_at_start'])}): read the ratios, "
        "treat absolute numbers as indicative. All numbers from this one run.",
        "",
        "| measurement | ceiling | service | peer | target | met |",
        "|---|---:|---:|---:|---|:-:|",
    ]
    peer_rate = p["created_per_s"] if p else float("nan")
    lines.append(
        f"| saturation, 64 conns (wrk): answers/s (service, peer: durable leads/s) | "
        f"{fmt(c['rps'], 0)} | {fmt(s['created_per_s'], 0)} | {fmt(peer_rate, 0)} | | |"
    )
    for q in ("50", "99"):
        lines.append(
            f"| saturation latency p{q} (ms) | {fmt(c['latency_ms'][q])} | "
            f"{fmt(s['latency_ms'][q])} | "
            f"{fmt(p['latency_ms'][q]) if p else 'n/a'} | | |"
        )
    ratios = r["ratios"]
    lines.append(f"| service / ceiling | | {ratios['service_vs_ceiling']:.1%} | | >= 25% | "
                 f"{'yes' if ratios['service_vs_ceiling'] >= 0.25 else 'NO'} |")  # fmt: skip
    if p:
        lines.append(f"| service / peer | | {ratios['service_vs_peer']:.1f}x | | >= 6x | "
                     f"{'yes' if ratios['service_vs_peer'] >= 6 else 'NO'} |")  # fmt: skip
    h = r.get("half_rate")
    if h:
        lat = h["latency_ms"]["all_posts"]
        lines.append(
            f"| at half saturation ({h['rate']:.0f}/s offered, {h['achieved_rate']:.0f}/s "
            f"achieved, {h.get('generator', 'locust')}): p50 / p90 / p99 / p99.9 (ms) | | "
            f"{fmt(lat['50'])} / "
            f"{fmt(lat['90'])} / {fmt(lat['99'])} / {fmt(lat['99.9'])} | | p99 <= 10 ms | "
            f"{'yes' if lat['99'] <= 10 else 'NO'} |"
        )
        lines += disk_row(h)
    sc = r.get("scenario")
    if sc:
        lat = sc["latency_ms"]["all_posts"]
        cl = sc.get("claimable_ms", {})
        lines.append(
            f"| scenario at {sc['rate']:.0f} leads/s ({sc['achieved_rate']:.0f}/s achieved): "
            f"POST p50 / p90 / p99 / p99.9 (ms) | | {fmt(lat['50'])} / {fmt(lat['90'])} / "
            f"{fmt(lat['99'])} / {fmt(lat['99.9'])} | | p50 <= 2, p99 <= 5 | "
            f"{'yes' if lat['50'] <= 2 and lat['99'] <= 5 else 'NO'} |"
        )
        if cl:
            lines.append(
                f"| scenario: POST-to-claimable p50 / p90 / p99 / p99.9 (ms) | | "
                f"{fmt(cl['50'])} / {fmt(cl['90'])} / {fmt(cl['99'])} / {fmt(cl['99.9'])} | | "
                f"p99 <= 10 ms | {'yes' if cl['99'] <= 10 else 'NO'} |"
            )
        lines += disk_row(sc)
    fl = r.get("floor")
    if fl:
        lat = fl["locust_ms"]
        oha_ms = fl.get("oha_ms")
        lines.append(
            f"| the generators' own floor: the no-op ceiling at {fl['rate']:.0f}/s, "
            f"p50 / p90 / p99 / p99.9 (ms) | locust {fmt(lat['50'])} / {fmt(lat['90'])} / "
            f"{fmt(lat['99'])} / {fmt(lat['99.9'])}"
            + (f"; oha {fmt(oha_ms['50'])} / {fmt(oha_ms['90'])} / {fmt(oha_ms['99'])} / "
               f"{fmt(oha_ms['99.9'])}" if oha_ms else "")
            + " | | | (reference) | |"
        )  # fmt: skip
    so = r.get("scenario_oha")
    if so:
        lat = so["latency_ms"]["all_posts"]
        lines.append(
            f"| same rate, unique leads, open loop (oha, {so['achieved_rate']:.0f}/s): "
            f"p50 / p90 / p99 / p99.9 (ms) | | {fmt(lat['50'])} / {fmt(lat['90'])} / "
            f"{fmt(lat['99'])} / {fmt(lat['99.9'])} | | (reference) | |"
        )
        lines += disk_row(so)
    mem = r.get("memory")
    if mem:
        mb = max(mem["rss_mb"])
        lines.append(
            f"| RSS per worker after {mem['leads_stored']:,} leads stored by it (MB, max of "
            f"{len(mem['rss_mb'])}) | | {mb:.0f} | | <= 150 MB after 1 M | "
            f"{('yes' if mb <= 150 else 'NO') if mem['leads_stored'] >= 1_000_000 else 'not run'} |"
        )
    big = r.get("big")
    if big:
        lines.append(
            f"| saturation with {big['preload']['rows']:,} leads stored vs empty (durable "
            f"leads/s) | | {big['full']['created_per_s']:.0f} vs {s['created_per_s']:.0f} "
            f"({big['ratio'] - 1:+.1%}) | | within 10% | "
            f"{'yes' if big['ratio'] >= 0.9 else 'NO'} |"
        )
    lines += ["", "Every phase verified: 201 answers = new rows in `leads` "
              f"({', '.join(f'{k} {v}' for k, v in r['verified'].items())})."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plots(r: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = ["p50", "p90", "p99", "p99.9"]
    rows = [("saturation, ceiling", r["ceiling"]["latency_ms"]),
            ("saturation, service", r["service"]["latency_ms"])]  # fmt: skip
    if r.get("peer"):
        rows.append(("saturation, peer", r["peer"]["latency_ms"]))
    if r.get("half_rate"):
        rows.append((f"service at {r['half_rate']['rate']:.0f}/s",
                     r["half_rate"]["latency_ms"]["all_posts"]))  # fmt: skip
    if r.get("scenario"):
        rows.append((f"scenario at {r['scenario']['rate']:.0f}/s",
                     r["scenario"]["latency_ms"]["all_posts"]))  # fmt: skip
        if r["scenario"].get("claimable_ms"):
            rows.append(("POST-to-claimable", r["scenario"]["claimable_ms"]))
    if r.get("scenario_oha"):
        rows.append((f"service at {r['scenario_oha']['rate']:.0f}/s (oha)",
                     r["scenario_oha"]["latency_ms"]["all_posts"]))  # fmt: skip
    if r.get("floor"):
        rows.append((f"no-op ceiling at {r['floor']['rate']:.0f}/s (locust)",
                     r["floor"]["locust_ms"]))  # fmt: skip
    width = 0.8 / len(rows)
    for i, (name, lat) in enumerate(rows):
        vals = [lat[k] for k in ("50", "90", "99", "99.9")]
        ax.bar([j + i * width for j in range(4)], vals, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(4)], labels)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log)")
    ax.set_title("POST /v1/leads latency percentiles")
    ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(out / "latency_percentiles.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, key in (("service, saturation", "service"), ("peer, saturation", "peer"),
                      ("service, half rate", "half_rate"), ("scenario", "scenario")):  # fmt: skip
        part = r.get(key)
        if part and part.get("series"):
            t, v = zip(*part["series"], strict=True)
            ax.plot(t, v, label=name)
    if r.get("big", {}).get("full", {}).get("series"):
        t, v = zip(*r["big"]["full"]["series"], strict=True)
        ax.plot(t, v, label=f"service, {r['big']['preload']['rows']:,} stored")
    ax.set_xlabel("s")
    ax.set_ylabel("durable leads/s (count of rows, 1 s samples)")
    ax.set_title("Throughput over time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(out / "throughput.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)
    return made


def update_results_md(section: str) -> None:
    path = BENCH / "RESULTS.md"
    text = path.read_text()
    begin, end = "<!-- bench:suite:begin -->", "<!-- bench:suite:end -->"
    block = f"{begin}\n{section}{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _m: block, text,
                      flags=re.S)  # fmt: skip
    else:
        text += "\n## The suite: service vs ceiling vs peer (`make bench`)\n\n" + block + "\n"
    path.write_text(text)


# --- the summary: today's figures against the targets -----------------------------------------
#
# bench/results-latest.json holds the figures of the last runs recorded with --update-results (a
# few numbers, committed); the table at the top of bench/RESULTS.md is generated from it alone
# (`bench/run.py --summary`), and tests/test_bench_summary.py checks the two agree. A run of every
# phase replaces "suite"; a run with the ceiling and the service but not every phase (e.g. `--skip
# peer,half,scenario`) is kept beside it as another saturation run; a --big run replaces "big"
# and keeps the one before it. Where a row has more than one run, "met" is judged on the median.

LATEST = BENCH / "results-latest.json"
SUMMARY_BEGIN, SUMMARY_END = "<!-- bench:summary:begin -->", "<!-- bench:summary:end -->"
FULL_RUN = ("ceiling", "service", "peer", "half_rate", "scenario")
OTHER_RUNS_KEPT = 2  # of each kind
ABOUT = (
    "written by bench/run.py --update-results; the summary at the top of bench/RESULTS.md "
    "is generated from this file (bench/run.py --summary)"
)


def is_full_run(r: dict) -> bool:
    return all(k in r for k in FULL_RUN)


def run_info(r: dict) -> dict:
    m = r["machine"]
    return {
        "date": r["date"],
        "command": r["command"],
        "machine": f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}",
        "load_avg_at_start": [round(x, 1) for x in m["load_avg_at_start"]],
    }


def latest_figures(r: dict) -> dict:
    """The figures of one run (a results.json) that the summary reads: "suite" for a run of every
    phase, "saturation" for one with the ceiling and the service but not every phase, "big" for a
    --big run (a run may give "big" and one of the others)."""
    out: dict[str, dict] = {}
    s, c, p = r.get("service"), r.get("ceiling"), r.get("peer")
    if s and c:
        sat = {
            **run_info(r),
            "ceiling_answers_per_s": round(c["rps"], 1),
            "service_leads_per_s": round(s["created_per_s"], 1),
            "service_leads_per_cpu_s": round(s["per_cpu_s"], 1) if "per_cpu_s" in s else None,
            "service_vs_ceiling": round(s["created_per_s"] / c["rps"], 4),
        }
        if p:
            sat["peer_leads_per_s"] = round(p["created_per_s"], 1)
            sat["service_vs_peer"] = round(s["created_per_s"] / p["created_per_s"], 3)
        if is_full_run(r):
            h, sc = r["half_rate"]["latency_ms"]["all_posts"], r["scenario"]
            sat["half_rate"] = {
                "offered_per_s": round(r["half_rate"]["rate"]),
                "generator": r["half_rate"].get("generator", "locust"),
                "p50_ms": round(h["50"], 2),
                "p99_ms": round(h["99"], 2),
            }
            sat["scenario"] = {
                "rate_per_s": round(sc["rate"]),
                "p50_ms": round(sc["latency_ms"]["all_posts"]["50"], 2),
                "p99_ms": round(sc["latency_ms"]["all_posts"]["99"], 2),
                "claimable_p99_ms": (
                    round(sc["claimable_ms"]["99"], 2) if sc.get("claimable_ms") else None
                ),
            }
            if r.get("scenario_oha"):
                so = r["scenario_oha"]["latency_ms"]["all_posts"]
                sat["scenario_oha"] = {
                    "rate_per_s": round(r["scenario_oha"]["rate"]),
                    "p50_ms": round(so["50"], 2),
                    "p99_ms": round(so["99"], 2),
                }
            if r.get("memory"):
                sat["rss_mb"] = max(r["memory"]["rss_mb"])
                sat["rss_leads"] = r["memory"]["leads_stored"]
            sat["verified"] = all(v == "ok" for v in r["verified"].values())
            out["suite"] = sat
        else:
            out["saturation"] = sat
    big = r.get("big")
    if big and s:
        out["big"] = {
            **run_info(r),
            "rows": big["preload"]["rows"],
            "empty_leads_per_s": round(s["created_per_s"], 1),
            "stored_leads_per_s": round(big["full"]["created_per_s"], 1),
            "ratio": round(big["ratio"], 4),
            "empty_leads_per_cpu_s": round(s["per_cpu_s"], 1) if "per_cpu_s" in s else None,
            "stored_leads_per_cpu_s": (
                round(big["full"]["per_cpu_s"], 1) if "per_cpu_s" in big["full"] else None
            ),
            "rss_mb": max(r["memory"]["rss_mb"]) if r.get("memory") else None,
            "rss_leads": r["memory"]["leads_stored"] if r.get("memory") else None,
        }
    return out


def merge_latest(old: dict, r: dict) -> dict:
    """bench/results-latest.json after recording the run `r` (see the comment above LATEST)."""
    new = latest_figures(r)
    recorded = [old.get("suite"), old.get("big"), *old.get("other_runs", [])]
    if any(o and (o["date"], o["command"]) == (r["date"], r["command"]) for o in recorded):
        new = {k: v for k, v in new.items() if k == "suite"}  # recorded before: no second copy
    merged = {
        "about": ABOUT,
        "suite": old.get("suite"),
        "big": old.get("big"),
        "other_runs": list(old.get("other_runs", [])),
    }
    if "suite" in new:
        merged["suite"] = new["suite"]
        # saturation runs recorded beside the old suite belong to its code, not this one's
        merged["other_runs"] = [o for o in merged["other_runs"] if o["kind"] != "saturation"]
    if "saturation" in new and merged["suite"]:
        merged["other_runs"].append({"kind": "saturation", **new["saturation"]})
    if "big" in new:
        if merged["big"]:
            merged["other_runs"].append({"kind": "big", **merged["big"]})
        merged["big"] = new["big"]
    kept = []
    for kind in ("saturation", "big"):
        kept += [o for o in merged["other_runs"] if o["kind"] == kind][-OTHER_RUNS_KEPT:]
    merged["other_runs"] = kept
    return merged


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def yes_no(ok: bool) -> str:
    return "yes" if ok else "NO"


def spread(today: float, others: list[float], show: Any, ok: Any) -> tuple[str, str]:
    """A figure and its "met": one run as it is; several runs listed, judged on their median."""
    if not others:
        return show(today), yes_no(ok(today))
    runs = [today, *others]
    m = median(runs)
    return (
        f"{show(today)} ({len(runs)} runs: {', '.join(show(x) for x in runs)}; median {show(m)})",
        f"{yes_no(ok(m))} (median)",
    )


def summary_markdown(latest: dict) -> str:
    """The short table at the top of bench/RESULTS.md, from bench/results-latest.json alone."""
    s, big = latest["suite"], latest.get("big")
    sat = [o for o in latest.get("other_runs", []) if o["kind"] == "saturation"]
    bigs = [o for o in latest.get("other_runs", []) if o["kind"] == "big"]
    lines = [
        f"Suite run {s['date']} (`{s['command']}`) on {s['machine']}, load average at start "
        f"{', '.join(f'{x:.1f}' for x in s['load_avg_at_start'])}"
        + (
            f"; the `--big` rows: {big['date']} (`{big['command']}`)"
            + ("" if big["machine"] == s["machine"] else f" on {big['machine']}")
            if big
            else ""
        )
        + ". Generated from `bench/results-latest.json` (`bench/run.py --summary`).",
        "",
        "| measurement | today | target | met |",
        "|---|---|---|:-:|",
    ]

    def row(what: str, today: str, target: str, met: str) -> None:
        lines.append(f"| {what} | {today} | {target} | {met} |")

    def n0(v: float) -> str:
        return f"{v:,.0f}"

    row(
        "durable leads/s at saturation (service; 64 connections, wrk)",
        n0(s["service_leads_per_s"]),
        "(headline)",
        "",
    )
    if s.get("service_leads_per_cpu_s") is not None:
        per_cpu = n0(s["service_leads_per_cpu_s"])
    elif big and big.get("empty_leads_per_cpu_s") is not None:
        per_cpu = (
            f"not in the suite run's record; the `--big` run: "
            f"{n0(big['empty_leads_per_cpu_s'])} (empty database)"
        )
    else:
        per_cpu = "not recorded"
    row(
        "leads per CPU-second of service + Postgres + Redis, at saturation",
        per_cpu,
        "(headline)",
        "",
    )
    fig, met = spread(
        s["service_vs_ceiling"],
        [o["service_vs_ceiling"] for o in sat],
        lambda x: f"{x:.1%}",
        lambda x: x >= 0.25,
    )
    row(
        f"saturation vs the ceiling ({n0(s['ceiling_answers_per_s'])} answers/s)",
        fig,
        ">= 25%",
        met,
    )
    if s.get("service_vs_peer") is not None:
        fig, met = spread(
            s["service_vs_peer"],
            [o["service_vs_peer"] for o in sat if o.get("service_vs_peer")],
            lambda x: f"{x:.1f}x",
            lambda x: x >= 6,
        )
        row(
            f"saturation vs the peer ({n0(s['peer_leads_per_s'])} durable leads/s)",
            fig,
            ">= 6x",
            met,
        )
    h = s["half_rate"]
    row(
        f"p99 at half saturation ({n0(h['offered_per_s'])}/s offered; {h['generator']})",
        f"{h['p99_ms']:.2f} ms (p50 {h['p50_ms']:.2f})",
        "<= 10 ms",
        yes_no(h["p99_ms"] <= 10),
    )
    sc = s["scenario"]
    row(
        f"scenario at {sc['rate_per_s']} leads/s (locust): POST p50 / p99",
        f"{sc['p50_ms']:.2f} / {sc['p99_ms']:.2f} ms",
        "p50 <= 2 ms, p99 <= 5 ms",
        yes_no(sc["p50_ms"] <= 2 and sc["p99_ms"] <= 5),
    )
    cl = sc.get("claimable_p99_ms")
    row(
        "scenario: POST-to-claimable p99",
        "not measured" if cl is None else f"{cl:.2f} ms",
        "<= 10 ms",
        "" if cl is None else yes_no(cl <= 10),
    )
    if big and big.get("rss_mb") is not None and big["rss_leads"] >= 1_000_000:
        fig, met = spread(
            big["rss_mb"],
            [o["rss_mb"] for o in bigs if o.get("rss_mb")],
            lambda x: f"{x:.1f} MB",
            lambda x: x <= 150,
        )
        row(
            f"RSS per worker after {n0(big['rss_leads'])} leads (`--big`, max over workers)",
            fig,
            "<= 150 MB after 1 M",
            met,
        )
    else:
        row(
            f"RSS per worker after {n0(s['rss_leads'])} leads (max over workers)",
            f"{s['rss_mb']:.1f} MB",
            "<= 150 MB after 1 M",
            "not run",
        )
    if big:
        fig, met = spread(
            big["ratio"], [o["ratio"] for o in bigs], lambda x: f"{x - 1:+.1%}", lambda x: x >= 0.9
        )
        fig += (
            f"; {n0(big['stored_leads_per_s'])} vs {n0(big['empty_leads_per_s'])} durable leads/s"
        )
        if big.get("stored_leads_per_cpu_s") is not None:
            fig += (
                f", {n0(big['stored_leads_per_cpu_s'])} vs "
                f"{n0(big['empty_leads_per_cpu_s'])} per CPU-second"
            )
        row(
            f"saturation with {n0(big['rows'])} leads stored vs empty (`--big`)",
            fig,
            "within 10% of empty",
            met,
        )
    else:
        row(
            "saturation with 10 M leads stored vs empty (`--big`)",
            "not run",
            "within 10% of empty",
            "not run",
        )
    so = s.get("scenario_oha")
    if so:
        row(
            f"same rate as the scenario, unique leads, open loop (oha, {so['rate_per_s']}/s): "
            "POST p50 / p99",
            f"{so['p50_ms']:.2f} / {so['p99_ms']:.2f} ms",
            "(reference)",
            "",
        )
    notes = [
        "Every phase of the suite run verified (201 answers = new rows in `leads`): "
        + yes_no(s["verified"])
        + "."
    ]
    others: dict[str, list[str]] = {}
    for o in sat + bigs:
        others.setdefault(o["command"], []).append(o["date"])
    if others:
        notes.append(
            "A cell listing several runs adds "
            + "; ".join(f"`{cmd}` ({', '.join(dates)})" for cmd, dates in others.items())
            + ', and its "met" is judged on their median.'
        )
    notes.append(
        "The load generators share the 2-core machine with the service: read the "
        "ratios, treat absolute figures as indicative."
    )
    lines += ["", " ".join(notes)]
    return "\n".join(lines) + "\n"


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    block = f"{begin}\n{body}{end}"
    return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)


def update_summary_md(latest: dict) -> None:
    path = BENCH / "RESULTS.md"
    text = path.read_text()
    if SUMMARY_BEGIN not in text:  # right under the title
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{SUMMARY_BEGIN}\n{SUMMARY_END}\n{rest}"
    path.write_text(replace_block(text, SUMMARY_BEGIN, SUMMARY_END, summary_markdown(latest)))


def record_latest(r: dict) -> None:
    """--update-results: the run's figures into bench/results-latest.json, and the summary."""
    old = json.loads(LATEST.read_text()) if LATEST.exists() else {}
    latest = merge_latest(old, r)
    LATEST.write_text(json.dumps(latest, indent=1) + "\n")
    if latest["suite"] is None:
        print("no run of every phase recorded yet: the summary in bench/RESULTS.md not written")
        return
    update_summary_md(latest)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="seconds, not minutes: nothing lost?")
    ap.add_argument("--big", action="store_true", help="also 10 M stored leads and 1 M-lead RSS")
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--rss-leads", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20.0, help="saturation phase length")
    ap.add_argument("--scenario-rate", type=float, default=500.0)
    ap.add_argument("--scenario-seconds", type=float, default=30.0)
    ap.add_argument("--skip", default="", help="comma list: ceiling,peer,half,scenario")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: a temporary dir")
    ap.add_argument(
        "--update-results",
        action="store_true",
        help="record the run's figures in bench/results-latest.json and regenerate the summary\n"
        "at the top of bench/RESULTS.md from it; a run of every phase also writes its detailed\n"
        "table into bench/RESULTS.md and the plots to bench/plots/",
    )
    ap.add_argument(
        "--summary",
        action="store_true",
        help="only regenerate the summary at the top of bench/RESULTS.md from\n"
        "bench/results-latest.json (no run)",
    )
    ap.add_argument(
        "--service-env",
        action="append",
        default=[],
        help="NAME=VALUE for the service (e.g. L2I_WRITER_MAX_BATCH=128)",
    )
    ap.add_argument("--granian-args", default="", help="extra Granian arguments for the service")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the service workers during saturation (bench/out/profile_*.txt)",
    )
    ap.add_argument(
        "--report",
        type=Path,
        default=None,
        help="only rebuild the table and plots from a results.json; with --update-results,\n"
        "record it as --update-results records a run",
    )
    ap.add_argument(
        "--pg-stats",
        action="store_true",
        help="load pg_stat_statements; print the top statements of each saturation",
    )
    args = ap.parse_args(argv)
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = args.out
    if args.summary:
        latest = json.loads(LATEST.read_text())
        print(summary_markdown(latest))
        update_summary_md(latest)
        return 0
    if args.report is not None:
        results = json.loads(args.report.read_text())
        md = markdown(results)
        print(md)
        made = plots(results, args.report.parent)
        if args.update_results:
            if is_full_run(results):
                (BENCH / "plots").mkdir(exist_ok=True)
                for p in made:
                    shutil.copy(p, BENCH / "plots" / p.name)
                update_results_md(md)
            record_latest(results)
        return 0
    skip = set(filter(None, args.skip.split(",")))
    if args.smoke:
        args.seconds, args.scenario_seconds, args.scenario_rate = 2.0, 3.0, 100.0
        skip |= {"half"}
    warmup = 1.0 if args.smoke else 3.0
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="l2i-bench-")) if args.data_dir is None else args.data_dir
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    logs = args.out / "logs"
    logs.mkdir(exist_ok=True)
    extra_env = dict(e.split("=", 1) for e in args.service_env)
    results: dict[str, Any] = {
        "command": "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "settings": {
            "workers": WORKERS,
            "connections": CONNECTIONS,
            "postgres": pg_settings(),
            "service_env": extra_env,
            "granian_args": args.granian_args,
        },
        "verified": {},
    }
    stack = Stack(tmp, stat_statements=args.pg_stats)
    print(f"starting embedded Postgres and Redis in {tmp}", flush=True)
    stack.start()
    granian_args = [*GRANIAN_PROD, *args.granian_args.split()]
    try:
        if "ceiling" not in skip:
            print("ceiling (no-op Falcon app on Granian):", flush=True)
            ceiling = ServerProcess(
                app="bench.ceiling_app:app",
                workers=WORKERS,
                log_path=logs / "ceiling.log",
                extra_args=granian_args,
            )
            with running(ceiling):
                results["ceiling"] = saturation(stack, ceiling, "ceiling", "2", args.seconds,
                                                warmup, ceiling=True)  # fmt: skip
                if "scenario" not in skip:
                    print(f"generators' own floor: the ceiling at {args.scenario_rate:.0f}/s:",
                          flush=True)  # fmt: skip
                    results["floor"] = generator_floor(
                        ceiling, args.scenario_rate, args.scenario_seconds, args.out, tmp
                    )
        service = ServerProcess(
            env=service_env(stack, metrics_dir, extra_env), workers=WORKERS,
            log_path=logs / "service.log", extra_args=granian_args,
        )  # fmt: skip
        with running(service):
            print("service (Granian, 2 workers):", flush=True)
            res = saturation(stack, service, "service", "3", args.seconds, warmup)
            results["service"] = res
            results["verified"]["service"] = "ok"
            leads_by_service = res["created"]
            if "half" not in skip:
                rate = round(res["created_per_s"] / 2)
                if find_oha():
                    print(f"service at half its saturation rate ({rate}/s, oha):", flush=True)
                    results["half_rate"] = at_rate_open(
                        stack, service, "half-rate", "4", rate, args.seconds, tmp
                    )
                else:
                    print(f"service at half its saturation rate ({rate}/s, locust; install oha "
                          "for an open-loop generator):", flush=True)  # fmt: skip
                    results["half_rate"] = at_rate(
                        stack, service, "half-rate", "4", rate, args.seconds, "unique",
                        args.out / "half_rate_raw.json", claimer=False,
                    )  # fmt: skip
                    results["half_rate"]["generator"] = "locust (constant pacing)"
                results["verified"]["half_rate"] = "ok"
                leads_by_service += results["half_rate"]["verify"]["rows"]
            if "scenario" not in skip:
                print(f"scenario at {args.scenario_rate:.0f} leads/s (locust + claimer):",
                      flush=True)  # fmt: skip
                results["scenario"] = at_rate(stack, service, "scenario", "5",
                                              args.scenario_rate, args.scenario_seconds,
                                              "realistic", args.out / "scenario_raw.json",
                                              claimer=True)  # fmt: skip
                results["verified"]["scenario"] = "ok"
                leads_by_service += results["scenario"]["verify"]["rows"]
                if find_oha():
                    # the same arrival rate from a lean open-loop generator: the service's own
                    # latency at that load, without locust's CPU on this 2-core box
                    print(f"service at {args.scenario_rate:.0f}/s, unique leads (oha):",
                          flush=True)  # fmt: skip
                    results["scenario_oha"] = at_rate_open(
                        stack, service, "scenario-oha", "6", args.scenario_rate,
                        args.scenario_seconds, tmp,
                    )  # fmt: skip
                    results["verified"]["scenario_oha"] = "ok"
                    leads_by_service += results["scenario_oha"]["verify"]["rows"]
            if args.big:
                print(f"RSS run: {args.rss_leads:,} leads with wrk:", flush=True)
                org, key = stack.new_org("rss")
                stored = stack.count_leads(org)
                while stored < args.rss_leads:
                    left = args.rss_leads - stored
                    secs = max(5.0, min(120.0, left / max(res["created_per_s"], 1) * 1.05))
                    # the counter continues where the last run stopped: every phone is new
                    r = wrk(service.url, key, "6", secs, offset=stored + 1_000)
                    stored = stack.count_leads(org)
                    print(f"  {stored:,} stored; RSS MB "
                          f"{[round(x / 2**20) for x in rss_of(service.worker_pids())]}",
                          flush=True)  # fmt: skip
                    del r
                leads_by_service += stored
            pids = service.worker_pids()
            results["memory"] = {
                "rss_mb": [round(x / 2**20, 1) for x in rss_of(pids)],
                "leads_stored": leads_by_service,
            }
            print(f"  RSS per worker (MB): {results['memory']['rss_mb']} after "
                  f"{leads_by_service:,} leads", flush=True)  # fmt: skip
            if args.big:
                print(f"preloading {args.big_rows:,} leads:", flush=True)
                pre = preload(stack, args.big_rows)
                name = f"service-{args.big_rows:,}-stored"
                full = saturation(stack, service, name, "8", args.seconds, warmup)
                results["big"] = {
                    "preload": pre,
                    "full": full,
                    "ratio": full["created_per_s"] / res["created_per_s"],
                }
                results["verified"]["service_10M"] = "ok"
        if "peer" not in skip:
            print("peer (FastAPI + uvicorn, asyncpg, one commit per lead):", flush=True)
            peer = PeerServer(
                env={"PEER_DATABASE_URL": stack.peer_url, "PEER_REDIS_URL": stack.redis.url,
                     "PEER_PEPPER": "peer-pepper"},
                workers=WORKERS, log_path=logs / "peer.log",
            )  # fmt: skip
            with running(peer):
                results["peer"] = saturation(stack, peer, "peer", "2", args.seconds, warmup,
                                             peer=True)  # fmt: skip
                results["verified"]["peer"] = "ok"
    finally:
        stack.stop()
        if args.data_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)

    svc = results["service"]["created_per_s"]
    results["ratios"] = {
        "service_vs_ceiling": svc / results["ceiling"]["rps"] if "ceiling" in results else 0.0,
        "service_vs_peer": svc / results["peer"]["created_per_s"] if "peer" in results else 0.0,
    }
    name = "smoke" if args.smoke else "results"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
    if "ceiling" in results:
        md = markdown(results)
        (args.out / f"{name}.md").write_text(md)
        print("\n" + md)
        if not args.smoke:
            made = plots(results, args.out)
            if args.update_results and is_full_run(results):
                (BENCH / "plots").mkdir(exist_ok=True)
                for p in made:
                    shutil.copy(p, BENCH / "plots" / p.name)
                update_results_md(md)
    if args.update_results and not args.smoke:
        record_latest(results)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LostLeads as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        sys.exit(1)
