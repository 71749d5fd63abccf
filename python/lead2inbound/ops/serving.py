"""How `l2i serve` runs Granian: the connection cap, the file-descriptor limit and the timeouts.

Granian's `backpressure` is the number of connections a worker holds open at once (a permit is
taken at accept and given back when the connection closes, idle keep-alive included); its default
(backlog / workers, 512 with two workers) let ~1,100 slow clients lock every new client out. The
cap is set here well above what normal load needs, bounded by what the file-descriptor limit
allows, and the header timeout makes a slow or silent client give its permit back in seconds
(a slow body is the app's `L2I_BODY_READ_TIMEOUT_S`, see `web/http.py`).
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from typing import Any

from lead2inbound.ops.config import Config

log = logging.getLogger("lead2inbound.serve")

# Descriptors a worker needs besides client connections: its Postgres pool, Redis, the DNC
# registry's files, logs, the Python runtime's own.
FD_RESERVE = 256


def raise_nofile() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (workers inherit it); returns
    the soft limit in force afterwards. Where the raise is refused, the old limit stays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    per_worker: int  # Granian backpressure: connections one worker holds open
    backlog: int
    header_timeout_ms: int
    clamped: bool  # L2I_MAX_CONNECTIONS was more than the fd limit allows


def plan_connections(cfg: Config, nofile: int) -> ConnectionPlan:
    allowed = max(64, nofile - FD_RESERVE)
    per_worker = min(cfg.max_connections, allowed)
    return ConnectionPlan(
        per_worker=per_worker,
        backlog=cfg.backlog,
        header_timeout_ms=int(cfg.header_timeout_s * 1000),
        clamped=per_worker < cfg.max_connections,
    )


def granian_options(cfg: Config, nofile: int) -> dict[str, Any]:
    """The keyword arguments `l2i serve` gives `granian.Granian` (tests read them too)."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    plan = plan_connections(cfg, nofile)
    if plan.clamped:
        log.warning(
            "L2I_MAX_CONNECTIONS=%d is above what the open-file limit (%d) allows; each worker "
            "holds at most %d connections (raise `nofile` to allow more)",
            cfg.max_connections,
            nofile,
            plan.per_worker,
        )
    return {
        "address": cfg.host,
        "port": cfg.port,
        "interface": Interfaces.ASGI,
        "workers": cfg.workers,
        "loop": Loops.uvloop,
        "http": HTTPModes.http1,
        "backlog": plan.backlog,
        "backpressure": plan.per_worker,
        # A header section, and the wait for the next request on a kept-alive connection, must
        # arrive within L2I_HEADER_TIMEOUT_S or the connection is closed. Granian's read buffer
        # caps a header section at 64 KB (the app answers 431 above L2I_MAX_HEADER_BYTES).
        "http1_settings": HTTP1Settings(
            header_read_timeout=plan.header_timeout_ms,
            max_buffer_size=max(65_536, cfg.max_header_bytes * 2),
        ),
        "websockets": False,
        "log_level": cfg.log_level,
        "workers_kill_timeout": int(cfg.shutdown_timeout_s),
        "respawn_failed_workers": True,
    }
