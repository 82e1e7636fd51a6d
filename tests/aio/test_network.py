"""evloop.aio's connections, servers, upgrades and socket calls
(network.py, servers.py, upgrades.py, socks.py).

Each test holds the loop to asyncio's documented argument rules and
behaviour (the event loop reference; CPython's asyncio/base_events.py,
selector_events.py and unix_events.py where the documentation is silent).
Loopback (127.0.0.1, ::1) and Unix sockets in tmp_path only; every server
and transport made is closed before its test ends."""

import asyncio
import errno
import io
import os
import socket
import sys
import ssl
import uuid

import pytest
import trustme

import evloop.aio.servers
from evloop.aio import EventLoop
from tests.aio.test_stream import connected  # a transport on one end, a plain socket on the other
from tests.aio.test_stream import read_until_eof

pytestmark = pytest.mark.timeout(30)


def run(main, debug=False):
    loop = EventLoop()
    loop.set_debug(debug)
    try:
        return loop.run_until_complete(asyncio.wait_for(main, 20))
    finally:
        loop.close()


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback (::1) here")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder(asyncio.Protocol):
    def __init__(self):
        loop = asyncio.get_running_loop()
        self.data = bytearray()
        self.lost = loop.create_future()
        self.made = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost.set_result(exc)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data.upper())


async def echo_once(address, family=socket.AF_INET):
    reader, writer = await asyncio.open_connection(*address) if family != socket.AF_UNIX \
        else await asyncio.open_unix_connection(address)
    writer.write(b"ping")
    reply = await reader.readexactly(4)
    writer.close()
    await writer.wait_closed()
    return reply


@pytest.fixture(scope="module")
def certs():
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


# -- create_connection ------------------------------------------------------------------------

def test_create_connection_binds_its_local_address():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        async with server:
            local_port = free_port()
            transport, protocol = await loop.create_connection(
                Recorder, *server.sockets[0].getsockname(), local_addr=("127.0.0.1", local_port))
            sockname = transport.get_extra_info("sockname")
            transport.close()
            await protocol.lost
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                with pytest.raises(OSError, match="error while attempting to bind on address"):
                    await loop.create_connection(Recorder, *server.sockets[0].getsockname(),
                                                 local_addr=taken.getsockname())
            with pytest.raises(OSError, match="no matching local address"):
                await loop.create_connection(Recorder, *server.sockets[0].getsockname(),
                                             local_addr=("::1", 0))
        return sockname, local_port
    sockname, local_port = run(main())
    assert sockname == ("127.0.0.1", local_port)


def refused_addresses(count):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", free_port()))
            for _ in range(count)]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11's")
def test_every_address_failing_is_one_error_or_multiple_exceptions():
    async def main():
        loop = asyncio.get_running_loop()
        answers = []

        async def getaddrinfo(host, port, **kwargs):
            return answers.pop(0)
        loop.getaddrinfo = getaddrinfo
        answers.append(refused_addresses(2))
        with pytest.raises(OSError) as several:
            await loop.create_connection(Recorder, "two.invalid", 80)
        answers.append(refused_addresses(1))
        with pytest.raises(ConnectionRefusedError) as one:
            await loop.create_connection(Recorder, "one.invalid", 80)
        answers.append(refused_addresses(2))
        with pytest.raises(ExceptionGroup) as group:
            await loop.create_connection(Recorder, "two.invalid", 80, all_errors=True)
        answers.append([])
        with pytest.raises(OSError, match=r"getaddrinfo\('none.invalid'\) returned empty list"):
            await loop.create_connection(Recorder, "none.invalid", 80)
        return several.value, one.value, group.value
    several, one, group = run(main())
    assert str(several).startswith("Multiple exceptions: ")
    assert str(several).count("Connect call failed") == 2
    assert one.errno == errno.ECONNREFUSED
    assert len(group.exceptions) == 2


