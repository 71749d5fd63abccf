"""A webhook receiver on 127.0.0.1 in a thread of the test process: records every delivery
(headers, raw body, arrival time) and answers from a script of statuses (then 200). It speaks
HTTP/1.1 with keep-alive, as receivers do, and counts the connections it accepted."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the stdlib's 5 resets connections under a concurrent sender


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: list[int] = []  # answered in order; 200 once used up
        self.hang_s = 0.0  # hold each answer this long (a slow or stuck receiver)
        self.answer = b'{"ok": true}'  # the body of every answer
        self.connections = 0
        self.lock = threading.Lock()
        self._sockets: set[Any] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # an answer in one write, sent at once (on a kept-alive connection, the head and
            # body as two writes wait on Nagle and the sender's delayed ACK: 40 ms each)
            wbufsize = -1
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections += 1
                    receiver._sockets.add(self.connection)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.deliveries.append(Delivery(headers, body, time.time()))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    hang = receiver.hang_s
                    payload = receiver.answer
                if hang:
                    time.sleep(hang)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the sender stopped reading (a long answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self.lock:  # kept-alive connections too: nothing answers once stopped
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def ids(self) -> list[str]:
        with self.lock:
            return [d.id for d in self.deliveries]

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.deliveries) >= n:
                    return list(self.deliveries)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"{len(self.deliveries)} deliveries, expected {n}")
