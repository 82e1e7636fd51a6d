"""evloop.connection.connection: one connection on a socketpair (or a TCP pair where a
reset must be seen): the hot path, backpressure, half-closes, the idle timeout, the one
path that ends it, and its reads sized to the traffic."""

import hashlib
import os
import logging
import time
import socket

import pytest

from evloop import Config
from evloop.connection import read_sizes
import evloop.connection.connection as connection_module
from evloop.connection.connection import Connection
from evloop.connection.outbound import Loop
from evloop.connection.states import CLOSED
from evloop.connection.states import CLOSING
from evloop.connection.states import FIN_SENT
from evloop.connection.states import LINGERING
from evloop.connection.states import OPEN
from evloop.handlers.echo import EchoHandler
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from tests.pairs import PairOwner
from tests.pairs import make_connection
from tests.pairs import pair  # noqa: F401  (a fixture)


def test_echo_round_trip_sends_at_once_without_write_interest(pair):
    p = pair()
    p.client.sendall(b"Hello, world")
    p.turn()
    assert p.client.recv(1024) == b"Hello, world"
    assert p.loop.watching(p.conn.fd) == EVENT_READ  # the reply left in write(): no EVENT_WRITE


def test_partial_writes_are_queued_and_write_interest_dropped_after(pair):
    p = pair(sndbuf=4096, config=Config(high_water=1 << 30, low_water=1, max_output=1 << 31))
    blob = bytes(range(256)) * 4096  # 1 MiB
    p.conn.write(blob)
    assert p.conn.out and p.loop.watching(p.conn.fd) == EVENT_READ | EVENT_WRITE
    received = bytearray()
    while len(received) < len(blob):
        p.turn()
        received += p.client.recv(1 << 20)
    assert bytes(received) == blob
    p.run_until(lambda: not p.conn.out)
    assert p.loop.watching(p.conn.fd) == EVENT_READ


def test_backpressure_pauses_reading_and_resumes_with_every_byte(pair):
    limits = Config(high_water=64 * 1024, low_water=16 * 1024, max_output=1 << 30)
    p = pair(config=limits, sndbuf=8192)
    p.client.setblocking(False)
    sent = hashlib.sha256()
    total_sent = 0
    chunk = bytes(range(256)) * 64
    for _ in range(2000):  # write until both directions are full
        try:
            n = p.client.send(chunk)
        except BlockingIOError:
            p.turn()
            if p.conn.output_high:
                break
            continue
        sent.update(chunk[:n])
        total_sent += n
        p.turn()
    assert p.conn.output_high and p.conn.state is OPEN
    assert not p.loop.watching(p.conn.fd) & EVENT_READ
    assert len(p.conn.out) <= limits.high_water + read_sizes.LARGE_READ
    # Now read everything back while finishing the upload.
    p.client.shutdown(socket.SHUT_WR)
    got = hashlib.sha256()
    total_got = 0
    p.client.settimeout(0.01)
    while total_got < total_sent:
        p.turn()
        try:
            data = p.client.recv(1 << 20)
        except (socket.timeout, BlockingIOError):
            continue
        got.update(data)
        total_got += len(data)
    assert total_got == total_sent and got.digest() == sent.digest()
    p.run_until(lambda: p.conn.state is CLOSED)


def test_half_close_delivers_every_reply_then_eof(pair):
    p = pair(handler=LenPrefixHandler())
    p.client.sendall(b"003abc003def")
    p.client.shutdown(socket.SHUT_WR)
    p.run_until(lambda: p.conn.state is CLOSED)
    data = b""
    while chunk := p.client.recv(100):
        data += chunk
    assert data == b"003abc003def"
    assert p.closed == [p.conn]


def test_protocol_error_sends_replies_due_then_closes(pair, caplog):
    p = pair(handler=LenPrefixHandler())
    with caplog.at_level(logging.INFO, logger="evloop"):
        p.client.sendall(b"002okXYZjunk")
        p.run_until(lambda: p.conn.state in (LINGERING, CLOSED))
    assert p.client.recv(100) == b"002ok"
    assert p.client.recv(100) == b""  # FIN after the replies
    assert "peer:1: protocol error: bad length header b'XYZ'" in caplog.text
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)