def test_create_connection_argument_rules():
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_connection(Recorder, "127.0.0.1", 1, server_hostname="x")
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful"):
            await loop.create_connection(Recorder, "127.0.0.1", 1, ssl_handshake_timeout=1)
        with pytest.raises(ValueError, match="ssl_shutdown_timeout is only meaningful"):
            await loop.create_connection(Recorder, "127.0.0.1", 1, ssl_shutdown_timeout=1)
        with pytest.raises(ValueError, match="You must set server_hostname"):
            await loop.create_connection(Recorder, ssl=True, sock=socket.socket())
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock"):
                await loop.create_connection(Recorder, "127.0.0.1", 1, sock=sock)
        with socket.socket(type=socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.create_connection(Recorder, sock=sock)
        with pytest.raises(ValueError, match="host and port was not specified"):
            await loop.create_connection(Recorder)
    run(main())


def test_create_connection_with_tls_and_a_connected_socket(certs):
    server_context, client_context = certs

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_context)
        async with server:
            address = server.sockets[0].getsockname()
            transport, protocol = await loop.create_connection(
                Recorder, *address, ssl=client_context, server_hostname="127.0.0.1")
            transport.write(b"secret")
            while len(protocol.data) < 6:
                await asyncio.sleep(0.01)
            cipher = transport.get_extra_info("cipher")
            transport.close()
            await protocol.lost
            sock = socket.create_connection(address)
            transport, protocol = await loop.create_connection(
                Recorder, sock=sock, ssl=client_context, server_hostname="127.0.0.1")
            transport.close()
            await protocol.lost
        return bytes(protocol.data), cipher
    data, cipher = run(main())
    assert cipher is not None


# -- create_server and Server -------------------------------------------------------------------

@needs_ipv6
def test_create_server_binds_a_list_of_hosts_with_reuse_port_and_a_backlog():
    async def main():
        loop = asyncio.get_running_loop()
        port = free_port()
        server = await loop.create_server(Echo, ["127.0.0.1", "::1"], port, reuse_port=True,
                                          backlog=5, keep_alive=True)
        async with server:
            names = sorted(s.getsockname()[0] for s in server.sockets)
            options = [(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT),
                        s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
                       for s in server.sockets]
            six = [s for s in server.sockets if s.family == socket.AF_INET6][0]
            v6only = six.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            # A second server on the same port: allowed by SO_REUSEPORT on both.
            twin = await loop.create_server(Echo, "127.0.0.1", port, reuse_port=True)
            twin.close()
            await twin.wait_closed()
            replies = [await echo_once(("127.0.0.1", port)), await echo_once(("::1", port))]
        return names, options, v6only, replies
    names, options, v6only, replies = run(main())
    assert names == ["127.0.0.1", "::1"]
    assert all(reuse and keepalive for reuse, keepalive in options)
    assert v6only
    assert replies == [b"PING", b"PING"]


def test_create_server_refuses_an_address_in_use_and_bad_arguments():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(OSError, match="error while attempting to bind on address") as e:
                await loop.create_server(Echo, *taken.getsockname(), reuse_address=False)
            assert e.value.errno == errno.EADDRINUSE
            with pytest.raises(ValueError, match="host/port and sock"):
                await loop.create_server(Echo, "127.0.0.1", 0, sock=taken)
        with pytest.raises(TypeError, match="ssl argument must be an SSLContext"):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl=True)
        with pytest.raises(ValueError, match="Neither host/port nor sock"):
            await loop.create_server(Echo)
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful"):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl_handshake_timeout=1)
    run(main())


def test_a_server_on_a_given_socket_started_later():
    async def main():
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await loop.create_server(Echo, sock=sock, start_serving=False)
        assert not server.is_serving() and server.get_loop() is loop
        assert "sockets=" in repr(server)
        await server.start_serving()
        await server.start_serving()  # serving already: nothing
        assert server.is_serving()
        reply = await echo_once(sock.getsockname())
        server.close()
        server.close()  # twice is once
        await server.wait_closed()
        await server.wait_closed()
        return reply, server.sockets, server.is_serving()
    assert run(main()) == (b"PING", (), False)


