import hashlib
import os
import logging
import re
import socket
import sys

import pytest

import evloop.connection.connection as connection_module
import evloop.connection.states as states_module  # its essay lists the transitions
from evloop import Config
from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.connection.connection import READERS
from evloop.connection.connection import Connection
from evloop.handlers.echo import EchoHandler
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.loop.base import BaseLoop
from evloop.connection.states import CLOSED
from evloop.connection.states import CLOSING
from evloop.connection.states import FLUSHING_STATES
from evloop.connection.states import INPUT_CLOSED
from evloop.connection.states import LINGERING
from evloop.connection.states import OPEN
from evloop.connection.states import INPUT_ONLY
from evloop.connection.states import TRANSITIONS
from evloop.connection.states import Event
from evloop.connection.states import State
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
    assert len(p.conn.out) <= limits.high_water + connection_module.LARGE_READ
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
    p = pair(handler=LenPrefixHandler(), config=Config(idle_timeout=0.2))
    p.client.sendall(b"00")
    p.run_until(lambda: p.conn.state is not OPEN, turns=5000)
    assert p.conn.state in (LINGERING, CLOSED)


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
    p.conn.begin_close()
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


def test_abort_with_reset(pair):
    p = pair()
    p.conn.abort("test", reset=True)
    assert p.conn.state is CLOSED
    p.context.close()  # closing twice is harmless
    p.conn.begin_close()
    p.conn.write(b"ignored")


def test_illegal_transition_raises():
    conn = Connection.__new__(Connection)
    conn.state = CLOSED
    conn.out = bytearray()
    conn.peer = "x"
    with pytest.raises(RuntimeError, match="no transition on FLUSHED"):
        conn._transition(Event.FLUSHED)


def test_events_are_typed_so_a_misspelled_one_fails_before_it_runs():
    with pytest.raises(AttributeError):
        Event.FLUSHD  # mypy --strict says so too: "Event" has no attribute "FLUSHD"
    assert all(isinstance(event, Event) for _, event in TRANSITIONS)


def test_docstring_lists_exactly_the_transition_table():
    documented = set()
    for line in states_module.__doc__.splitlines():
        match = re.match(r"\s+([A-Z_, ]+?)\s+--(\w+)-*>\s+([A-Z_]+)$", line)
        if match:
            sources, event, target = match.groups()
            if sources.strip() == "any but CLOSED":
                continue
            for source in sources.split(","):
                documented.add((State[source.strip()], Event(event), State[target]))
    if "any but CLOSED --abort--------> CLOSED" in states_module.__doc__:
        documented |= {(s, Event.ABORT, CLOSED) for s in State if s is not CLOSED}
    # Self-loops on `close` are described in prose, not drawn.
    table = {(s, e, t) for (s, e), t in TRANSITIONS.items()
             if s is not t or e is not Event.CLOSE}
    assert documented == table
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) == set(State)


def test_the_reader_follows_the_state(pair):
    assert FLUSHING_STATES == {INPUT_ONLY, INPUT_CLOSED, CLOSING}
    assert READERS == {OPEN: Connection.on_readable, INPUT_ONLY: Connection._read_input_only}
    p = pair()
    fd = p.conn.fd
    assert p.conn.state is OPEN and p.conn.reader is Connection.on_readable
    assert p.loop.watching(fd) == EVENT_READ
    p.conn.output_full()
    assert p.conn.output_high and p.conn.reader is None
    assert p.loop.watching(fd) == 0
    p.conn.begin_close()  # nothing pending: FIN at once, then discard input until EOF
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


def test_spurious_wakeups_read_nothing_and_change_nothing(pair):
    p = pair()
    p.conn.on_readable()  # nothing to read: EAGAIN, no state change
    assert p.conn.state is OPEN
    p.conn.begin_close()
    assert p.conn.state is LINGERING
    p.conn.lingerer._discard()
    assert p.conn.state is LINGERING


def test_a_read_error_while_lingering_drops_the_connection(pair):
    p = pair()
    p.conn.begin_close()

    def reset(fd, size):
        raise ConnectionResetError(104, "Connection reset by peer")

    p.conn.lingerer.read = reset
    p.conn.lingerer._discard()
    assert p.conn.state is CLOSED and p.closed == [p.conn]


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

    p.conn.sys_write = write
    p.client.sendall(b"hello")
    p.turn()
    assert p.conn.state is CLOSED
    assert calls[0] >= 0 and calls[1:] == [-1]


def test_reads_grow_when_full_and_shrink_after_small_reads_in_a_row(pair):
    p = pair()
    small, large = connection_module.SMALL_READ, connection_module.LARGE_READ
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
    for n in range(1, connection_module.SMALL_READS_TO_SHRINK + 1):
        p.client.sendall(b"z" * 10)
        p.turn()
        assert recv_all(p.client, 10) == b"z" * 10
        assert p.conn.read_size == (small if n == connection_module.SMALL_READS_TO_SHRINK else large)


def recv_all(sock, size):
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_large_reads_stay_under_glibcs_mmap_threshold():
    # From 128 KiB malloc() maps pages for each bytes object and unmaps them
    # after, on every read (the module's essay): 144 us against 25 us per 100 KiB.
    assert connection_module.LARGE_READ + sys.getsizeof(b"") < 128 * 1024
