"""A real headless Chromium for browser tests, the way the /docs test drives it: one process per
page (`--dump-dom` after the page's scripts and network settle, or `--screenshot`), a throwaway
profile, and pages served from another origin by a small in-process HTTP server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def chromium() -> str | None:
    """The browser, installed from Debian's packages when missing and we may (root + apt)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"], capture_output=True, env=env, timeout=600
        )
        return shutil.which("chromium")
    return None


def run_chromium(browser: str, *args: str, budget_ms: int = 10_000) -> str:
    """Run one headless Chromium to completion (it exits by itself); its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def dump_dom(browser: str, url: str) -> str:
    """The page's DOM after its scripts, its fetches and any navigation they caused."""
    return run_chromium(browser, "--dump-dom", url)


def screenshot(browser: str, url: str, path: Path, size: str = "900,900") -> None:
    run_chromium(browser, f"--screenshot={path}", f"--window-size={size}", url)
    assert path.exists() and path.stat().st_size > 1000


class Pages:
    """Static pages on their own origin (`http://127.0.0.1:<port>`); `hits` counts requests."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.hits: list[str] = []
        pages, hits = self.pages, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                hits.append(self.path)
                body = pages.get(path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.origin + path

    def start(self) -> Pages:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def pages() -> Iterator[Pages]:
    site = Pages().start()
    try:
        yield site
    finally:
        site.stop()