def test_serve_forever_cancelled_closes_the_server():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        address = server.sockets[0].getsockname()
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already being awaited on serve_forever"):
            await server.serve_forever()
        reply = await echo_once(address)
        serving.cancel()
        await asyncio.wait([serving])  # (not awaited itself: a timeout's cancel would hide)
        assert serving.cancelled()
        closed = not server.is_serving() and server.sockets == ()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*address)
        return reply, closed
    assert run(main()) == (b"PING", True)


def test_closing_a_server_ends_serve_forever_and_wait_closed_waits_for_its_clients():
    async def main():
        loop = asyncio.get_running_loop()
        made = []
        server = await loop.create_server(lambda: made.append(Recorder()) or made[-1],
                                          "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        serving = asyncio.ensure_future(server.serve_forever())
        clients = [await asyncio.open_connection(*address) for _ in range(2)]
        while len(made) < 2:
            await asyncio.sleep(0.01)
        await asyncio.gather(*(p.made for p in made))
        server.close()  # serve_forever ends, waiting (as wait_closed does) for the clients
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        still_waiting = not waiting.done() and not serving.done()  # two clients still open
        server.close_clients()
        await waiting
        assert serving.cancelled()
        lost = [await p.lost for p in made]
        for _, writer in clients:
            writer.close()
            await writer.wait_closed()
        return still_waiting, lost
    still_waiting, lost = run(main())
    assert still_waiting and lost == [None, None]


def test_abort_clients_aborts_each_connection():
    async def main():
        loop = asyncio.get_running_loop()
        made = []
        async with await loop.create_server(lambda: made.append(Recorder()) or made[-1],
                                            "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            while not made:
                await asyncio.sleep(0.01)
            await made[0].made
            server.abort_clients()
            lost = await made[0].lost
            eof = await reader.read()
            writer.close()
            await writer.wait_closed()
        return lost, eof, server.is_serving()
    assert run(main()) == (None, b"", False)  # async with closed it


def test_a_protocol_factory_that_raises_is_reported_and_the_server_goes_on():
    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda _, context: contexts.append(context))
        factories = iter([lambda: 1 / 0, Echo])
        server = await loop.create_server(lambda: next(factories)(), "127.0.0.1", 0)
        async with server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address)
            refused = await reader.read()
            writer.close()
            await writer.wait_closed()
            reply = await echo_once(address)
        return contexts, refused, reply
    contexts, refused, reply = run(main())
    assert [c["message"] for c in contexts] == [
        "Error on transport creation for incoming connection"]
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)
    assert refused == b"" and reply == b"PING"


class OutOfDescriptorsOnce(socket.socket):
    """A listener whose first accept() fails as a process out of descriptors does."""

    failed = False

    def accept(self):
        if not type(self).failed:
            type(self).failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_accept_out_of_descriptors_is_reported_and_retried(monkeypatch):
    monkeypatch.setattr(evloop.aio.servers, "ACCEPT_RETRY_DELAY", 0.01)

    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda _, context: contexts.append(context))
        listener = OutOfDescriptorsOnce()
        listener.bind(("127.0.0.1", 0))
        async with await loop.create_server(Echo, sock=listener) as server:
            reply = await echo_once(server.sockets[0].getsockname())
        return contexts, reply
    contexts, reply = run(main())
    assert [c["message"] for c in contexts] == ["socket.accept() out of system resource"]
    assert contexts[0]["exception"].errno == errno.EMFILE
    assert reply == b"PING"  # accepted after the pause


# -- Unix servers and connections ---------------------------------------------------------------

