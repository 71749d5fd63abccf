"""The outbound-request guard (ops/outbound.py) against real local servers on 127.0.0.1: what it
refuses at check time and at connect time (DNS rebinding through a fake resolver), redirects
returned not followed, a huge answer cut at the cap without buffering it, a slow answer cut at
the time limit, TLS keeping the name (SNI, certificate) while connecting to the checked
address, and keep-alive connections (`Connections`) reused only for the address they were
opened to."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead2inbound.ops import outbound
from lead2inbound.ops.outbound import (
    Connections,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    address_problem,
    check_url,
    send,
)

LOCAL = OutboundPolicy(allow_http=True, allow_private=True, timeout_s=5.0)
PUBLIC_HTTP = OutboundPolicy(allow_http=True, timeout_s=5.0)


class LocalServer:
    """A raw HTTP/1.1 server on 127.0.0.1 whose answer each test chooses."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.keep_alive = False  # answer several requests per connection (else close after one)
        self.connections = 0
        self.addresses: list[str] = []  # the local address each connection came in on
        self.requests: list[bytes] = []
        self.sent = 0
        self._server: asyncio.Server | None = None
        self.port = 0
        self.ssl: ssl.SSLContext | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> LocalServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        self._more: list[asyncio.Server] = []
        return self

    async def listen_also(self, host: str) -> None:
        """Listen on another loopback address, same port (a name with two addresses)."""
        self._more.append(await asyncio.start_server(self._serve, host, self.port, ssl=self.ssl))

    async def stop(self) -> None:
        assert self._server is not None
        for server in (self._server, *self._more):
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for server in (self._server, *self._more):
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.addresses.append(writer.get_extra_info("sockname")[0])
        self._writers.add(writer)
        try:
            while self.keep_alive and self.mode == "ok":
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
            if self.mode == "drop-second":  # answers keep-alive, then drops the next request
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                return
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            if self.mode == "ok":
                body = b'{"ok": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
                )
            elif self.mode == "redirect":
                writer.write(
                    b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/admin\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
            elif self.mode in ("huge", "huge-declared"):
                chunk = b"x" * 65536
                if self.mode == "huge-declared":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 419430400\r\n\r\n")
                else:  # no length: the body runs until the connection closes
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                for _ in range(400 * 16):  # 400 MiB if anyone reads it all
                    writer.write(chunk)
                    await writer.drain()
                    self.sent += len(chunk)
            elif self.mode == "slow":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in range(1000):
                    writer.write(b"x")
                    await writer.drain()
                    await asyncio.sleep(0.05)
            elif self.mode == "silent":
                await asyncio.sleep(3600)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv = await LocalServer().start()
    yield srv
    await srv.stop()


@pytest.fixture
def fake_dns(monkeypatch):
    """A resolver the test controls: name -> list of answers, one popped per lookup (the last
    one stays), so a name can resolve public first and loopback next (DNS rebinding)."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        queue = answers.get(host)
        if not queue:
            raise OSError(f"fake dns: no such name {host}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(outbound, "resolve", resolve)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


async def test_a_local_server_is_reached_only_when_the_operator_allows_private(server):
    url = f"http://127.0.0.1:{server.port}/v21.0/123?fields=a,b"
    resp = await send("GET", url, policy=LOCAL, headers={"Authorization": "Bearer t"})
    assert resp.status == 200 and resp.body == b'{"ok": true}'
    assert resp.headers["content-type"] == "application/json" and resp.elapsed_s < 5
    head = server.requests[0].decode()
    assert head.startswith("GET /v21.0/123?fields=a,b HTTP/1.1\r\n")
    assert "Authorization: Bearer t" in head and f"Host: 127.0.0.1:{server.port}" in head

    for policy in (PUBLIC_HTTP, OutboundPolicy()):
        with pytest.raises(OutboundRefused) as refused:
            await send("GET", url, policy=policy)
        assert refused.value.reason in ("address 127.0.0.1 is loopback", "https only")
        with pytest.raises(OutboundRefused):
            await check_url(url, policy)
    assert server.connections == 1  # the refused ones never connected
    await check_url(url, LOCAL)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/", "https only"),
        ("ftp://example.com/", "https only"),
        ("file:///etc/passwd", "https only"),
        ("gopher://127.0.0.1:6379/_INFO", "https only"),
        ("/relative/path", "https only"),
        ("https://user:pw@example.com/", "user information"),
        ("https://example.com/a\r\nX-Injected: 1", "control characters"),
        ("https://example.com/a b", "control characters"),
        ("https://example.com/" + "a" * 3000, "longer than"),
        ("https://127.0.0.1/", "loopback"),
        ("https://127.1/", "loopback"),
        ("https://2130706433/", "loopback"),
        ("https://0x7f000001/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://localhost:6379/", "loopback"),
        ("https://[::ffff:7f00:1]/", "loopback"),
        ("https://example.com\\@127.0.0.1/", "user information"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://100.100.100.200/", "metadata"),
        ("https://10.1.2.3/", "private"),
        ("https://192.168.0.1:6379/", "private"),
        ("https://172.16.5.4/", "private"),
        ("https://100.64.0.1/", "carrier-grade"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://169.254.1.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fc00::1]/", "private"),
        ("https://[64:ff9b::7f00:1]/", "loopback"),
        ("https://[2002:7f00:1::]/", "loopback"),
        ("https://240.0.0.1/", "reserved"),
        ("https://192.0.2.1/", "private"),
    ],
)
async def test_refused_urls(url, reason):
    with pytest.raises(OutboundRefused) as refused:
        await check_url(url, OutboundPolicy())
    assert reason in refused.value.reason, refused.value.reason
    with pytest.raises(OutboundRefused):
        await send("GET", url, policy=OutboundPolicy(timeout_s=2))


async def test_a_name_is_judged_by_every_address_it_resolves_to(fake_dns):
    fake_dns["mixed.test"] = [["93.184.215.14", "10.0.0.7"]]
    fake_dns["internal.test"] = [["127.0.0.1"]]
    fake_dns["public.test"] = [["93.184.215.14"]]
    with pytest.raises(OutboundRefused, match=r"mixed\.test: address 10\.0\.0\.7 is private"):
        await check_url("https://mixed.test/x", OutboundPolicy())
    with pytest.raises(OutboundRefused, match="loopback"):
        await check_url("https://internal.test/x", OutboundPolicy())
    await check_url("https://public.test/x", OutboundPolicy())
    await check_url("https://not-yet.test/x", OutboundPolicy())  # unresolvable now: send decides
    with pytest.raises(OutboundError, match="cannot resolve"):
        await send("GET", "https://not-yet.test/x", policy=OutboundPolicy())


async def test_dns_rebinding_is_refused_at_connect_time(server, fake_dns):
    fake_dns["rebind.test"] = [["93.184.215.14"], ["127.0.0.1"]]
    url = f"http://rebind.test:{server.port}/admin"
    await check_url(url, PUBLIC_HTTP)  # public when stored
    with pytest.raises(OutboundRefused, match=r"rebind\.test: address 127\.0\.0\.1 is loopback"):
        await send("GET", url, policy=PUBLIC_HTTP)  # loopback when fetched
    assert server.connections == 0


async def test_the_checked_address_is_the_one_connected_to_and_the_name_is_kept(server, fake_dns):
    fake_dns["graph.test"] = [["127.0.0.1"]]
    resp = await send("GET", f"http://graph.test:{server.port}/x", policy=LOCAL)
    assert resp.status == 200
    assert f"Host: graph.test:{server.port}" in server.requests[0].decode()
    assert fake_dns["lookups"] == ["graph.test"]  # type: ignore[comparison-overlap]


async def test_redirects_are_returned_not_followed(server):
    server.mode = "redirect"
    resp = await send("GET", f"http://127.0.0.1:{server.port}/", policy=LOCAL)
    assert resp.status == 302 and resp.headers["location"] == "http://127.0.0.1:1/admin"
    assert server.connections == 1


@pytest.mark.parametrize("mode", ["huge", "huge-declared"])
async def test_a_huge_answer_is_cut_at_the_cap_without_reading_it(server, mode):
    server.mode = mode
    started = time.monotonic()
    with pytest.raises(OutboundError, match="larger than 1048576 bytes"):
        await send("GET", f"http://127.0.0.1:{server.port}/", policy=LOCAL)
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.2)
    assert server.sent < 64 << 20  # the 400 MiB were never read (socket buffers at most)


@pytest.mark.parametrize("mode", ["slow", "silent"])
async def test_the_whole_exchange_has_one_time_limit(server, mode):
    server.mode = mode
    policy = OutboundPolicy(allow_http=True, allow_private=True, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(OutboundError, match=r"within 0\.5 s"):
        await send("GET", f"http://127.0.0.1:{server.port}/", policy=policy)
    assert time.monotonic() - started < 3


async def test_two_sends_to_one_receiver_use_one_connection(server):
    server.keep_alive = True
    conns = Connections()
    try:
        for _ in range(3):
            resp = await send("POST", f"http://127.0.0.1:{server.port}/h", policy=LOCAL,
                              content=b"{}", connections=conns)  # fmt: skip
            assert resp.status == 200 and resp.body == b"ok"
        assert server.connections == 1 and len(server.requests) == 3
        assert conns.open_connections() == 1
    finally:
        await conns.aclose()
    assert conns.open_connections() == 0


async def test_a_connection_the_server_closed_is_replaced_transparently(server):
    conns = Connections()  # the server answers keep-alive, then closes after each answer
    try:
        for _ in range(3):
            resp = await send("GET", f"http://127.0.0.1:{server.port}/", policy=LOCAL,
                              connections=conns)  # fmt: skip
            assert resp.status == 200
            await asyncio.sleep(0.05)  # its close arrives
        assert server.connections == 3
    finally:
        await conns.aclose()


async def test_a_kept_connection_closed_as_the_request_goes_out_is_tried_once_on_a_new_one(
    server,
):
    server.mode = "drop-second"
    conns = Connections()
    url = f"http://127.0.0.1:{server.port}/"
    try:
        assert (await send("GET", url, policy=LOCAL, connections=conns)).status == 200
        resp = await send("GET", url, policy=LOCAL, connections=conns)  # dropped, then again
        assert resp.status == 200 and resp.body == b"ok"
        assert server.connections == 2 and len(server.requests) == 3
    finally:
        await conns.aclose()


async def test_a_pooled_connection_is_not_reused_for_another_checked_address(server, fake_dns):
    await server.listen_also("127.0.0.2")
    server.keep_alive = True
    fake_dns["hooks.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    conns = Connections()
    try:
        for _ in range(3):
            resp = await send("GET", f"http://hooks.test:{server.port}/", policy=LOCAL,
                              connections=conns)  # fmt: skip
            assert resp.status == 200
    finally:
        await conns.aclose()
    # resolved (and checked) on every send; the second address got its own connection
    assert fake_dns["lookups"] == ["hooks.test"] * 3  # type: ignore[comparison-overlap]
    assert server.addresses == ["127.0.0.1", "127.0.0.2"]
    assert all(b"Host: hooks.test:" in r for r in server.requests)


async def test_a_pooled_connection_does_not_skip_the_check(server, fake_dns):
    """A connection to 127.0.0.1 kept open for a policy that allows it is no way around the
    check for a policy that does not: the name is resolved and judged on every send."""
    server.keep_alive = True
    fake_dns["hooks.test"] = [["127.0.0.1"]]
    conns = Connections()
    url = f"http://hooks.test:{server.port}/"
    try:
        assert (await send("GET", url, policy=LOCAL, connections=conns)).status == 200
        with pytest.raises(OutboundRefused, match="loopback"):
            await send("GET", url, policy=PUBLIC_HTTP, connections=conns)
        assert len(server.requests) == 1
    finally:
        await conns.aclose()


@pytest.mark.parametrize("mode", ["huge", "slow"])
async def test_the_cap_and_the_time_limit_hold_on_a_reused_connection(server, mode):
    policy = OutboundPolicy(allow_http=True, allow_private=True, timeout_s=0.5)
    conns = Connections()
    url = f"http://127.0.0.1:{server.port}/"
    try:
        assert (await send("GET", url, policy=policy, connections=conns)).status == 200
        server.mode = mode
        with pytest.raises(OutboundError, match=r"larger than|within 0\.5 s"):
            await send("GET", url, policy=policy, connections=conns)
        assert conns.open_connections() == 0  # the cut connection is not kept
    finally:
        await conns.aclose()


@pytest.mark.parametrize("mode", ["huge", "huge-declared"])
async def test_keep_bytes_takes_the_start_of_a_long_answer_and_stops_reading(server, mode):
    server.mode = mode
    conns = Connections()
    try:
        resp = await send("GET", f"http://127.0.0.1:{server.port}/", policy=LOCAL,
                          connections=conns, keep_bytes=1024)  # fmt: skip
        assert resp.status == 200 and resp.body == b"x" * 1024 and resp.truncated
        assert conns.open_connections() == 0  # closed, not kept for the next send
    finally:
        await conns.aclose()
    await asyncio.sleep(0.2)
    assert server.sent < 64 << 20


async def test_a_closed_port_is_an_outbound_error():
    with pytest.raises(OutboundError, match="request failed"):
        await send("GET", "http://127.0.0.1:1/", policy=LOCAL)


def _tls_pair(name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name` and a client context trusting it."""
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with tempfile.NamedTemporaryFile() as cf, tempfile.NamedTemporaryFile() as kf:
        cf.write(pem)
        cf.flush()
        kf.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        kf.flush()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cf.name, kf.name)
    client_ctx = ssl.create_default_context(cadata=pem.decode())
    return server_ctx, client_ctx


