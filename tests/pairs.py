"""A Connection on one end of a socketpair and a plain socket on the other."""

import socket

import pytest

from evloop import Config
from evloop.connection import Connection
from evloop.handlers.echo import EchoHandler
from evloop.loop import Loop
from evloop.states import CLOSED


class Pair:
    """A Connection on one end of a socketpair, a plain socket on the other."""

    def __init__(self, selector, handler=None, config=None, sndbuf=None):
        self.loop = Loop(selector)
        server_sock, self.client = socket.socketpair()
        if sndbuf:
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        server_sock.setblocking(False)
        self.client.settimeout(5)
        self.closed = []
        self.conn = Connection(self.loop, server_sock, "peer:1", handler or EchoHandler(),
                               config or Config(), self.closed.append)
        self.conn.start()

    def turn(self, times=1):
        for _ in range(times):
            self.loop.run_once()

    def run_until(self, predicate, turns=2000):
        self.loop._running = True
        for _ in range(turns):
            if predicate():
                return
            self.loop.call_later(0.01, lambda: None)  # never block forever
            self.loop.run_once()
        raise AssertionError(f"not reached: {self.conn!r}")

    def close(self):
        self.client.close()
        if self.conn.state is not CLOSED:
            self.conn.abort("test over")
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