def test_create_unix_server_replaces_a_stale_socket_file(tmp_path):
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays: a server that died without cleaning up

    async def main():
        loop = asyncio.get_running_loop()
        async with await loop.create_unix_server(Echo, path) as server:
            reply = await echo_once(path, socket.AF_UNIX)
            transport, protocol = await loop.create_unix_connection(Recorder, path)
            peer = transport.get_extra_info("peername")
            transport.close()
            await protocol.lost
        return reply, peer, server.sockets
    reply, peer, sockets = run(main())
    assert reply == b"PING" and peer == path and sockets == ()


def test_a_unix_servers_socket_file_is_removed_at_close_unless_replaced(tmp_path):
    """cleanup_socket (Python 3.13's, by default there; asked for here on every Python)."""
    removed, replaced, kept = (str(tmp_path / name) for name in ("a.sock", "b.sock", "c.sock"))

    async def main():
        loop = asyncio.get_running_loop()
        first = await loop.create_unix_server(Echo, removed, cleanup_socket=True)
        second = await loop.create_unix_server(Echo, replaced, cleanup_socket=True)
        third = await loop.create_unix_server(Echo, kept, cleanup_socket=False)
        os.unlink(replaced)
        with open(replaced, "w") as other:  # another file took the path since
            other.write("not ours")
        assert os.path.exists(removed)
        for server in (first, second, third):
            server.close()
            await server.wait_closed()
    run(main())
    assert not os.path.exists(removed)
    assert open(replaced).read() == "not ours"  # the inode differs: left alone
    assert os.path.exists(kept)


def test_create_unix_server_cleans_up_by_default_where_python_does(tmp_path):
    path = str(tmp_path / "s.sock")

    async def main():
        server = await asyncio.get_running_loop().create_unix_server(Echo, path)
        server.close()
        await server.wait_closed()
    run(main())
    assert os.path.exists(path) == (sys.version_info < (3, 13))


def test_create_unix_server_refuses_a_path_that_is_not_a_socket(tmp_path):
    path = tmp_path / "plain-file"
    path.write_text("not a socket")

    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(Echo, str(path))
        return info.value
    error = run(main())
    assert error.errno == errno.EADDRINUSE and "is already in use" in str(error)
    assert path.read_text() == "not a socket"  # only a socket file is ever removed


def test_an_abstract_address_in_use_is_refused():
    # Linux's abstract namespace has no file to remove: a live one stays and refuses.
    name = f"\0evloop-test-{uuid.uuid4().hex}"

    async def main():
        loop = asyncio.get_running_loop()
        async with await loop.create_unix_server(Echo, name):
            with pytest.raises(OSError, match="is already in use"):
                await loop.create_unix_server(Echo, name)
    run(main())


