"""Resolving, connecting and binding for evloop.aio's transports
(evloop/aio/connecting.py), through the loop calls that use them.

Loopback (127.0.0.1, ::1) and Unix sockets in tmp_path only; every server and
transport made is closed before its test ends."""

import asyncio
import errno
import socket
import sys
import uuid

import pytest

from evloop.aio import EventLoop
from tests.aio.kit import Echo
from tests.aio.kit import Tracker
from tests.aio.kit import echo_once
from tests.aio.kit import free_port
from tests.aio.kit import needs_ipv6
from tests.aio.kit import run

pytestmark = pytest.mark.timeout(30)


def test_create_connection_binds_its_local_address():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        async with server:
            local_port = free_port()
            transport, protocol = await loop.create_connection(
                Tracker, *server.sockets[0].getsockname(), local_addr=("127.0.0.1", local_port))
            sockname = transport.get_extra_info("sockname")
            transport.close()
            await protocol.lost
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                with pytest.raises(OSError, match="error while attempting to bind on address"):
                    await loop.create_connection(Tracker, *server.sockets[0].getsockname(),
                                                 local_addr=taken.getsockname())
            with pytest.raises(OSError, match="no matching local address"):
                await loop.create_connection(Tracker, *server.sockets[0].getsockname(),
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
            await loop.create_connection(Tracker, "two.invalid", 80)
        answers.append(refused_addresses(1))
        with pytest.raises(ConnectionRefusedError) as one:
            await loop.create_connection(Tracker, "one.invalid", 80)
        answers.append(refused_addresses(2))
        with pytest.raises(ExceptionGroup) as group:
            await loop.create_connection(Tracker, "two.invalid", 80, all_errors=True)
        answers.append([])
        with pytest.raises(OSError, match=r"getaddrinfo\('none.invalid'\) returned empty list"):
            await loop.create_connection(Tracker, "none.invalid", 80)
        return several.value, one.value, group.value
    several, one, group = run(main())
    assert str(several).startswith("Multiple exceptions: ")
    assert str(several).count("Connect call failed") == 2
    assert one.errno == errno.ECONNREFUSED
    assert len(group.exceptions) == 2


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


def test_create_unix_server_replaces_a_stale_socket_file(tmp_path):
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays: a server that died without cleaning up

    async def main():
        loop = asyncio.get_running_loop()
        async with await loop.create_unix_server(Echo, path) as server:
            reply = await echo_once(path, socket.AF_UNIX)
            transport, protocol = await loop.create_unix_connection(Tracker, path)
            peer = transport.get_extra_info("peername")
            transport.close()
            await protocol.lost
        return reply, peer, server.sockets
    reply, peer, sockets = run(main())
    assert reply == b"PING" and peer == path and sockets == ()


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


def test_a_failed_bind_is_told_in_the_running_python_s_words():
    def failure(loop_factory, address):
        loop = loop_factory()
        try:
            loop.run_until_complete(loop.create_server(asyncio.Protocol, *address,
                                                       reuse_address=False))
        except OSError as exc:
            return exc.errno, str(exc)
        finally:
            loop.close()
        raise AssertionError("the bind did not fail")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = taken.getsockname()
        expected = failure(asyncio.SelectorEventLoop, address)
        assert failure(EventLoop, address) == expected
    words = "[errno 98] address already in use" if sys.version_info >= (3, 13) else \
        "address already in use"
    assert expected == (errno.EADDRINUSE, f"[Errno 98] error while attempting to bind on "
                                          f"address {address!r}: {words}")
