"""A fake HTTP provider on 127.0.0.1 in a thread of the test process, with failure modes.

fake = TcpaFake().start()
fake.mode = "timeout" | "error500" | "garbage" | "ok"
fake.stop(); fake.start()     # "down": nothing listens on the port, then back on it
fake.hits                     # scrub requests served (all modes), for "no paid scrub" checks
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lead2inbound.ops.embedded import free_port


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes):
        self.method = handler.command
        parts = urlsplit(handler.path)
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.headers = handler.headers
        self.body = body
        ctype = handler.headers.get("Content-Type", "")
        self.form: dict[str, str] = {}
        if ctype.startswith("application/x-www-form-urlencoded"):
            self.form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}


class FakeProvider:
    timeout_delay_s = 3.0

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.mode = "ok"
        self.hits = 0
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conns: set[Any] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, req: Request) -> tuple[int, str, str]:
        """(status, content type, body) in the provider's own format."""
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        req = Request(handler, handler.rfile.read(length) if length else b"")
        with self._lock:
            self.hits += 1
            self.requests.append(req)
        mode = self.mode
        if mode == "timeout":
            time.sleep(self.timeout_delay_s)
        if mode == "error500":
            status, ctype = 500, "text/html"
            body = "<html><body>Internal Server Error</body></html>"
        elif mode == "garbage":
            status, ctype, body = 200, "application/json", '{"unexpected": ["shape"'
        else:
            status, ctype, body = self.answer(req)
        data = body.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            pass  # the client gave up (its timeout)

    def start(self) -> FakeProvider:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # one buffered write per answer and no Nagle: no delayed-ACK stalls on loopback
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        conns = self._conns

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                conns.add(request)  # kept-alive connections are cut too when the fake "goes down"
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                conns.discard(request)
                super().shutdown_request(request)

        server = Server(("127.0.0.1", self.port), Handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for sock in list(self._conns):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conns.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
