"""evloop.connection.splicing: a pipe between two sockets, then two connections that
forward to each other (a relay's core) moving a large stream through it, on loopback."""

import hashlib
import os
import socket

import pytest

from evloop import Config
from evloop.connection import splicing
from evloop.connection.outbound import Loop
from evloop.handlers.base import Handler
from tests.pairs import PairOwner
from tests.pairs import make_connection

pytestmark = pytest.mark.skipif(not splicing.available(), reason="no os.splice here (Linux only)")


def tcp_pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def test_a_pipe_moves_bytes_from_one_socket_to_another_and_is_empty_after():
    (a, a_end), (b, b_end) = tcp_pair(), tcp_pair()
    pipe = splicing.Pipe()
    try:
        assert pipe.size >= 64 * 1024
        a.sendall(b"through the kernel")
        a_end.setblocking(False)
        got = pipe.take(a_end.fileno(), 1 << 20)
        assert got == len(b"through the kernel")
        assert pipe.give(b_end.fileno(), got) == b""
        assert b.recv(100) == b"through the kernel"
        with pytest.raises(BlockingIOError):  # nothing waiting: no bytes, no EOF
            pipe.take(a_end.fileno(), 1 << 20)
        a.shutdown(socket.SHUT_WR)
        assert pipe.take(a_end.fileno(), 1 << 20) == 0  # the peer's EOF
    finally:
        pipe.close()
        for sock in (a, a_end, b, b_end):
            sock.close()


def test_what_the_other_socket_does_not_take_comes_back_as_bytes():
    (a, a_end), (b, b_end) = tcp_pair(), tcp_pair()
    b_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b_end.setblocking(False)
    a_end.setblocking(False)
    blob = os.urandom(1 << 20)
    pipe = splicing.Pipe()
    try:
        for _ in range(8):  # fill b's path until it takes nothing more
            try:
                b_end.send(blob)
            except BlockingIOError:
                break
        a.sendall(blob[:100_000])
        got = 0
        while not got:
            try:
                got = pipe.take(a_end.fileno(), 1 << 20)
            except BlockingIOError:
                continue
        rest = pipe.give(b_end.fileno(), got)
        assert rest == blob[:got]  # b took none: every byte back, in order
        with pytest.raises(BlockingIOError):
            os.read(pipe.read_end, 1)  # and the pipe is empty
    finally:
        pipe.close()
        for sock in (a, a_end, b, b_end):
            sock.close()


class Quiet(Handler):
    """Forwards from its start; hears nothing but the events."""

    def __init__(self):
        super().__init__()
        self.received = []

    def data_received(self, data):
        self.received.append(data)
        return b""

    def eof_received(self):
        return True


def forwarding_pair(config=None):
    """Two connections on one loop, each forwarding to the other: (loop, the client
    of the first, the peer of the second, the two connections)."""
    loop = Loop("epoll")
    owner = PairOwner(loop, config or Config())
    (client, first_end), (second_end, backend) = tcp_pair(), tcp_pair()
    conns = []
    for sock in (first_end, second_end):
        sock.setblocking(False)
        conns.append(make_connection(loop, sock, Quiet(), config, owner))
    first, second = conns
    first.context.forward_to(second.context)
    second.context.forward_to(first.context)
    return loop, client, backend, first, second


def pump(loop, until, turns=20_000):
    for _ in range(turns):
        if until():
            return
        loop.run_once(timeout=0.01)
    raise AssertionError("not reached")


def test_a_large_stream_is_spliced_both_ways_and_arrives_whole():
    loop, client, backend, first, second = forwarding_pair()
    try:
        for sender, receiver, source in ((client, backend, first), (backend, client, second)):
            blob = os.urandom(4 << 20)
            sender.setblocking(False)
            receiver.setblocking(False)
            sent, got = 0, hashlib.sha256()
            received = 0
            while received < len(blob):
                if sent < len(blob):
                    try:
                        sent += sender.send(blob[sent:sent + (1 << 18)])
                    except BlockingIOError:
                        pass
                loop.run_once(timeout=0.001)
                try:
                    chunk = receiver.recv(1 << 20)
                except BlockingIOError:
                    continue
                got.update(chunk)
                received += len(chunk)
            assert got.digest() == hashlib.sha256(blob).digest()
            assert source.pipe is not None  # large reads went through the kernel's pipe
            assert source.handler.received == []  # and no handler saw them
    finally:
        for sock in (client, backend):
            sock.close()
        for conn in (first, second):
            conn.end("shutdown", now=True)
        assert first.pipe is None and second.pipe is None  # closed with their connections
        loop.close()


def test_small_messages_are_copied_and_wrapped_io_is_never_spliced():
    loop, client, backend, first, second = forwarding_pair()
    try:
        backend.settimeout(5)
        for _ in range(20):
            client.sendall(b"ping")
            pump(loop, lambda: first.reads)
            assert backend.recv(100) == b"ping"
            first.reads = 0
        assert first.pipe is None  # never a large read: never a pipe
        calls = []

        def counted(fd, size):
            calls.append(size)
            return os.read(fd, size)
        first.set_io(counted, first.sys_write)  # as TLS or an instrument would
        blob = os.urandom(1 << 20)
        client.sendall(blob)
        received = bytearray()
        while len(received) < len(blob):
            loop.run_once(timeout=0.01)
            received += backend.recv(1 << 20)
        assert bytes(received) == blob and first.pipe is None and calls
    finally:
        for sock in (client, backend):
            sock.close()
        for conn in (first, second):
            conn.end("shutdown", now=True)
        loop.close()
