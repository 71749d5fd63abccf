"""The one guard for every outbound request a tenant can cause (a fetch, a webhook delivery).

A tenant who can make the service send a request can aim it at the service's own neighbours:
loopback ports (Redis, Postgres), the private network, the cloud metadata endpoint. So every
such request goes through `send`, and every URL a tenant stores is first checked with
`check_url`:

- the URL is absolute `https` (`http` only when the operator allows it; no other scheme ever), has
  no userinfo, no control characters and at most `MAX_URL_CHARS` characters;
- every address the host resolves to is public (not loopback, private, link-local, multicast,
  unspecified, reserved, shared/CGNAT, documentation or metadata; IPv4-mapped, NAT64 and 6to4
  IPv6 forms are judged by the IPv4 address they carry) unless the operator allows private ones;
- `send` checks again at connect time and connects to the very address it checked (a name that
  resolved public when the URL was stored but loopback now, DNS rebinding, is refused), keeping
  the name for TLS (SNI, certificate) and the Host header;
- redirects are never followed (a 3xx is returned as it is), the answer's body is capped
  (`max_body_bytes`; reading stops there and the connection is closed) and the whole exchange
  has one time limit.

A caller that sends often (the webhook delivery worker, the Facebook fetcher) passes its own
`Connections`: HTTP/1.1 keep-alive connections (h11 parses, over an asyncio transport) reused
across sends, kept per (scheme, host, port, checked address, policy). The name is still
resolved and every address checked on every send, and a kept connection only ever goes to the
address it was opened to (checked then): a name that now resolves elsewhere gets a new
connection to the new, checked address, or a refusal. The time limit and the body cap hold per
exchange; a connection is kept only after a complete exchange, and one the server closed (or
sent stray bytes on) is dropped; if the server closes it just as a request goes out, the request
is sent once more on a new connection (at least once, as every delivery is). Without
`Connections`, `send` opens a connection for the one request and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import h11
import httpx

MAX_URL_CHARS = 2048

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class OutboundPolicy:
    allow_http: bool = False  # operator setting: plain http allowed (tests, an internal proxy)
    allow_private: bool = False  # operator setting: loopback/private addresses allowed
    max_body_bytes: int = 1 << 20
    timeout_s: float = 10.0  # the whole exchange: resolve, connect, TLS, send, read


class OutboundRefused(Exception):
    """The URL or the address it leads to is not one the service may call."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OutboundError(Exception):
    """The exchange failed: network error, timeout, or an answer larger than the cap."""