class Crashing(EchoHandler):
    def data_received(self, data):
        if data == b"boom":
            raise KeyError("boom")
        return data


def test_handler_crash_is_logged_once_and_closes_only_that_connection(pair, caplog):
    p, other = pair(handler=Crashing()), pair()
    with caplog.at_level(logging.ERROR, logger="evloop"):
        p.client.sendall(b"boom")
        p.run_until(lambda: p.conn.state is not OPEN)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info and "Crashing raised in data_received" in errors[0].getMessage()
    other.client.sendall(b"still fine")
    other.turn()
    assert other.client.recv(100) == b"still fine"


def test_peer_gone_is_an_ordinary_disconnect(pair, caplog):
    p = pair(sndbuf=4096)
    p.client.close()
    with caplog.at_level(logging.DEBUG, logger="evloop"):
        p.conn.write(b"x" * 100000)  # EPIPE, at once or from the queue
        p.run_until(lambda: p.conn.state is CLOSED)
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)
    assert p.closed == [p.conn]


def test_idle_timeout_closes_a_silent_connection(pair):
    p = pair(config=Config(idle_timeout=0.05))
    p.run_until(lambda: p.conn.state is LINGERING)
    assert p.client.recv(10) == b""
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)


def test_idle_timeout_counts_complete_messages_not_bytes(pair):
    """A client that dribbles a byte at a time, never a whole message, is idle;
    one that completes a message more often than the timeout is not."""
    idle = 0.2
    dribbler = pair(handler=LenPrefixHandler(), config=Config(idle_timeout=idle))
    talker = pair(handler=LenPrefixHandler(), config=Config(idle_timeout=idle))
    header = b"999" + b"x" * 100  # far from a whole message, sent a byte at a time
    deadline = time.monotonic() + 4 * idle
    sent = messages = 0
    while time.monotonic() < deadline and dribbler.conn.state is OPEN:
        if sent < len(header):
            dribbler.client.send(header[sent:sent + 1])
            sent += 1
        talker.client.sendall(b"002hi")
        messages += 1
        talker.run_until(lambda: talker.conn.replies >= messages)
        assert recv_all(talker.client, 5) == b"002hi"
        dribbler.loop.run_once(timeout=0)
        time.sleep(idle / 4)  # the clients' pace: a byte, or a message, every quarter timeout
        dribbler.loop.run_once(timeout=0)
    # Closed while still dribbling: bytes kept coming, but no message.
    assert dribbler.conn.state is not OPEN and dribbler.conn.ended_by == "idle_timeout"
    assert sent < len(header)
    assert talker.conn.state is OPEN


def test_max_output_disconnects_a_slow_reader(pair, caplog):
    p = pair(config=Config(high_water=1024, low_water=512, max_output=4096), sndbuf=4096)
    with caplog.at_level(logging.WARNING, logger="evloop"):
        for _ in range(100):
            p.conn.write(b"y" * 1000)
            if p.conn.state is CLOSED:
                break
    assert p.conn.state is CLOSED
    assert "over --max-output 4096" in caplog.text


def test_close_flushes_sends_fin_and_lingers_until_peer_eof(pair):
    p = pair(sndbuf=4096)
    p.conn.write(b"z" * 200000)
    p.conn.end("shutdown")
    assert p.conn.state is CLOSING
    p.conn.write(b"more")  # still accepted while flushing
    received = b""
    while True:
        p.turn()
        chunk = p.client.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    assert received == b"z" * 200000 + b"more"
    assert p.conn.state is LINGERING
    p.client.sendall(b"ignored")
    p.turn()
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)


def test_an_end_now_with_reset_is_a_reset_for_the_peer(selector):
    """Over TCP (a Unix socket has no RST): the peer's recv fails, no clean EOF."""
    loop = Loop(selector)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_sock, _ = listener.accept()
    server_sock.setblocking(False)
    p_owner = PairOwner(loop, Config())
    conn = make_connection(loop, server_sock, EchoHandler(), owner=p_owner)
    conn.write(b"queued")
    conn.end("handler_abort", now=True, reset=True)
    assert conn.state is CLOSED and p_owner.closed == [conn]
    assert conn.counters.closed["handler_abort"] == 1
    client.settimeout(5)
    with pytest.raises(ConnectionResetError):
        while client.recv(100):
            pass
    # Ending again, or writing, changes nothing: it was closed once.
    conn.end("shutdown")
    conn.context.close()
    conn.write(b"ignored")
    assert p_owner.closed == [conn] and conn.counters.closed["shutdown"] == 0
    client.close()
    listener.close()
    loop.close()