def test_unix_argument_rules(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
            with pytest.raises(ValueError, match="path and sock"):
                await loop.create_unix_server(Echo, str(tmp_path / "x"), sock=unix)
            with pytest.raises(ValueError, match="path was not specified"):
                await loop.create_unix_server(Echo)
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_server(Echo, sock=tcp)
            with pytest.raises(TypeError, match="ssl argument"):
                await loop.create_unix_server(Echo, str(tmp_path / "x"), ssl=True)
            with pytest.raises(ValueError, match="path and sock"):
                await loop.create_unix_connection(Recorder, str(tmp_path / "x"), sock=unix)
            with pytest.raises(ValueError, match="no path and sock"):
                await loop.create_unix_connection(Recorder)
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_connection(Recorder, sock=tcp)
            with pytest.raises(ValueError, match="you have to pass server_hostname"):
                await loop.create_unix_connection(Recorder, str(tmp_path / "x"),
                                                  ssl=ssl.create_default_context())
            with pytest.raises(ValueError, match="server_hostname is only meaningful"):
                await loop.create_unix_connection(Recorder, str(tmp_path / "x"),
                                                  server_hostname="x")
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(Recorder, str(tmp_path / "nobody"))
    run(main())


def test_a_unix_server_on_a_given_socket_and_an_accepted_socket(tmp_path):
    path = str(tmp_path / "given.sock")

    async def main():
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        async with await loop.create_unix_server(Echo, sock=sock):
            client = socket.socket(socket.AF_UNIX)
            client.connect(path)
            transport, protocol = await loop.create_unix_connection(Recorder, sock=client)
            transport.write(b"abc")
            while len(protocol.data) < 3:
                await asyncio.sleep(0.01)
            transport.close()
            await protocol.lost
            upper = bytes(protocol.data)
        ours, theirs = socket.socketpair()
        with theirs:
            transport, protocol = await loop.connect_accepted_socket(Echo, ours)
            theirs.sendall(b"xyz")
            theirs.setblocking(False)
            echoed = await loop.sock_recv(theirs, 3)
            transport.close()
        return upper, echoed
    assert run(main()) == (b"ABC", b"XYZ")


# -- start_tls and sendfile ---------------------------------------------------------------------

def test_start_tls_upgrades_a_plain_connection(certs):
    server_context, client_context = certs

    async def main():
        loop = asyncio.get_running_loop()
        upgraded = loop.create_future()

        class StartsTls(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                assert data == b"STARTTLS"
                upgraded.set_result(asyncio.ensure_future(loop.start_tls(
                    self.transport, self, server_context, server_side=True)))

        server = await loop.create_server(StartsTls, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                Recorder, *server.sockets[0].getsockname())
            transport.write(b"STARTTLS")
            server_side = await upgraded
            tls = await loop.start_tls(transport, protocol, client_context,
                                       server_hostname="127.0.0.1")
            server_tls = await server_side
            server_tls.write(b"over tls")
            while len(protocol.data) < 8:
                await asyncio.sleep(0.01)
            version = tls.get_extra_info("ssl_object").version()
            with pytest.raises(TypeError, match="sslcontext is expected"):
                await loop.start_tls(tls, protocol, object())
            tls.close()
            server_tls.close()
            await protocol.lost
        return bytes(protocol.data), version
    data, version = run(main())
    assert data == b"over tls" and version.startswith("TLS")


def test_start_tls_and_sendfile_refuse_a_datagram_transport(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                           local_addr=("127.0.0.1", 0))
        try:
            with pytest.raises(TypeError, match="is not supported by start_tls"):
                await loop.start_tls(transport, asyncio.Protocol(), ssl.create_default_context())
            with open(tmp_path / "f", "wb+") as file:
                with pytest.raises(RuntimeError, match="sendfile is not supported"):
                    await loop.sendfile(transport, file)
        finally:
            transport.close()
    run(main())


@pytest.fixture
def content(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "content.bin"
    path.write_bytes(data)
    return path, data


def test_sendfile_sends_a_file_natively_with_offset_and_count(content):
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Recorder, tcp=True)
        # Small kernel buffers, so that the file cannot leave in one os.sendfile() call.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        with peer, open(path, "rb") as file:
            transport.write(b"head:")  # buffered bytes go first
            sending = asyncio.ensure_future(loop.sendfile(transport, file, 100, len(data)))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="sendfile is in progress"):
                transport.write(b"meanwhile")
            reading = asyncio.ensure_future(read_until_eof(peer))
            sent = await sending
            position = file.tell()
            assert transport.is_reading()  # resumed after
            transport.write(b":tail")
            transport.close()
            got = await reading
            await protocol.lost
        return sent, position, got
    sent, position, got = run(main())
    assert sent == len(data) - 100 and position == len(data)
    assert got == b"head:" + data[100:] + b":tail"


def test_sendfile_argument_rules(content, tmp_path):
    path, _ = content

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Recorder, tcp=True)
        with peer, open(path, "rb") as file:
            for kwargs, match in [({"count": 0}, "count must be a positive integer"),
                                  ({"offset": -1}, "offset must be a non-negative integer")]:
                with pytest.raises(ValueError, match=match):
                    await loop.sendfile(transport, file, **kwargs)
            with open(tmp_path / "text", "w") as text:
                with pytest.raises(ValueError, match="binary mode"):
                    await loop.sendfile(transport, text)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sendfile(transport, io.BytesIO(b"in memory"), fallback=False)
            # Not a file the kernel can send: read and written, in order.
            sent = await loop.sendfile(transport, io.BytesIO(b"0123456789"), 2, 5)
            transport.close()
            with pytest.raises(RuntimeError, match="Transport is closing"):
                await loop.sendfile(transport, file)
            got = await read_until_eof(peer)
            await protocol.lost
        return sent, got
    assert run(main()) == (5, b"23456")


