"""A Connection on one end of a socketpair and a plain socket on the other."""

import socket

import pytest

from evloop import Config
from evloop.connection.outbound import Loop
from evloop.connection.outbound import LoopOwner
from evloop.connection.starting import start_connection
from evloop.connection.states import CLOSED
from evloop.handlers.echo import EchoHandler
from evloop.metrics.counters import Counters


class PairOwner(LoopOwner):
    """The owner of the pair's connection: it records the closes."""

    def __init__(self, loop, config, offloader=None):
        super().__init__(loop, config)
        self.offloader = offloader
        self.closed = []

    def connection_closed(self, connection):
        super().connection_closed(connection)
        self.closed.append(connection)


def make_connection(loop, sock, handler, config=None, owner=None, peer="peer:1", **parts):
    """A started Connection (with its context) on `sock`, owned by `owner`."""
    config = config or Config()
    owner = owner or PairOwner(loop, config)
    return start_connection(loop, sock, peer, handler, config, owner, owner.counters,
                            owner.connections, **parts).connection


class Pair:
    """A Connection on one end of a socketpair, a plain socket on the other."""

    def __init__(self, selector, handler=None, config=None, sndbuf=None, offloader=None):
        self.loop = Loop(selector)
        server_sock, self.client = socket.socketpair()
        if sndbuf:
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        server_sock.setblocking(False)
        self.client.settimeout(5)
        self.owner = PairOwner(self.loop, config or Config(), offloader)
        self.closed = self.owner.closed
        self.conn = make_connection(self.loop, server_sock, handler or EchoHandler(),
                                    config, self.owner)
        self.context = self.conn.context

    @property
    def counters(self):
        return self.owner.counters

    def turn(self, times=1):
        for _ in range(times):
            self.loop.run_once()

    def run_until(self, predicate, turns=2000):
        for _ in range(turns):
            if predicate():
                return
            self.loop.run_once(timeout=0.01)  # never block forever
        raise AssertionError(f"not reached: {self.conn!r}")

    def close(self):
        self.client.close()
        if self.conn.state is not CLOSED:
            self.conn.end("shutdown", now=True, reason="test over")
        self.loop.close()


@pytest.fixture
def pair(selector):
    made = []

    def make(**kwargs):
        p = Pair(selector, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
