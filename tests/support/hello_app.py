"""A tiny ASGI app for proving `ServerProcess` without the real service.

`GET /healthz` -> 200 "ok"; `GET /env/<NAME>` -> the value of environment variable NAME in the
worker (404 when unset); `GET /pid` -> the worker's pid. It prints one line at startup so tests
can assert on the captured log.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

print(f"hello_app loaded in pid {os.getpid()}", file=sys.stderr, flush=True)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if path == "/healthz":
        await _answer(send, 200, b"ok")
    elif path == "/pid":
        await _answer(send, 200, str(os.getpid()).encode())
    elif path.startswith("/env/"):
        value = os.environ.get(path[len("/env/") :])
        if value is None:
            await _answer(send, 404, b"unset")
        else:
            await _answer(send, 200, value.encode())
    else:
        await _answer(send, 404, b"not found")
