"""What evloop.aio's tests share: a loop to run a coroutine on, protocols that
record what they are told, a transport on one end of a socket pair with a plain
socket on the other, and the peer's side of the bytes."""

import asyncio
import os
import socket

import pytest

from evloop.aio import EventLoop


MiB = 1024 * 1024


def run(main, debug=False):
    loop = EventLoop()
    loop.set_debug(debug)
    try:
        return loop.run_until_complete(asyncio.wait_for(main, 20))
    finally:
        loop.close()


class Recorder(asyncio.Protocol):
    """Keeps the callbacks it is given, in order, with futures to wait on."""

    def __init__(self, keep_open=False):
        loop = asyncio.get_running_loop()
        self.keep_open = keep_open
        self.events = []
        self.data = bytearray()
        self.got_data = asyncio.Event()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self.paused = loop.create_future()
        self.resumed = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.events.append("data")
        self.data += data
        self.got_data.set()

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open

    def pause_writing(self):
        self.events.append("pause")
        self.paused.set_result(self.transport.get_write_buffer_size())

    def resume_writing(self):
        self.events.append("resume")
        self.resumed.set_result(self.transport.get_write_buffer_size())

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def handler_log(loop):
    """Make the loop's exception handler keep every context it is given."""
    contexts = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    return contexts


async def connected(protocol_factory=Recorder, tcp=False):
    """(transport, protocol, peer): the transport on one end, a plain socket on the other."""
    loop = asyncio.get_running_loop()
    if tcp:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            peer = socket.create_connection(listener.getsockname())
            ours, _ = listener.accept()
    else:
        ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, protocol = await loop.connect_accepted_socket(protocol_factory, ours)
    return transport, protocol, peer


async def read_until_eof(peer):
    loop = asyncio.get_running_loop()
    got = bytearray()
    while chunk := await loop.sock_recv(peer, 256 * 1024):
        got += chunk
    return bytes(got)


async def fill_until_buffered(transport, peer, block=64 * 1024, limit=64 * MiB):
    """Write until the kernel's buffers are full and the transport holds bytes.

    A write goes out at the turn's end, so each waits a turn (sleep(0)) before
    the buffer tells what the kernel did not take."""
    sent = 0
    while True:
        transport.write(b"x" * block)
        sent += block
        await asyncio.sleep(0)
        if transport.get_write_buffer_size():
            return sent
        assert sent < limit, "the socket never filled"


def small_buffers(ours_and_peer):
    for sock, option in zip(ours_and_peer, (socket.SO_SNDBUF, socket.SO_RCVBUF)):
        sock.setsockopt(socket.SOL_SOCKET, option, 4096)


class SystemCalls:
    """A transport's socket, through `route_system_calls`: records what each os.read()
    asked for and what each os.write() was given, and passes everything else through."""

    def __init__(self, sock):
        self.sock = sock
        self.reads = []
        self.sends = []

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def read(self, fd, size):
        data = os.read(fd, size)
        self.reads.append((size, len(data)))  # what it asked for, what it got
        return data

    def write(self, fd, data):
        self.sends.append(bytes(data))
        return os.write(fd, data)


def system_calls(transport):
    """Route the transport's socket calls through a SystemCalls, and return it."""
    routed = []
    transport.route_system_calls(lambda sock: routed.append(SystemCalls(sock)) or routed[0])
    return routed[0]


def count_sends(transport):
    """The list of what each of the transport's write system calls was given."""
    return system_calls(transport).sends


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


class Tracker(asyncio.Protocol):
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


async def upper(reader, writer):
    while data := await reader.read(100):
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()
