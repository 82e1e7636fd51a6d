"""evloop.connection.instruments: the hooks a connection calls on its loop's instruments,
each at its moment, with no call at all for a hook nobody overrides."""

import logging
import os
import socket

import pytest

from evloop import Config
from evloop.connection.instruments import ConnectionInstrument
from evloop.connection.proxy_protocol import encode_v1
from evloop.connection.states import CLOSED
from evloop.connection.states import Event
from evloop.connection.states import INPUT_CLOSED
from evloop.connection.states import OPEN
from evloop.connection.states import PROXY_HEADER
from evloop.handlers.echo import EchoHandler
from evloop.loop.base import BaseLoop
from tests.conftest import run_until
from tests.pairs import PairOwner
from tests.pairs import make_connection


class Recorder(ConnectionInstrument):
    """Every connection hook, in order; the I/O wrapped to count the calls."""

    def __init__(self):
        self.seen = []

    def connection_started(self, connection):
        self.seen.append(("started", connection.state))  # then wrap_io, for the first calls

    def wrap_io(self, connection, read, write):
        def counted_read(fd, size):
            data = read(fd, size)
            self.seen.append(("read", data))
            return data
        return counted_read, write

    def state_changed(self, connection, old, new, event):
        # Before the new state's entry actions: a closed connection still has its fd here.
        self.seen.append(("state", old, new, event, connection.fd >= 0))

    def reading_paused(self, connection, paused):
        self.seen.append(("paused", paused))

    def proxy_header_read(self, connection, header):
        self.seen.append(("header", header.source))


@pytest.fixture
def watched(selector):
    """(loop, recorder, start): start(**parts) makes a connection on a socketpair with
    the recorder installed first; returns (connection, the peer's socket)."""
    loop = BaseLoop(selector)
    recorder = Recorder()
    loop.add_instrument(recorder)
    peers = []

    def start(config=None, **parts):
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.settimeout(5)
        peers.append(peer)
        config = config or Config()
        owner = PairOwner(loop, config)
        return make_connection(loop, ours, EchoHandler(), config, owner, **parts), peer

    yield loop, recorder, start
    for peer in peers:
        peer.close()
    loop.close()


def test_a_connections_life_as_its_hooks_see_it(watched):
    loop, recorder, start = watched
    connection, peer = start()
    assert recorder.seen == [("started", OPEN)]
    peer.sendall(b"ping")
    loop.run_once()
    assert peer.recv(10) == b"ping"
    peer.shutdown(socket.SHUT_WR)
    run_until(loop, lambda: connection.state is CLOSED)
    assert recorder.seen == [("started", OPEN), ("read", b"ping"), ("read", b""),
                             ("state", OPEN, INPUT_CLOSED, Event.PEER_EOF, True),
                             ("state", INPUT_CLOSED, CLOSED, Event.FLUSHED, True)]


def test_pauses_are_told_only_when_they_change_something(watched):
    loop, recorder, start = watched
    connection, _ = start()
    context = connection.context
    context.pause_reading()
    context.pause_reading()
    context.resume_reading()
    context.resume_reading()
    assert [step for step in recorder.seen if step[0] == "paused"] == [("paused", True),
                                                                        ("paused", False)]


def test_the_proxy_header_is_told_once_taken(watched):
    loop, recorder, start = watched
    connection, peer = start(proxy_header=True)
    assert recorder.seen == [("started", PROXY_HEADER)]
    peer.sendall(encode_v1(("192.0.2.10", 40000), ("198.51.100.1", 12000)))
    run_until(loop, lambda: connection.state is OPEN)
    assert ("header", ("192.0.2.10", 40000)) in recorder.seen
    assert recorder.seen.index(("header", ("192.0.2.10", 40000))) < recorder.seen.index(
        ("state", PROXY_HEADER, OPEN, Event.HEADER, True))


def test_a_hook_nobody_overrides_is_never_looked_up(selector):
    class StatesOnly(ConnectionInstrument):
        def state_changed(self, connection, old, new, event):
            pass

    loop = BaseLoop(selector)
    loop.add_instrument(StatesOnly())
    assert set(loop.instruments.hooks) == {"state_changed"}
    loop.close()


def test_a_wrap_io_that_raises_is_reported_and_the_plain_calls_stay(selector, caplog):
    class Broken(ConnectionInstrument):
        def wrap_io(self, connection, read, write):
            raise RuntimeError("broken wrapper")

    loop = BaseLoop(selector)
    loop.add_instrument(Broken())
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    connection = make_connection(loop, ours, EchoHandler(), owner=PairOwner(loop, Config()))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        connection.set_io(os.read, os.write)
    assert "broken wrapper" in caplog.text
    assert (connection.sys_read, connection.sys_write) == (os.read, os.write)
    peer.sendall(b"still echoed")
    loop.run_once()
    peer.settimeout(5)
    assert peer.recv(20) == b"still echoed"
    connection.end("shutdown", now=True)
    peer.close()
    loop.close()