class OutboundTimeout(OutboundError):
    """The exchange did not complete within the policy's time limit."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_s: float
    truncated: bool = False  # `keep_bytes` was asked and the body ran past `max_body_bytes`


# Named so that a refusal says which rule: checked in this order.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _embedded_v4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, Teredo, compatible)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=4096)
def address_problem(ip: Address) -> str | None:
    """Why `ip` is not a public address the service may call (None when it is)."""
    inner = _embedded_v4(ip)
    if inner is not None:
        why = address_problem(inner)
        return f"{why} (as {ip})" if why else None
    if ip in _METADATA:
        return f"address {ip} is a cloud metadata endpoint"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared (carrier-grade NAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
        ("not globally routable", isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL),
    )
    for name, hit in checks:
        if hit:
            return f"address {ip} is {name}"
    return None


async def _system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Tests swap this for a fake (DNS rebinding); everything else uses the system resolver.
resolve: Resolver = _system_resolve


def _parse(url: str, policy: OutboundPolicy) -> httpx.URL:
    if not isinstance(url, str) or not url:
        raise OutboundRefused("a URL is required")
    return _parse_url(url, policy.allow_http)


@functools.lru_cache(maxsize=4096)
def _parse_url(url: str, allow_http: bool) -> httpx.URL:
    """The checks of `_parse` that depend on the URL alone, remembered (a worker sends to the
    same few thousand URLs again and again; httpx's parser cost a tenth of a send)."""
    if not url:
        raise OutboundRefused("a URL is required")
    if len(url) > MAX_URL_CHARS:
        raise OutboundRefused(f"URL longer than {MAX_URL_CHARS} characters")
    if _URL_BAD.search(url):
        raise OutboundRefused("URL contains spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except Exception:
        raise OutboundRefused("not a valid URL") from None
    scheme = parsed.scheme
    if scheme not in ("https", "http"):
        raise OutboundRefused("https only" if not allow_http else "http(s) only")
    if scheme == "http" and not allow_http:
        raise OutboundRefused("https only")
    if not parsed.host:
        raise OutboundRefused("URL without a host")
    if parsed.userinfo:
        raise OutboundRefused("URL with user information (user:password@) is not allowed")
    return parsed


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _addresses(host: str, port: int, policy: OutboundPolicy) -> list[str]:
    """The addresses to connect to, every one checked (any refused address refuses the name:
    a name that mixes public and private answers is aimed at someone)."""
    lit = _literal(host)
    if lit is not None:
        found = [str(lit)]
    else:
        try:
            found = await resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise OutboundError(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise OutboundError(f"cannot resolve {host}")
    if not policy.allow_private:
        for raw in found:
            ip = _literal(raw.split("%", 1)[0])
            why = address_problem(ip) if ip is not None else f"{raw[:60]!r} is not an address"
            if why:
                raise OutboundRefused(why if lit is not None else f"{host}: {why}")
    return found


async def check_url(url: str, policy: OutboundPolicy) -> None:
    """Whether the service may call `url` (at creation time); raises OutboundRefused.

    A name that cannot be resolved now is not refused (it may exist later): `send` checks
    again at connect time, where it counts."""
    parsed = _parse(url, policy)
    with contextlib.suppress(OutboundError, TimeoutError):
        await asyncio.wait_for(_addresses(parsed.host, parsed.port or 443, policy), 5.0)


_Key = tuple[bytes, bytes, int, str, OutboundPolicy]  # scheme, host, port, checked address, policy
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers


class _Stale(Exception):
    """A kept connection the server had closed as the request went out."""


class _Http1(asyncio.Protocol):
    """One HTTP/1.1 connection: h11 (the parser) over an asyncio transport. Reading is pulled:
    the transport is paused between reads, so an answer is never buffered past what is asked."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.busy = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.pause_reading()  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the connection is not fit to reuse
            self.close()
            return
        self.h11.receive_data(data)
        self._pause_and_wake()

    def eof_received(self) -> bool:
        if not self.busy:  # the server closed a kept connection: not fit to reuse
            self.close()
            return False
        self.h11.receive_data(b"")
        self._pause_and_wake()
        return False

    def watch(self) -> None:
        """Kept idle: read again, so a close or stray bytes from the server are noticed."""
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pause_and_wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _pause_and_wake(self) -> None:
        if self.transport is not None and not self.closed:
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    def fit(self) -> bool:
        return not self.closed and self.h11.our_state is h11.IDLE and not self.busy

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionResetError("the connection is closed")
        self.transport.write(data)
        if self._writable is not None:
            await self._writable

    async def event(self) -> Any:
        """The next h11 event of the answer, reading more when h11 needs it."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.closed:
                self.h11.receive_data(b"")  # what the transport lost cannot come now
                continue
            self._readable = asyncio.get_running_loop().create_future()
            assert self.transport is not None
            self.transport.resume_reading()
            await self._readable


class _Origin:
    """The idle connections to one checked address, and a cap on the open ones."""

    __slots__ = ("busy", "idle", "slots")

    def __init__(self, cap: int):
        self.idle: list[_Http1] = []
        self.slots = asyncio.Semaphore(cap)
        self.busy = 0


class Connections:
    """Keep-alive HTTP/1.1 connections for `send`, kept per (scheme, host, port, checked
    address, policy): at most `per_origin` open to one (more sends wait their turn, within their
    time limit), at most `idle` of them kept between sends, each for `idle_s`; at most
    `max_origins` origins remembered (the least recently used unbusy one is forgotten). A
    connection is only ever opened to an address `send` has just checked, and only reused for
    that same address. Owned by one event loop's caller, closed with `aclose()`."""

    def __init__(
        self,
        *,
        max_origins: int = 256,
        per_origin: int = 32,
        idle: int = 8,
        idle_s: float = 30.0,
    ):
        self._max_origins = max_origins
        self._per_origin = per_origin
        self._idle = idle
        self._idle_s = idle_s
        self._origins: OrderedDict[_Key, _Origin] = OrderedDict()
        self._idle_since: dict[_Http1, float] = {}

    def _origin(self, key: _Key) -> _Origin:
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(self._per_origin)
            extra = len(self._origins) - self._max_origins
            if extra > 0:
                unbusy = [k for k, o in self._origins.items() if o.busy == 0 and k != key]
                for old in unbusy[:extra]:
                    for conn in self._origins.pop(old).idle:
                        conn.close()
        self._origins.move_to_end(key)
        return origin

    async def _connect(self, key: _Key) -> _Http1:
        scheme, host, port, address, _ = key
        loop = asyncio.get_running_loop()
        tls = _ssl_context() if scheme == b"https" else None
        _, conn = await loop.create_connection(
            _Http1,
            address,  # the checked address itself
            port,
            ssl=tls,
            server_hostname=host.decode("ascii") if tls else None,  # the name: SNI, certificate
        )
        return conn

    def _take_idle(self, origin: _Origin) -> _Http1 | None:
        now = time.monotonic()
        while origin.idle:
            conn = origin.idle.pop()
            since = self._idle_since.pop(conn, now)
            if conn.fit() and now - since < self._idle_s:
                return conn
            conn.close()  # the server closed it (or sent what nobody asked), or it sat too long
        return None

    def _put_back(self, origin: _Origin, conn: _Http1) -> None:
        if conn.fit() and len(origin.idle) < self._idle:
            origin.idle.append(conn)
            self._idle_since[conn] = time.monotonic()
            conn.watch()
        else:
            conn.close()

    async def aclose(self) -> None:
        origins = list(self._origins.values())
        self._origins.clear()
        self._idle_since.clear()
        for origin in origins:
            for conn in origin.idle:
                conn.close()

    def open_connections(self) -> int:
        """Idle connections kept open now, over every origin (tests)."""
        return sum(1 for o in self._origins.values() for c in o.idle if c.fit())


def _headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _VALUE_BAD.search(value):
            raise OutboundRefused(f"header {name[:40]!r} has characters a header cannot have")
        try:
            out.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise OutboundRefused(f"header {name[:40]!r} is not Latin-1 text") from None
    return out


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f]")  # control characters but tab
_URL_BAD = re.compile(r"[\x00-\x20\x7f-\x9f]")  # spaces and control characters
_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()
    return _SSL


async def send(
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    connections: Connections | None = None,
    keep_bytes: int | None = None,
) -> OutboundResponse:
    """One request through the guard: refused (OutboundRefused) or failed (OutboundError), or
    the answer with at most `policy.max_body_bytes` of body. Redirects are not followed.

    `connections`: reuse keep-alive connections (see `Connections`). `keep_bytes`: the caller
    wants only the first `keep_bytes` of the body; an answer larger than `max_body_bytes` is then
    not an error: reading stops there, the connection is closed, the answer is `truncated`."""
    parsed = _parse(url, policy)
    started = time.monotonic()
    request_headers = _headers(headers or {})
    if not any(k.lower() == b"user-agent" for k, _ in request_headers):
        request_headers.append((b"User-Agent", b"lead2inbound"))
    if content is not None and not any(k.lower() == b"content-length" for k, _ in request_headers):
        request_headers.append((b"Content-Length", str(len(content)).encode()))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not any(k.lower() == b"host" for k, _ in request_headers):
        host = parsed.raw_host if b":" not in parsed.raw_host else b"[%b]" % parsed.raw_host
        request_headers.insert(
            0, (b"Host", host if parsed.port is None else b"%b:%d" % (host, port))
        )
    target = parsed.raw_path  # path and query, already percent-encoded
    request = h11.Request(method=method.upper(), target=target, headers=request_headers)
    own = connections is None
    conns = Connections(max_origins=4, per_origin=1, idle=0) if connections is None else connections
    try:
        async with asyncio.timeout(policy.timeout_s):
            last: Exception | None = None
            for address in await _addresses(parsed.host, port, policy):
                key = (parsed.raw_scheme, parsed.raw_host, port, address, policy)
                origin = conns._origin(key)
                origin.busy += 1
                try:
                    async with origin.slots:
                        conn = conns._take_idle(origin)
                        if conn is not None:
                            try:
                                return await _exchange(conns, origin, conn, request, content,
                                                       policy, keep_bytes, started)  # fmt: skip
                            except _Stale:
                                pass  # closed by the server as we sent: once, on a new one
                        try:
                            conn = await conns._connect(key)
                        except ssl.SSLError:
                            raise
                        except OSError as exc:
                            last = exc  # this address does not answer: the next checked one
                            continue
                        return await _exchange(conns, origin, conn, request, content, policy,
                                               keep_bytes, started)  # fmt: skip
                finally:
                    origin.busy -= 1
            raise OutboundError(f"request failed (cannot connect to {parsed.host}: {last})"[:300])
    except OutboundRefused:
        raise
    except OutboundError:
        raise
    except TimeoutError:
        raise OutboundTimeout(f"no complete answer within {policy.timeout_s:g} s") from None
    except _Stale:
        raise OutboundError("request failed (the server closed the connection)") from None
    except Exception as exc:
        raise OutboundError(f"request failed ({type(exc).__name__}: {exc})"[:300]) from None
    finally:
        if own:
            await conns.aclose()


async def _exchange(
    conns: Connections,
    origin: _Origin,
    conn: _Http1,
    request: h11.Request,
    content: bytes | None,
    policy: OutboundPolicy,
    keep_bytes: int | None,
    started: float,
) -> OutboundResponse:
    """The request on `conn` and its answer; `conn` goes back to `origin` when it can be used
    again, and is closed otherwise (an error, a timeout, a body left unread)."""
    conn.busy = True
    done = False
    try:
        out = conn.h11.send(request) or b""
        if content:
            out += conn.h11.send(h11.Data(data=content)) or b""
        out += conn.h11.send(h11.EndOfMessage()) or b""
        try:
            await conn.write(out)
            head = await conn.event()
            while isinstance(head, h11.InformationalResponse):
                head = await conn.event()
        except (OSError, h11.RemoteProtocolError) as exc:
            raise _Stale() from exc
        if not isinstance(head, h11.Response):
            raise _Stale()
        answer, truncated = await _read(conn, head, policy, keep_bytes, started)
        if not truncated and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            done = True
        return answer
    finally:
        conn.busy = False
        if done:
            conns._put_back(origin, conn)
        else:
            conn.close()


async def _read(
    conn: _Http1, head: h11.Response, policy: OutboundPolicy, keep_bytes: int | None,
    started: float,
) -> tuple[OutboundResponse, bool]:  # fmt: skip
    cap = policy.max_body_bytes
    answer: dict[str, str] = {}
    for key, value in head.headers:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        answer[name] = f"{answer[name]}, {text}" if name in answer else text
    declared = answer.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > cap
    if too_big and keep_bytes is None:
        raise OutboundError(f"answer larger than {cap} bytes ({declared} declared)")
    chunks: list[bytes] = []
    size = 0
    truncated = False
    while True:
        event = await conn.event()
        if isinstance(event, h11.EndOfMessage):
            break
        if not isinstance(event, h11.Data):
            raise OutboundError(f"the answer ended early ({type(event).__name__})")
        chunk = bytes(event.data)
        size += len(chunk)
        if keep_bytes is None:
            if size > cap:
                raise OutboundError(f"answer larger than {cap} bytes")
            chunks.append(chunk)
            continue
        if size - len(chunk) < keep_bytes:
            chunks.append(chunk)
        if size > cap or (too_big and size >= keep_bytes):
            truncated = True  # the rest is not read: the connection is closed
            break
    body = b"".join(chunks)
    response = OutboundResponse(
        status=head.status_code,
        headers=answer,
        body=body if keep_bytes is None else body[:keep_bytes],
        elapsed_s=time.monotonic() - started,
        truncated=truncated,
    )
    return response, truncated
