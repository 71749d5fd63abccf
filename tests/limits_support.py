"""A private, non-persistent Redis for the limiter and broadcast tests, on the project's own
`EmbeddedRedis` in a temp dir, its port known before it starts: start, kill (SIGKILL, a crash)
and start again on the same port."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lead2inbound.ops.embedded import EmbeddedRedis, free_port


class RedisServer:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="l2i-redis-")
        self._server = EmbeddedRedis(Path(self._tmp.name), free_port(), persistent=False)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def pid(self) -> int | None:
        return self._server.pid

    def start(self) -> None:
        self._server.start()

    def kill(self) -> None:
        self._server.kill()

    def close(self) -> None:
        if self._server.is_running():
            self._server.kill()
        self._tmp.cleanup()
