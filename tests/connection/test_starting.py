"""evloop.connection.starting: one way to start a connection for any owner: built with
its context in one step, started (the handler greeted), and tracked unless it closed
while starting; a descriptor the backend refuses raises FdLimitError."""

import os
import socket

import pytest

from evloop import Config
from evloop import Handler
from evloop.connection.context import ConnectionContext
from evloop.connection.instruments import ConnectionInstrument
from evloop.connection.starting import start_connection
from evloop.connection.states import CLOSED
from evloop.connection.states import CONNECTING
from evloop.connection.states import OPEN
from evloop.loop.backends import FD_SETSIZE
from evloop.loop.backends import FdLimitError
from evloop.loop.base import BaseLoop
from tests.pairs import PairOwner


class Greeter(Handler):
    def __init__(self, abort=False):
        super().__init__()
        self.abort = abort
        self.calls = []

    def connection_made(self, context):
        super().connection_made(context)
        self.calls.append("made")
        if self.abort:
            context.abort()
        return b"hello"

    def data_received(self, data):
        return data


class Starts(ConnectionInstrument):
    def __init__(self):
        self.started = []

    def connection_started(self, connection):
        self.started.append((connection.state, list(connection.handler.calls)))


@pytest.fixture
def started(selector):
    loop = BaseLoop(selector)
    owner = PairOwner(loop, Config())
    made = []

    def start(handler, **parts):
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.settimeout(5)
        made.append(peer)
        context = start_connection(loop, ours, "peer:1", handler, owner.config, owner,
                                   owner.counters, owner.connections, **parts)
        return context, peer

    yield loop, owner, start
    for connection in list(owner.connections):
        connection.end("shutdown", now=True)
    for sock in made:
        sock.close()
    loop.close()


def test_a_started_connection_is_open_greeted_and_tracked(started):
    loop, owner, start = started
    instrument = Starts()
    loop.add_instrument(instrument)
    handler = Greeter()
    context, peer = start(handler)
    connection = context.connection
    assert isinstance(context, ConnectionContext) and connection.context is context
    assert handler.context is context  # the handler got the context, not the connection
    assert connection.state is OPEN and handler.calls == ["made"]
    assert owner.connections == {connection}
    assert peer.recv(10) == b"hello"
    assert instrument.started == [(OPEN, [])]  # told before the handler was greeted


def test_one_that_closed_while_starting_is_not_tracked(started):
    loop, owner, start = started
    context, peer = start(Greeter(abort=True))
    assert context.connection.state is CLOSED
    assert owner.connections == set() and owner.closed == [context.connection]


def test_one_that_connects_first_is_tracked_while_connecting(started):
    loop, owner, start = started

    class Dialer:
        def __init__(self, handshakes):
            self.handshakes = handshakes

        def start(self):
            pass

        def cancel(self):
            pass

    handler = Greeter()
    context = start_connection(loop, None, "backend:1", handler, owner.config, owner,
                               owner.counters, owner.connections, dialer=Dialer)
    assert context.connection.state is CONNECTING and handler.calls == []
    assert owner.connections == {context.connection}


def test_a_descriptor_select_cannot_watch_raises_fd_limit_error():
    loop = BaseLoop("select")
    owner = PairOwner(loop, Config())
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), FD_SETSIZE + 5)
    sock = socket.socket(fileno=high)
    sock.setblocking(False)
    try:
        with pytest.raises(FdLimitError):
            start_connection(loop, sock, "peer:1", Greeter(), owner.config, owner,
                             owner.counters, owner.connections)
        assert owner.connections == set()
    finally:
        sock.close()
        a.close()
        b.close()
        loop.close()
