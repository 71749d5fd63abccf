"""JSON logs: one object per line on stderr, for the app's own loggers (`lead2inbound.*`).

`configure(level)` is called once per worker by `create_app`. Every record becomes
`{"ts", "level", "logger", "msg", ...extra}`; the access log (`lead2inbound.access`, one line per
request, at INFO) adds `request_id`, `method`, `path`, `route`, `status`, `duration_ms`,
`client_ip` and, for authenticated requests, `key_id` and `org_id` (the key id is the public half
of a key, printed by `l2i keys list`; the secret, the Authorization header and the query string are
never logged). `L2I_LOG_LEVEL=warning` silences the access log.
"""

from __future__ import annotations

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


access_log = logging.getLogger(ACCESS)
