"""A real Granian process serving an ASGI app, for tests that speak HTTP over a socket.

    server = ServerProcess(env={"L2I_DATABASE_URL": ..., ...}, log_path=tmp_path / "server.log")
    server.start()            # waits for GET /healthz == 200
    httpx.get(server.url + "/healthz")
    server.log_text()         # everything the server printed so far
    server.stop()             # SIGTERM to the group, wait, then SIGKILL

The process runs in its own process group (so `stop()` reaches Granian's workers too) with the
repository root on PYTHONPATH, and gets the parent-death signal so it cannot outlive the test run.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from lead2inbound.ops.embedded import free_port, log_tail, parent_death_preexec

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_APP = "lead2inbound.asgi:app"

# Every ServerProcess that was started and not yet stopped (checked at session end).
LIVE: set[ServerProcess] = set()


class ServerStartError(RuntimeError):
    pass


class ServerProcess:
    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        app: str = DEFAULT_APP,
        workers: int = 1,
        port: int | None = None,
        log_path: Path,
        extra_args: Sequence[str] = (),
        inherit_env: bool = True,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.workers = workers
        self.port = port or free_port()
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args)
        self.startup_timeout_s = startup_timeout_s
        base = dict(os.environ) if inherit_env else {"PATH": os.environ.get("PATH", "")}
        # Never let the developer's own L2I_* settings leak into a test server.
        base = {k: v for k, v in base.items() if not k.startswith("L2I_")}
        pythonpath = [str(REPO_ROOT), *filter(None, [base.get("PYTHONPATH")])]
        base["PYTHONPATH"] = os.pathsep.join(pythonpath)
        base["PYTHONUNBUFFERED"] = "1"
        base.update(env or {})
        self.env = base
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--no-ws",
            *self.extra_args,
            self.app,
        ]

    def start(self) -> ServerProcess:
        if self.is_running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=self.env,
                start_new_session=True,
                preexec_fn=parent_death_preexec(signal.SIGTERM),
            )
        LIVE.add(self)
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout_s)
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"server exited with code {self.proc.returncode} before /healthz answered\n"
                    f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
                )
            status = self._healthz()
            if status == 200:
                return
            last = f"status {status}" if status else "connection refused"
            time.sleep(0.05)
        raise ServerStartError(
            f"GET /healthz did not answer 200 within {timeout or self.startup_timeout_s}s "
            f"({last})\n--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
        )

    def _healthz(self) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status
        except OSError:
            return None
        finally:
            conn.close()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def worker_pids(self) -> list[int]:
        """Pids of Granian's worker processes (children of the main process)."""
        if not self.is_running():
            return []
        assert self.proc is not None
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=False)]
        except psutil.NoSuchProcess:
            return []

    def kill_worker(self, index: int = 0) -> int:
        """SIGKILL one worker (the main process stays); returns its pid."""
        pids = self.worker_pids()
        if not pids:
            raise RuntimeError("no worker processes")
        pid = pids[index]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, wait up to `timeout`, then SIGKILL it. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout)
            # The main process is gone (or hung): make sure nothing of its group survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _wait_group_gone(proc.pid, 5.0)
            return proc.returncode
        finally:
            LIVE.discard(self)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.app} {self.url} pid={self.pid}>"


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if _pgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
    return found


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