def test_the_reader_follows_the_state(pair):
    p = pair()
    fd = p.conn.fd
    assert p.conn.state is OPEN and p.conn.reader is Connection.on_readable
    assert p.loop.watching(fd) == EVENT_READ
    p.conn.output_full()
    assert p.conn.output_high and p.conn.reader is None
    assert p.loop.watching(fd) == 0
    p.conn.end("shutdown")  # nothing pending: FIN at once, then discard input until EOF
    assert p.conn.state is LINGERING and p.conn.reader is None
    assert p.conn.lingerer is not None  # the lingerer holds the reader (evloop.connection.lingering)
    assert p.loop.watching(fd) == EVENT_READ
    p.client.sendall(b"late input, dropped")
    p.turn()
    assert p.conn.state is LINGERING
    p.client.shutdown(socket.SHUT_WR)
    p.run_until(lambda: p.conn.state is CLOSED)
    assert p.conn.reader is None and p.conn.lingerer is None and p.loop.watching(fd) == 0
    assert p.loop.statistics().readers == 1  # the loop's own waker only
    assert p.conn.fd == -1  # a late read or write fails with EBADF
    assert p.client.recv(100) == b""


class PushesFirst(EchoHandler):
    """Pushes a line before answering: a chat-like handler."""

    def data_received(self, data):
        self.context.push(b"pushed\n")
        return data


def test_a_reply_after_the_connection_died_never_reaches_a_reused_descriptor(pair):
    p = pair(handler=PushesFirst())
    calls = []

    def write(fd, data):
        calls.append(fd)
        if len(calls) == 1:  # the push: the peer is gone
            raise BrokenPipeError(32, "Broken pipe")
        return os.write(fd, data)  # the reply: fd is -1 by now, so EBADF

    p.conn.set_io(os.read, write)
    p.client.sendall(b"hello")
    p.turn()
    assert p.conn.state is CLOSED
    assert calls[0] >= 0 and calls[1:] == [-1]


def test_reads_grow_when_full_and_shrink_after_small_reads_in_a_row(pair):
    p = pair()
    small, large = read_sizes.SMALL_READ, read_sizes.LARGE_READ
    assert p.conn.read_size == small
    p.client.sendall(b"x" * 2000)  # fills a small read: the next one is large
    p.turn()
    assert p.conn.read_size == large
    p.turn()  # the other 1,521 bytes, in one large read
    assert recv_all(p.client, 2000) == b"x" * 2000
    # A large message's short tail, then large reads again: stays large.
    for size in (100, 5000, 100, 5000):
        p.client.sendall(b"y" * size)
        p.turn()
        assert recv_all(p.client, size) == b"y" * size
        assert p.conn.read_size == large
    for n in range(1, read_sizes.SMALL_READS_TO_SHRINK + 1):
        p.client.sendall(b"z" * 10)
        p.turn()
        assert recv_all(p.client, 10) == b"z" * 10
        assert p.conn.read_size == (small if n == read_sizes.SMALL_READS_TO_SHRINK else large)


def recv_all(sock, size):
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


class SaysByeAndEOF(EchoHandler):
    """Answers its first message, then sends its EOF (a half-close)."""

    def data_received(self, data):
        if self.context.is_closing() or getattr(self, "said", False):
            return None  # after its EOF it listens only
        self.said = True
        self.context.write_eof()
        return b"bye"


def test_our_fin_is_a_state_entered_once_and_closing_after_it_sends_no_second(pair, monkeypatch):
    sent = []
    real = connection_module.shut_output
    monkeypatch.setattr(connection_module, "shut_output",
                        lambda sock, tls: (sent.append(sock.fileno()), real(sock, tls)))
    p = pair(handler=SaysByeAndEOF())
    p.client.sendall(b"hello")
    p.run_until(lambda: p.conn.state is FIN_SENT)
    assert recv_all(p.client, 3) == b"bye" and p.client.recv(10) == b""  # then our FIN
    p.client.sendall(b"still heard")  # FIN_SENT reads on, answering nothing
    p.run_until(lambda: p.conn.reads == 2)
    assert p.conn.state is FIN_SENT and sent == [p.conn.fd]
    p.context.close()
    assert p.conn.state is LINGERING and len(sent) == 1  # no second FIN
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)



