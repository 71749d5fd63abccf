"""The service's ASGI app plus a SIGUSR1 handler that logs every asyncio task's stack (to find
where requests wait when a worker stalls): `kill -USR1 <worker pid>`, then read the server log."""

from __future__ import annotations

import asyncio
import io
import signal
import sys

from lead2inbound.asgi import app

__all__ = ["app"]


def _dump(signum: int, frame: object) -> None:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:
        print("task dump: no running loop in this thread", file=sys.stderr, flush=True)
        return
    out = io.StringIO()
    out.write(f"task dump: {len(tasks)} tasks\n")
    seen: dict[str, int] = {}
    for task in tasks:
        buf = io.StringIO()
        task.print_stack(limit=8, file=buf)
        text = buf.getvalue()
        seen[text] = seen.get(text, 0) + 1
    for text, n in sorted(seen.items(), key=lambda kv: -kv[1]):
        out.write(f"--- {n} task(s):\n{text}")
    print(out.getvalue(), file=sys.stderr, flush=True)


signal.signal(signal.SIGUSR1, _dump)