async def test_tls_checks_the_certificate_for_the_name_not_the_address(fake_dns, monkeypatch):
    server_ctx, client_ctx = _tls_pair("graph.test")
    monkeypatch.setattr(outbound, "_SSL", client_ctx)
    srv = LocalServer()
    srv.ssl = server_ctx
    await srv.start()
    try:
        fake_dns["graph.test"] = [["127.0.0.1"]]
        fake_dns["other.test"] = [["127.0.0.1"]]
        policy = OutboundPolicy(allow_private=True, timeout_s=5)
        resp = await send("GET", f"https://graph.test:{srv.port}/v21.0/1", policy=policy)
        assert resp.status == 200
        with pytest.raises(OutboundError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await send("GET", f"https://other.test:{srv.port}/v21.0/1", policy=policy)
    finally:
        await srv.stop()


V4_NOT_PUBLIC = st.one_of(
    *(
        st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)
        for net in map(
            ipaddress.ip_network,
            [
                "127.0.0.0/8",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "100.64.0.0/10",
                "0.0.0.0/8",
                "224.0.0.0/4",
                "240.0.0.0/4",
            ],
        )
    )
)


@given(V4_NOT_PUBLIC)
def test_ipv6_forms_of_a_refused_ipv4_address_are_refused(ip):
    assert address_problem(ip)
    forms = [
        ipaddress.IPv6Address(f"::ffff:{ip}"),  # IPv4-mapped
        ipaddress.IPv6Address((0x64FF9B << 96) | int(ip)),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80)),  # 6to4
    ]
    for form in forms:
        assert address_problem(form), form


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_an_ipv4_address_and_its_mapped_form_get_one_verdict(ip):
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert (address_problem(ip) is None) == (address_problem(mapped) is None)