def two_on_one_loop(selector):
    """Two echo connections on one loop: (loop, [(client socket, connection)] * 2)."""
    loop = Loop(selector)
    owner = PairOwner(loop, Config())
    ends = []
    for _ in range(2):
        server_sock, client = socket.socketpair()
        server_sock.setblocking(False)
        client.settimeout(5)
        ends.append((client, make_connection(loop, server_sock, EchoHandler(), None, owner)))
    return loop, ends


def test_forward_to_sends_what_is_read_to_another_connection_until_none(selector):
    loop, [(a, first), (b, second)] = two_on_one_loop(selector)
    try:
        first.context.forward_to(second.context)
        a.sendall(b"to b")
        loop.run_once(timeout=1)
        assert b.recv(100) == b"to b" and first.reads == 1
        first.context.forward_to(None)  # the handler's data_received again: an echo
        a.sendall(b"back")
        loop.run_once(timeout=1)
        assert a.recv(100) == b"back"
        with pytest.raises(TypeError, match="another TCP connection's context"):
            first.context.forward_to(b)
        with pytest.raises(ValueError, match="itself"):
            first.context.forward_to(first.context)
    finally:
        for conn in (first, second):
            conn.end("shutdown", now=True)
        a.close(), b.close(), loop.close()


def test_what_the_other_side_cannot_take_is_queued_there_in_order(selector):
    loop, [(a, first), (b, second)] = two_on_one_loop(selector)
    try:
        first.context.forward_to(second.context)
        sent = bytearray()
        # Small reads, each forwarded as it came (a large one would be spliced), until
        # the other socket, whose peer reads nothing yet, stops taking them whole.
        for n in range(20_000):
            chunk = bytes([n % 251]) * 400
            a.sendall(chunk)
            sent += chunk
            loop.run_once(timeout=0.05)
            if second.out:
                break
        assert second.out and first.read_size == read_sizes.SMALL_READ, "the other side took all"
        got = bytearray()
        while len(got) < len(sent):
            loop.run_once(timeout=0.01)
            try:
                got += b.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
        assert got == sent and not second.out  # every byte, in order, the queue drained
    finally:
        for conn in (first, second):
            conn.end("shutdown", now=True)
        a.close(), b.close(), loop.close()


def test_forwarding_to_a_side_that_sent_its_eof_costs_only_the_forwarder(selector, caplog):
    loop, [(a, first), (b, second)] = two_on_one_loop(selector)
    try:
        first.context.forward_to(second.context)
        second.context.write_eof()  # a handler bug: nothing may follow our EOF
        loop.run_once(timeout=0)
        a.sendall(b"too late")
        with caplog.at_level(logging.ERROR, logger="evloop"):
            for _ in range(20):
                loop.run_once(timeout=0.05)
                if first.state is CLOSED:
                    break
        assert first.state is CLOSED and "forward_to" in caplog.text
        assert second.state is not CLOSED  # the other side lives on
    finally:
        for conn in (first, second):
            conn.end("shutdown", now=True)
        a.close(), b.close(), loop.close()


class Mourner(EchoHandler):
    def __init__(self):
        super().__init__()
        self.lost = []

    def connection_lost(self, exc):
        self.lost.append(exc)


def test_connection_lost_is_queued_for_a_handler_that_has_one_and_only_then(pair):
    plain, mourner = pair(), pair(handler=Mourner())
    for p in (plain, mourner):
        p.conn.end("handler_abort", now=True)
        assert p.conn.state is CLOSED
    assert plain.loop.statistics().ready == 0  # Handler's own does nothing: not called
    assert mourner.loop.statistics().ready == 1 and mourner.conn.handler.lost == []
    mourner.turn()  # after the call that ended it, never during it
    assert mourner.conn.handler.lost == [None]
