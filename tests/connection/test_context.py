"""evloop.connection.context: the handler's powers over its own connection, on a socketpair:
pausing its reading, half-closes both ways, its idle timeout, offload errors."""

import socket
import time
from concurrent.futures import Future

import pytest

from evloop import Config
from evloop import Handler
from evloop.connection.states import CLOSED
from evloop.connection.states import FIN_SENT
from evloop.connection.states import INPUT_ONLY
from evloop.connection.states import LINGERING
from evloop.connection.states import OPEN
from evloop.connection.states import OUTPUT_ONLY
from evloop.handlers.echo import EchoHandler
from tests.pairs import pair  # noqa: F401  (a fixture)

pytestmark = pytest.mark.timeout(30)


def test_pause_reading_stops_reading_until_resumed(pair):
    p = pair()
    p.context.pause_reading()
    assert p.conn.reader is None and p.loop.watching(p.conn.fd) == 0
    p.client.sendall(b"waits in the kernel")
    p.turn()
    p.client.settimeout(0.05)
    with pytest.raises(socket.timeout):
        p.client.recv(100)
    p.context.resume_reading()
    p.turn()
    p.client.settimeout(5)
    assert p.client.recv(100) == b"waits in the kernel"


def test_resume_reading_does_not_override_backpressure(pair):
    p = pair(config=Config(high_water=4096, low_water=1024, max_output=1 << 30), sndbuf=4096)
    p.context.pause_reading()
    while not p.conn.output_high:
        p.context.push(b"z" * 4096)
    p.context.resume_reading()
    assert p.conn.reader is None  # still paused: the client does not read its output


class HalfCloser(EchoHandler):
    """Echo; after the peer's EOF, one more line later, then its own EOF."""

    def eof_received(self):
        self.context.call_later(0.02, self.finish)
        return True  # keep the connection open for writing

    def finish(self):
        self.context.push(b"the last word")
        self.context.write_eof()


def test_eof_received_true_keeps_the_connection_open_for_writing(pair):
    p = pair(handler=HalfCloser())
    p.client.sendall(b"ping")
    p.client.shutdown(socket.SHUT_WR)
    p.run_until(lambda: p.conn.state is OUTPUT_ONLY)
    p.run_until(lambda: p.conn.state is CLOSED)
    data = b""
    while chunk := p.client.recv(100):
        data += chunk
    assert data == b"ping" + b"the last word"


class SaysHelloThenEOF(Handler):
    def connection_made(self, context):
        super().connection_made(context)
        context.push(b"hello, and that is all I will say")
        context.write_eof()

    def data_received(self, data):
        return b""  # it still reads (and may not answer)


def test_write_eof_sends_fin_after_the_output_and_goes_on_reading(pair):
    p = pair(handler=SaysHelloThenEOF())
    assert p.conn.state is INPUT_ONLY  # the replies due drain first...
    p.run_until(lambda: p.conn.state is FIN_SENT)  # ...after the call that asked for it
    assert p.client.recv(100) == b"hello, and that is all I will say"
    assert p.client.recv(100) == b""  # our FIN
    p.client.sendall(b"the client still talks")
    p.turn()
    assert p.conn.reads == 1 and p.conn.state is FIN_SENT
    p.client.shutdown(socket.SHUT_WR)
    p.run_until(lambda: p.conn.state is CLOSED)


def test_sending_after_write_eof_is_the_handler_s_bug(pair):
    class Rude(SaysHelloThenEOF):
        def data_received(self, data):
            return b"no: I said EOF"

    p = pair(handler=Rude())
    seen = []
    p.loop.set_exception_handler(lambda lp, context: seen.append(context))
    p.run_until(lambda: p.conn.state is INPUT_ONLY)
    p.client.sendall(b"x")
    p.run_until(lambda: p.conn.state is CLOSED)
    assert "Rude raised in data_received" in seen[0]["message"]
    assert "write_eof" in str(seen[0]["exception"])


