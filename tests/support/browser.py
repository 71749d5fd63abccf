"""A real headless Chromium for browser tests. Two ways: one process per page (`--dump-dom`
after the page's scripts and network settle, or `--screenshot`; the /docs and web-form tests),
or `Browser`, one process for a test module driven over the DevTools protocol (cookies kept,
clicks, keys, the accessibility tree; the console tests). A throwaway profile either way, and
pages served from another origin by a small in-process HTTP server."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
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


# Flags of every headless run: no sandbox (containers), nothing fetched from the internet.
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def run_chromium(browser: str, *args: str, budget_ms: int = 10_000) -> str:
    """Run one headless Chromium to completion (it exits by itself); its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [
                browser,
                *HEADLESS,
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


class Browser:
    """One headless Chromium for a whole test module, driven over the DevTools protocol on a
    pipe (`--remote-debugging-pipe`: no port, no websocket library): one tab that keeps its
    cookies between pages, so tests can sign in, click, type and read the page's state."""

    def __init__(self, binary: str) -> None:
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the protocol's fds are 3 (in) and 4 (out)
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                *HEADLESS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "--window-size=1200,900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            pass_fds=(3, 4),  # kept open after `wire` (subprocess closes the rest)
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def call(self, method: str, session: str | None = None, **params: object) -> dict:
        """Send a protocol command; its result (an error answer raises)."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        msg: dict = {"id": ident, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60
        with self._cond:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, f"no answer to {method}"
                self._cond.wait(left)
            answer = self._answers.pop(ident)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer.get("result", {})

    def send(self, method: str, **params: object) -> dict:
        """A command to the tab."""
        return self.call(method, self._session, **params)

    def goto(self, url: str) -> None:
        """Open `url` and wait for its load event (and its scripts' DOMContentLoaded work)."""
        before = self.js("performance.timeOrigin")
        self.send("Page.navigate", url=url)
        self.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")

    def js(self, expression: str) -> object:
        """Evaluate in the page (promises awaited); the value."""
        got = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in got, got["exceptionDetails"]
        return got["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> object:
        """Poll until `expression` is truthy in the page; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.js(expression)
            except AssertionError:
                value = None  # between two pages: no context yet
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def submit(self, selector: str) -> None:
        """Submit a form the way a click on its submit button does, and wait for the next page."""
        before = self.js("performance.timeOrigin")
        self.js(f"document.querySelector({json.dumps(selector)}).requestSubmit()")
        self.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")

    def fill(self, selector: str, value: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def key(self, key: str) -> None:
        """Press a key (Tab, Enter, ...) as a person at the keyboard does."""
        codes = {"Tab": 9, "Enter": 13, "Escape": 27, " ": 32}
        code = codes.get(key, 0)
        text = "\r" if key == "Enter" else (" " if key == " " else "")
        for kind in ("keyDown", "keyUp"):
            params: dict = {"type": kind, "key": key, "windowsVirtualKeyCode": code, "code": key}
            if kind == "keyDown" and text:
                params["text"] = text
            self.send("Input.dispatchKeyEvent", **params)

    def cookies(self) -> list[dict]:
        return self.send("Network.getAllCookies")["cookies"]

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)
        self._profile.cleanup()