def test_sendfile_falls_back_to_writing_over_tls(certs, content):
    server_context, client_context = certs
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        received = []

        async def collect(reader, writer):
            received.append(await reader.read())
            writer.close()
            await writer.wait_closed()
        server = await asyncio.start_server(collect, "127.0.0.1", 0, ssl=server_context)
        async with server:
            transport, protocol = await loop.create_connection(
                Recorder, *server.sockets[0].getsockname(), ssl=client_context,
                server_hostname="127.0.0.1")
            with open(path, "rb") as file:
                with pytest.raises(RuntimeError, match="fallback is disabled"):
                    await loop.sendfile(transport, file, fallback=False)
                sent = await loop.sendfile(transport, file, 10)
                position = file.tell()
            transport.close()
            await protocol.lost
            while not received:
                await asyncio.sleep(0.01)
        return sent, position, received[0]
    sent, position, got = run(main())
    assert sent == len(data) - 10 and position == len(data) and got == data[10:]


def test_sock_sendfile_with_offset_and_count_and_by_reading(content):
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair()
        with ours, peer:
            ours.setblocking(False)
            peer.setblocking(False)
            reading = asyncio.ensure_future(loop.sock_recv(peer, 1))
            with open(path, "rb") as file:
                native = asyncio.ensure_future(loop.sock_sendfile(ours, file, 7, 2 * 1024 * 1024))
                chunks = [await reading]
                while sum(map(len, chunks)) < 2 * 1024 * 1024:
                    chunks.append(await loop.sock_recv(peer, 256 * 1024))
                sent = await native
                position = file.tell()
            by_reading = await loop.sock_sendfile(ours, io.BytesIO(b"abcdef"), 1, 3)
            tail = await loop.sock_recv(peer, 10)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), fallback=False)
            with pytest.raises(ValueError, match="count must be"):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), count=-1)
            with pytest.raises(ValueError, match="offset must be"):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), offset=-1)
        with socket.socket(type=socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError, match="only SOCK_STREAM"):
                await loop.sock_sendfile(udp, io.BytesIO(b"x"))
        return sent, position, b"".join(chunks), by_reading, tail
    sent, position, got, by_reading, tail = run(main())
    assert sent == 2 * 1024 * 1024 and position == 7 + sent
    assert got == data[7:7 + sent]
    assert by_reading == 3 and tail == b"bcd"


# -- the sock_* calls and names -----------------------------------------------------------------

def test_getnameinfo_and_getaddrinfo():
    async def main():
        loop = asyncio.get_running_loop()
        name = await loop.getnameinfo(("127.0.0.1", 80),
                                      socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
        infos = await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        return name, infos
    name, infos = run(main())
    assert name == ("127.0.0.1", "80")
    assert infos == socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)


