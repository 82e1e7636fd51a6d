"""evloop.aio's datagram endpoints: UDP and Unix datagrams, their errors and flow control.

Loopback only; every endpoint made is closed before its test ends."""

import asyncio
import os
import socket
import sys
import warnings

import pytest

import evloop.aio
from evloop.aio import EventLoop

pytestmark = pytest.mark.timeout(30)
# A queued 100-byte datagram's share of the write buffer: Python 3.13 adds 8 for its header.
QUEUED_100 = 108 if sys.version_info >= (3, 13) else 100


def run(main, selector="auto"):
    """Run `main` on a new evloop.aio loop with the given selector class."""
    loop = EventLoop(selector)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data.upper(), addr)


class Collector(asyncio.DatagramProtocol):
    """Keeps what it is told, and wakes a waiter for each datagram and error."""

    def __init__(self):
        self.events = []
        self.datagrams = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = 0
        self.resumed = 0

    def connection_made(self, transport):
        self.events.append("made")

    def datagram_received(self, data, addr):
        self.events.append("datagram")
        self.datagrams.put_nowait((data, addr))

    def error_received(self, exc):
        self.events.append("error")
        self.errors.put_nowait(exc)

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.resumed += 1

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def closed_udp_port():
    """A loopback UDP port that nothing is bound to (bound, read, released)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_a_udp_echo_server_and_client(selector):
    async def main():
        loop = asyncio.get_running_loop()
        assert type(loop) is EventLoop
        server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        address = server.get_extra_info("sockname")
        client, protocol = await loop.create_datagram_endpoint(Collector, remote_addr=address)
        assert client.get_extra_info("peername") == address
        sock = client.get_extra_info("socket")
        assert sock.fileno() >= 0 and sock.type == socket.SOCK_DGRAM
        assert client.get_extra_info("sockname") == sock.getsockname()
        assert server.get_extra_info("socket").getsockname() == address
        replies = []
        for word in (b"one", b"two", b"three"):
            client.sendto(word)
            replies.append(await asyncio.wait_for(protocol.datagrams.get(), 5))
        client.close()
        assert await asyncio.wait_for(protocol.lost, 5) is None
        assert client.is_closing()
        server.close()
        return replies, address, protocol.events
    replies, address, events = run(main(), selector)
    assert replies == [(b"ONE", address), (b"TWO", address), (b"THREE", address)]
    assert events == ["made", "datagram", "datagram", "datagram", "lost"]


def test_an_unconnected_endpoint_sends_to_each_address():
    async def main():
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        client, protocol = await loop.create_datagram_endpoint(
            Collector, local_addr=("127.0.0.1", 0))
        assert client.get_extra_info("peername") is None
        client.sendto(b"ping", server.get_extra_info("sockname"))
        got = await asyncio.wait_for(protocol.datagrams.get(), 5)
        client.close()
        server.close()
        return got, server.get_extra_info("sockname")
    (data, sender), address = evloop.aio.run(main())
    assert data == b"PING" and sender == address


def test_a_refused_port_reaches_error_received_and_the_endpoint_stays_open():
    port = closed_udp_port()

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            Collector, remote_addr=("127.0.0.1", port))
        transport.sendto(b"anyone?")  # the kernel answers with ICMP port unreachable
        error = await asyncio.wait_for(protocol.errors.get(), 5)
        still_open = not transport.is_closing() and not protocol.lost.done()
        transport.close()
        await asyncio.wait_for(protocol.lost, 5)
        return error, still_open, protocol.events
    error, still_open, events = evloop.aio.run(main())
    assert isinstance(error, ConnectionRefusedError)
    assert still_open
    assert events == ["made", "error", "lost"]


def test_unix_datagram_paths_and_a_stale_socket_file(tmp_path):
    server_path = str(tmp_path / "server.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(server_path)  # left behind, as by a server that died
    stale.close()
    client_path = str(tmp_path / "client.sock")

    async def main():
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(
            Echo, local_addr=server_path, family=socket.AF_UNIX)
        client, protocol = await loop.create_datagram_endpoint(
            Collector, local_addr=client_path, remote_addr=server_path, family=socket.AF_UNIX)
        client.sendto(b"unix")
        got = await asyncio.wait_for(protocol.datagrams.get(), 5)
        client.close()
        server.close()
        await asyncio.wait_for(protocol.lost, 5)
        return got
    assert evloop.aio.run(main()) == (b"UNIX", server_path)
    for path in (server_path, client_path):
        os.unlink(path)


def test_the_write_buffer_counts_bytes_pauses_and_drains():
    # A Unix datagram pair whose reader does not read: the kernel's queue fills and
    # sendto() meets EAGAIN, so the transport queues and watches for writable.
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.setblocking(False)

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(Collector, sock=mine)
        transport.set_write_buffer_limits(high=1000)
        sent = 0
        while transport.get_write_buffer_size() == 0 and sent < 100_000:
            transport.sendto(b"x" * 100)
            sent += 1
        assert transport.get_write_buffer_size() == QUEUED_100  # one datagram's bytes, not 1
        for _ in range(10):
            transport.sendto(b"y" * 100)
        assert transport.get_write_buffer_size() == 11 * QUEUED_100
        assert protocol.paused == 1
        received = 0
        for _ in range(500):  # read while the loop sends the queue
            try:
                while theirs.recv(200):
                    received += 1
            except BlockingIOError:
                pass
            if transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.01)
        size, resumed = transport.get_write_buffer_size(), protocol.resumed
        transport.close()
        await asyncio.wait_for(protocol.lost, 5)
        return sent, size, resumed
    try:
        sent, size, resumed = evloop.aio.run(main())
    finally:
        theirs.close()
    assert size == 0 and resumed == 1
    assert sent > 1


def test_abort_drops_the_queue_and_close_sends_it_first():
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.setblocking(False)

    async def fill(loop, sock):
        transport, protocol = await loop.create_datagram_endpoint(Collector, sock=sock)
        for _ in range(100_000):
            transport.sendto(b"z" * 100)
            if transport.get_write_buffer_size():
                break
        assert transport.get_write_buffer_size() == QUEUED_100
        return transport, protocol

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol = await fill(loop, mine)
        transport.close()  # the queued datagram is sent once there is room
        for _ in range(5):  # turns of the loop in which nothing drains the peer
            await asyncio.sleep(0)
        assert not protocol.lost.done()
        while True:
            try:
                theirs.recv(200)
            except BlockingIOError:
                break
        assert await asyncio.wait_for(protocol.lost, 5) is None
        other, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            transport, protocol = await fill(loop, other)
            transport.abort()
            assert transport.get_write_buffer_size() == 0
            assert await asyncio.wait_for(protocol.lost, 5) is None
        finally:
            peer.close()
    try:
        evloop.aio.run(main())
    finally:
        theirs.close()


def test_a_protocol_that_raises_is_reported_and_the_endpoint_goes_on():
    class Broken(Collector):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            if data == b"bad":
                raise RuntimeError("protocol bug")

    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda lp, context: reports.append(context))
        server, protocol = await loop.create_datagram_endpoint(
            Broken, local_addr=("127.0.0.1", 0))
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            client.sendto(b"bad", server.get_extra_info("sockname"))
            client.sendto(b"good", server.get_extra_info("sockname"))
            first = await asyncio.wait_for(protocol.datagrams.get(), 5)
            second = await asyncio.wait_for(protocol.datagrams.get(), 5)
        finally:
            client.close()
        server.close()
        return first[0], second[0], reports
    first, second, reports = evloop.aio.run(main())
    assert (first, second) == (b"bad", b"good")
    assert [c["message"] for c in reports] == ["protocol.datagram_received() call failed"]
    assert isinstance(reports[0]["exception"], RuntimeError)


def test_bad_arguments_get_asyncio_s_errors(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        endpoint = loop.create_datagram_endpoint
        stream = socket.socket()
        dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError, match="A datagram socket was expected" if
                               sys.version_info >= (3, 13) else "A UDP Socket was expected"):
                await endpoint(Collector, sock=stream)
            with pytest.raises(ValueError, match=r"socket modifier keyword arguments can not "
                                                 r"be used when sock is specified. "
                                                 r"\(local_addr=\('127.0.0.1', 0\)\)"):
                await endpoint(Collector, sock=dgram, local_addr=("127.0.0.1", 0))
        finally:
            stream.close()
            dgram.close()
        with pytest.raises(ValueError, match="unexpected address family"):
            await endpoint(Collector)
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await endpoint(Collector, local_addr="127.0.0.1:0")
        with pytest.raises(TypeError, match="string is expected"):
            await endpoint(Collector, local_addr=("x", 0), family=socket.AF_UNIX)
        if sys.version_info >= (3, 11):  # the keyword is gone, as from asyncio 3.11
            for reuse in (True, False):
                with pytest.raises(TypeError, match="unexpected keyword argument 'reuse_address'"):
                    await endpoint(Collector, local_addr=("127.0.0.1", 0), reuse_address=reuse)
        else:
            with pytest.raises(ValueError, match="Passing `reuse_address=True` is no longer "
                                                 "supported"):
                await endpoint(Collector, local_addr=("127.0.0.1", 0), reuse_address=True)
        with pytest.raises(ValueError, match="can not get address information"):
            await endpoint(Collector, local_addr=("127.0.0.1", 0), remote_addr=("::1", 1))
        if sys.version_info < (3, 11):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                transport, _ = await endpoint(Collector, local_addr=("127.0.0.1", 0),
                                              reuse_address=False)
                transport.close()
            assert [w.category for w in caught] == [DeprecationWarning]
        transport, protocol = await endpoint(Collector, remote_addr=("127.0.0.1", 9))
        with pytest.raises(ValueError, match=r"Invalid address: must be None or "
                                             r"\('127.0.0.1', 9\)"):
            transport.sendto(b"x", ("127.0.0.1", 10))
        with pytest.raises(TypeError, match="data argument must be a bytes-like object, "
                                            "not 'str'"):
            transport.sendto("text")
        transport.close()
        await asyncio.wait_for(protocol.lost, 5)
    evloop.aio.run(main())


def test_an_empty_datagram_and_reading_paused_as_the_running_python_s_asyncio():
    """3.13 sends sendto(b"") as an empty datagram (before, it was dropped); from
    3.11 a datagram transport pauses and resumes reading (3.10 had neither method,
    which evloop.aio has on every Python)."""
    def story(loop_factory):
        async def main():
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                peer.bind(("127.0.0.1", 0))
                peer.settimeout(5)
                transport, protocol = await loop.create_datagram_endpoint(
                    Collector, remote_addr=peer.getsockname())
                transport.sendto(b"")
                transport.sendto(b"x")
                arrived = [peer.recv(100)]
                if arrived == [b""]:
                    arrived.append(peer.recv(100))
                paused = None
                if hasattr(transport, "pause_reading") and sys.version_info >= (3, 11):
                    transport.pause_reading()
                    peer.sendto(b"while paused", transport.get_extra_info("sockname"))
                    await asyncio.sleep(0.05)
                    paused = [protocol.datagrams.qsize(), transport.is_reading()]
                    transport.resume_reading()
                    await asyncio.wait_for(protocol.datagrams.get(), 5)
                    paused.append(transport.is_reading())
                transport.close()
                return arrived, paused
        loop = loop_factory()
        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()
    expected = story(asyncio.SelectorEventLoop)
    assert story(EventLoop) == expected
    assert expected[0] == ([b"", b"x"] if sys.version_info >= (3, 13) else [b"x"])
    if sys.version_info >= (3, 11):
        assert expected[1] == [0, False, True]