def test_a_default_handler_still_closes_at_the_peer_s_eof(pair):
    p = pair()
    p.client.sendall(b"abc")
    p.client.shutdown(socket.SHUT_WR)
    p.run_until(lambda: p.conn.state is CLOSED)
    assert p.client.recv(100) == b"abc" and p.client.recv(100) == b""


def test_set_idle_timeout_none_keeps_a_listener(pair):
    class Listener(EchoHandler):
        def connection_made(self, context):
            super().connection_made(context)
            context.set_idle_timeout(None)

    quiet, listener = pair(config=Config(idle_timeout=0.05)), pair(
        handler=Listener(), config=Config(idle_timeout=0.05))
    quiet.run_until(lambda: quiet.conn.state in (LINGERING, CLOSED))
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        listener.turn()
    assert listener.conn.state is OPEN and listener.context.idle is None
    listener.context.set_idle_timeout(0.05)  # and back
    listener.run_until(lambda: listener.conn.state in (LINGERING, CLOSED))


def test_pushes_to_a_listener_count_as_being_served(pair):
    p = pair(config=Config(idle_timeout=0.1))
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        p.context.push(b"tick\n")
        p.loop.call_later(0.02, lambda: None)
        p.turn()
        # The listener reads: a client that does not is not being served, and on a
        # fast turn the pushes once filled the socket buffers (124,930 bytes queued).
        assert p.client.recv(1 << 16).startswith(b"tick\n")
    assert p.conn.state is OPEN


class Lookup(EchoHandler):
    """Offloads a lookup that may fail, and answers either way."""

    def data_received(self, data):
        return self.context.offload(self.find, data, then=lambda found: b"found " + found,
                                    error=lambda exc: f"lookup failed: {exc}".encode())

    @staticmethod
    def find(key):
        if key == b"missing":
            raise KeyError("missing")
        return key


def test_offload_errors_reach_the_handler_inline(pair):
    p = pair(handler=Lookup())
    p.client.sendall(b"here")
    p.turn()
    assert p.client.recv(100) == b"found here"
    p.client.sendall(b"missing")
    p.turn()
    assert p.client.recv(100) == b"lookup failed: 'missing'"
    assert p.conn.state is OPEN


class PoolNow:
    """An offload pool that runs each call at once and answers on the next turn."""

    def __init__(self, loop):
        self.loop = loop

    def submit(self, fn, args, callback):
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        self.loop.call_soon(callback, future)


def test_offload_errors_reach_the_handler_from_a_pool(pair):
    p = pair(handler=Lookup())
    p.owner.offloader = PoolNow(p.loop)
    p.client.sendall(b"missing")
    p.run_until(lambda: p.conn.pending_work == 0 and p.conn.replies)
    assert p.client.recv(100) == b"lookup failed: 'missing'"
    assert p.conn.state is OPEN


def test_an_offload_error_without_an_error_callback_is_still_a_bug(pair):
    class NoErrorCallback(Lookup):
        def data_received(self, data):
            return self.context.offload(self.find, data, then=lambda found: found)

    p = pair(handler=NoErrorCallback())
    p.owner.offloader = PoolNow(p.loop)
    seen = []
    p.loop.set_exception_handler(lambda lp, context: seen.append(context))
    p.client.sendall(b"missing")
    p.run_until(lambda: p.conn.state is CLOSED)
    assert "raised in offloaded work" in seen[0]["message"]


def test_the_context_is_not_the_connection(pair):
    """The handler sees its powers, and not the socket or the state machine."""
    p = pair()
    for power in ("push", "close", "abort", "write_eof", "pause_reading", "resume_reading",
                  "call_later", "offload", "connect", "set_idle_timeout", "is_closing",
                  "peer", "peer_subject", "server"):
        assert hasattr(p.context, power), power
    for inside in ("on_readable", "sock", "out", "_transition", "state"):
        assert not hasattr(p.context, inside), inside
