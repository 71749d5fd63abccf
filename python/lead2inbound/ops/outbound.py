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
`Connections`: keep-alive connections reused across sends, one small pool per (scheme, host,
port, checked address, policy). The name is still resolved and every address checked on every
send, and a pooled connection only ever goes to the address it was opened to (checked then):
a name that now resolves elsewhere gets a new connection to the new, checked address, or a
refusal. The time limit and the body cap hold per exchange. Without `Connections`, `send` opens
a connection for the one request and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
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
    if len(url) > MAX_URL_CHARS:
        raise OutboundRefused(f"URL longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise OutboundRefused("URL contains spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except Exception:
        raise OutboundRefused("not a valid URL") from None
    scheme = parsed.scheme
    if scheme not in ("https", "http"):
        raise OutboundRefused("https only" if not policy.allow_http else "http(s) only")
    if scheme == "http" and not policy.allow_http:
        raise OutboundRefused("https only")
    if not parsed.host:
        raise OutboundRefused("URL without a host")
    if parsed.userinfo:
        raise OutboundRefused("URL with user information (user:password@) is not allowed")
    return parsed


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
            ip = ipaddress.ip_address(raw.split("%", 1)[0])
            why = address_problem(ip)
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


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to one address, checked before the pool that uses it was made, whatever host
    httpcore asks for (the name is kept for TLS and the Host header)."""

    def __init__(self, address: str):
        self._address = address
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(
            self._address, port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_Key = tuple[bytes, bytes, int, str, OutboundPolicy]


class Connections:
    """Keep-alive connections for `send`, one httpcore pool per (scheme, host, port, checked
    address, policy): at most `per_origin` connections each (`idle` of them kept open for
    `idle_s`), at most `max_origins` pools (the least recently used idle one is closed).
    Owned by one event loop's caller, closed with `aclose()`."""

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
        self._pools: OrderedDict[_Key, httpcore.AsyncConnectionPool] = OrderedDict()
        self._busy: dict[_Key, int] = {}

    async def _acquire(self, key: _Key) -> httpcore.AsyncConnectionPool:
        pool = self._pools.get(key)
        if pool is None:
            scheme, _, _, address, _ = key
            pool = httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context() if scheme == b"https" else None,
                max_connections=self._per_origin,
                max_keepalive_connections=self._idle,
                keepalive_expiry=self._idle_s,
                retries=0,
                network_backend=_PinnedBackend(address),
            )
            self._pools[key] = pool
        self._pools.move_to_end(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        await self._evict()
        return pool

    def _release(self, key: _Key) -> None:
        left = self._busy.get(key, 1) - 1
        if left > 0:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)

    async def _evict(self) -> None:
        idle = [k for k in self._pools if k not in self._busy]
        for key in idle[: max(0, len(self._pools) - self._max_origins)]:
            await self._pools.pop(key).aclose()

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()

    def open_connections(self) -> int:
        """Connections open now, over every pool (tests)."""
        return sum(
            1 for pool in self._pools.values() for c in pool.connections if not c.is_closed()
        )


def _headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or any(ord(c) < 0x20 and c != "\t" for c in value):
            raise OutboundRefused(f"header {name[:40]!r} has characters a header cannot have")
        try:
            out.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise OutboundRefused(f"header {name[:40]!r} is not Latin-1 text") from None
    return out


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
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
    core_url = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    own = connections is None
    conns = Connections(max_origins=4, per_origin=1, idle=0) if connections is None else connections
    try:
        async with asyncio.timeout(policy.timeout_s):
            last: Exception | None = None
            for address in await _addresses(parsed.host, port, policy):
                key = (parsed.raw_scheme, parsed.raw_host, port, address, policy)
                pool = await conns._acquire(key)
                try:
                    return await _exchange(
                        pool, method, core_url, request_headers, content, policy, keep_bytes,
                        started,
                    )  # fmt: skip
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    last = exc  # this address does not answer: the next checked one
                finally:
                    conns._release(key)
            raise OutboundError(f"request failed (cannot connect to {parsed.host}: {last})"[:300])
    except OutboundRefused:
        raise
    except OutboundError:
        raise
    except (TimeoutError, httpcore.TimeoutException):
        raise OutboundTimeout(f"no complete answer within {policy.timeout_s:g} s") from None
    except Exception as exc:
        raise OutboundError(f"request failed ({type(exc).__name__}: {exc})"[:300]) from None
    finally:
        if own:
            await conns.aclose()


async def _exchange(
    pool: httpcore.AsyncConnectionPool,
    method: str,
    url: httpcore.URL,
    headers: list[tuple[bytes, bytes]],
    content: bytes | None,
    policy: OutboundPolicy,
    keep_bytes: int | None,
    started: float,
) -> OutboundResponse:
    cap = policy.max_body_bytes
    async with pool.stream(
        method.upper().encode("ascii"), url, headers=headers, content=content or b""
    ) as resp:
        answer: dict[str, str] = {}
        for key, value in resp.headers:
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
        async for chunk in resp.aiter_stream():
            size += len(chunk)
            if keep_bytes is None:
                if size > cap:
                    raise OutboundError(f"answer larger than {cap} bytes")
                chunks.append(chunk)
                continue
            if size - len(chunk) < keep_bytes:
                chunks.append(chunk)
            if size > cap or (too_big and size >= keep_bytes):
                truncated = True  # leaving the stream unread closes the connection
                break
        body = b"".join(chunks)
        return OutboundResponse(
            status=resp.status,
            headers=answer,
            body=body if keep_bytes is None else body[:keep_bytes],
            elapsed_s=time.monotonic() - started,
            truncated=truncated,
        )
