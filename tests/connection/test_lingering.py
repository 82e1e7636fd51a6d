"""evloop.connection.lingering: after our FIN, the peer's input is dropped until its
EOF, a timeout or a socket error, each told once; and the connection's lingering
close as the peer sees it."""

import logging
import socket

import pytest

from evloop.connection.lingering import LINGER_TIMEOUT
from evloop.connection.lingering import Lingerer
from evloop.connection.states import CLOSED
from evloop.connection.states import Event
from evloop.connection.states import LINGERING
from evloop.loop.base import BaseLoop
from tests.pairs import pair  # noqa: F401  (a fixture)


@pytest.fixture
def lingering(selector):
    loop = BaseLoop(selector)
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    done = []
    lingerer = Lingerer(loop, ours.fileno(), lambda fd, size: ours.recv(size),
                        lambda event, error: done.append((event, error)))
    lingerer.start()
    yield loop, peer, lingerer, done
    lingerer.cancel()
    loop.close()
    ours.close()
    peer.close()


def test_input_is_dropped_until_the_peers_eof(lingering):
    loop, peer, lingerer, done = lingering
    peer.sendall(b"late input, dropped")
    loop.run_once(timeout=1)
    lingerer.on_readable()  # a spurious wake-up: nothing to read, nothing changes
    assert done == []
    peer.shutdown(socket.SHUT_WR)
    loop.run_once(timeout=1)
    assert done == [(Event.PEER_EOF, None)]
    assert loop.statistics().readers == 1  # the loop's waker only: the reader is gone


def test_a_peer_that_never_closes_is_given_up_after_the_timeout(lingering, monkeypatch):
    loop, peer, lingerer, done = lingering
    assert loop.statistics().timers == 1
    loop.run_once(timeout=LINGER_TIMEOUT + 1)
    assert done == [(Event.TIMEOUT, None)]


def test_a_read_error_is_told_with_the_error(selector):
    """Over TCP: a peer that resets makes the discarding read fail."""
    loop = BaseLoop(selector)
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    ours.setblocking(False)
    done = []
    lingerer = Lingerer(loop, ours.fileno(), lambda fd, size: ours.recv(size),
                        lambda event, error: done.append((event, error)))
    lingerer.start()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    peer.close()  # RST
    for _ in range(100):
        loop.run_once(timeout=0.05)
        if done:
            break
    assert len(done) == 1 and done[0][0] is Event.ABORT
    assert isinstance(done[0][1], ConnectionResetError)
    ours.close()
    listener.close()
    loop.close()


def test_ending_a_lingering_connection_again_changes_nothing(pair, caplog):
    """A shutdown that finds a connection lingering: no second FIN, no second
    lingerer whose timer would later find the connection closed."""
    p = pair()
    p.conn.end("idle_timeout")
    assert p.conn.state is LINGERING
    lingerer, timers = p.conn.lingerer, p.loop.statistics().timers
    p.conn.end("shutdown")
    assert p.conn.state is LINGERING and p.conn.lingerer is lingerer
    assert p.loop.statistics().timers == timers
    with caplog.at_level(logging.ERROR, logger="evloop"):
        p.client.close()
        p.run_until(lambda: p.conn.state is CLOSED)
    assert not caplog.records and p.conn.ended_by == "idle_timeout"