def test_the_sock_calls_wait_when_they_would_block():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            listener.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            client = socket.socket()
            client.setblocking(False)
            await loop.sock_connect(client, listener.getsockname())
            conn, address = await accepting
        with client, conn:
            assert address == client.getsockname() and conn.gettimeout() == 0
            receiving = asyncio.ensure_future(loop.sock_recv(conn, 5))
            into = bytearray(5)
            receiving_into = asyncio.ensure_future(loop.sock_recv_into(client, into))
            await asyncio.sleep(0)
            await loop.sock_sendall(client, b"hello")
            await loop.sock_sendall(conn, b"world")
            big = os.urandom(8 * 1024 * 1024)  # more than the kernel holds: sendall waits
            sending = asyncio.ensure_future(loop.sock_sendall(client, big))
            got = await receiving, await receiving_into, bytes(into)
            received = bytearray()
            while len(received) < len(big):
                received += await loop.sock_recv(conn, 1024 * 1024)
            await sending
        return got, received == big
    assert run(main()) == ((b"hello", 5, b"world"), True)


def test_udp_sock_calls():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket(type=socket.SOCK_DGRAM) as a, \
                socket.socket(type=socket.SOCK_DGRAM) as b:
            for sock in (a, b):
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            waiting = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0)
            assert await loop.sock_sendto(a, b"one", b.getsockname()) == 3
            first = await waiting
            buf = bytearray(10)
            waiting_into = asyncio.ensure_future(loop.sock_recvfrom_into(b, buf))
            await asyncio.sleep(0)
            await loop.sock_sendto(a, b"two", b.getsockname())
            second = await waiting_into
            sender = a.getsockname()
        return first, second, bytes(buf[:3]), sender
    first, second, data, sender = run(main())
    assert first == (b"one", sender) and second == (3, sender) and data == b"two"


def test_sock_call_errors():
    async def main():
        loop = asyncio.get_running_loop()
        client = socket.socket()
        client.setblocking(False)
        with client:
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(client, ("127.0.0.1", free_port()))
        a, b = socket.socketpair()
        a.setblocking(False)
        with a:
            receiving = asyncio.ensure_future(loop.sock_recv(a, 10))
            await asyncio.sleep(0)
            receiving.cancel()  # a cancelled recv leaves no reader behind
            await asyncio.wait([receiving])
            assert receiving.cancelled()
            left = loop.remove_reader(a), loop.remove_writer(a)  # was anything still watched?
            b.close()
            assert await loop.sock_recv(a, 10) == b""
            with pytest.raises(BrokenPipeError):
                await loop.sock_sendall(a, b"x" * (8 * 1024 * 1024))
        context = ssl.create_default_context()
        with context.wrap_socket(socket.socket(), do_handshake_on_connect=False,
                                 server_hostname="x") as wrapped:
            with pytest.raises(TypeError, match="SSLSocket"):
                await loop.sock_recv(wrapped, 1)
        return left
    assert run(main()) == (False, False)


def test_in_debug_mode_a_blocking_socket_is_refused():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as blocking:
            with pytest.raises(ValueError, match="must be non-blocking"):
                await loop.sock_recv(blocking, 1)
    run(main(), debug=True)


@pytest.mark.parametrize("host, port", [
    ("127.0.0.1", 80), (b"127.0.0.1", "80"), ("127.0.0.1", None), ("127.0.0.1", b""),
    ("::1", 443), ("localhost", 80), ("127.0.0.1", "http"), ("127.0.0.1", 1.5), (None, 80),
])
def test_numeric_addresses_are_resolved_as_getaddrinfo_would(host, port):
    # A numeric host needs no thread, but must give getaddrinfo's own first answer;
    # anything else (a name, a service name, an odd port) is left to getaddrinfo.
    from evloop.aio.connecting import numeric_address
    known = numeric_address(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 6)
    numeric_host = host not in ("localhost", None)
    numeric_port = port is None or port == b"" or isinstance(port, int) or \
        (isinstance(port, (str, bytes)) and port.isdigit())
    if not (numeric_host and numeric_port):
        assert known is None
        return
    expected = socket.getaddrinfo(host, port or 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 6,
                                  socket.AI_NUMERICHOST)[0]
    assert known == expected
