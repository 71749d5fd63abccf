"""JSON logs: one object per line on stderr, for the app's own loggers (`lead2inbound.*`).

`configure(level)` is called once per worker by `create_app`. Every record becomes
`{"ts", "level", "logger", "msg", ...extra}`; the access log (`lead2inbound.access`, one line per
request, at INFO) adds `request_id`, `method`, `path`, `route`, `status`, `duration_ms`,
`client_ip` and, for authenticated requests, `key_id` and `org_id` (the key id is the public half
of a key, printed by `l2i keys list`; the secret, the Authorization header and the query string are
never logged). `L2I_LOG_LEVEL=warning` silences the access log.

The access log has a path of its own (`AccessLog`): the same line, built without a LogRecord and
written once per event-loop turn for all the requests answered in it. Through `logging` (a record,
a formatter walking its attributes, one write and flush per line) it cost 17% of the service's
throughput at saturation (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from typing import Any

import msgspec

ROOT = "lead2inbound"
ACCESS = "lead2inbound.access"
_encode = msgspec.json.Encoder().encode
_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD and not k.startswith("_"):
                entry[k] = v if isinstance(v, str | int | float | bool | None) else str(v)
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return _encode(entry).decode()


def configure(level: str = "info", stream: Any = None) -> None:
    """Send `lead2inbound.*` records at `level` and above to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level.upper())
    logger.propagate = False
    for h in list(logger.handlers):
        if getattr(h, "_l2i", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._l2i = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    ACCESS_LOG.handler = handler


access_log = logging.getLogger(ACCESS)


class AccessLog:
    """The access log's lines, as `JsonFormatter` writes them for `lead2inbound.access`, built
    directly and written together once per event-loop turn (one write and flush for every request
    answered in that turn; a line waits at most for the end of the turn, and one being written
    when a worker is killed with SIGKILL is lost)."""

    def __init__(self) -> None:
        self.handler: logging.StreamHandler[Any] | None = None
        self._lines: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._second_text = ""

    def enabled(self) -> bool:
        return self.handler is not None and access_log.isEnabledFor(logging.INFO)

    def write(self, msg: str, fields: dict[str, Any]) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:  # strftime once a second, not once a line
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry = {
            "ts": f"{self._second_text}.{int((now - second) * 1000):03d}Z",
            "level": "info",
            "logger": ACCESS,
            "msg": msg,
            **fields,
        }
        self._lines.append(_encode(entry))
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a test, a script): write now
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        lines, self._lines = self._lines, []
        handler = self.handler
        if not lines or handler is None:
            return
        text = b"\n".join(lines).decode() + "\n"
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        finally:
            handler.release()


ACCESS_LOG = AccessLog()
