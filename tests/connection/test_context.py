"""evloop.connection.context: the handler's side of a connection, on a socketpair: its
powers (pausing its reading, half-closes both ways, its idle timeout, timers, offload),
and the one error path for handler code."""

import logging
import os
import socket
import time
from concurrent.futures import Future

import pytest

from evloop import Config
from evloop import Handler
from evloop import ProtocolError
from evloop.connection.states import CLOSED
from evloop.connection.states import FIN_SENT
from evloop.connection.states import INPUT_ONLY
from evloop.connection.states import LINGERING
from evloop.connection.states import OPEN
from evloop.connection.states import OUTPUT_ONLY
from evloop.handlers.context import Context
from evloop.handlers.echo import EchoHandler
from evloop.handlers.slow import SlowHandler
from evloop.loop.base import BaseLoop
from evloop.settings.limits import MAX_PENDING_WORK
from evloop.settings.limits import RESUME_PENDING_WORK
from tests.conftest import recv_exactly
from tests.pairs import PairOwner
from tests.pairs import make_connection
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
    assert listener.conn.state is OPEN and listener.loop.statistics().timers == 0  # no idle timer
    listener.context.set_idle_timeout(0.05)  # and back
    listener.run_until(lambda: listener.conn.state in (LINGERING, CLOSED))


def test_connections_share_one_idle_timer_on_the_loop_until_one_fires():
    loop = BaseLoop()
    owner = PairOwner(loop, Config(idle_timeout=0.1))
    ends = [socket.socketpair() for _ in range(20)]
    try:
        for server_end, _ in ends:
            server_end.setblocking(False)
            make_connection(loop, server_end, EchoHandler(), owner.config, owner)
        assert len(loop._heap) == 1 and loop.statistics().timers == 20  # one heap timer
        first = next(iter(owner.connections))
        first.end("handler_close", now=True)
        assert loop.statistics().timers == 19  # disarmed with the connection
        deadline = time.monotonic() + 5
        while owner.connections and time.monotonic() < deadline:
            loop.run_once(0.05)
        assert not owner.connections  # every other one timed out, as before
        assert owner.counters.closed["idle_timeout"] == 19
    finally:
        for server_end, client_end in ends:
            server_end.close()
            client_end.close()
        loop.close()


def test_pushes_to_a_listener_count_as_being_served(pair):
    # Three idle timeouts long; a timeout of 0.5 s, as a busy machine (two suites at
    # once) once took more than 0.1 s over one of these turns.
    p = pair(config=Config(idle_timeout=0.5))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        p.context.push(b"tick\n")
        p.loop.call_later(0.02, lambda: None)
        p.turn()
        # The listener reads: pushes to a client that does not read would only
        # fill the socket buffers until backpressure, not show it is being served.
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
    """The handler sees its powers, every one the Context protocol names, and not
    the socket or the state machine."""
    p = pair()
    powers = {name for name in vars(Context) if not name.startswith("_")}
    assert {"push", "close", "connect", "offload", "peer", "server"} <= powers
    assert all(hasattr(p.context, power) for power in powers), powers - set(dir(p.context))
    for inside in ("on_readable", "sock", "out", "_transition", "state"):
        assert not hasattr(p.context, inside), inside


# -- the one error path for handler code ----------------------------------------

class Recorder(EchoHandler):
    """Echo, remembering every call it gets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def connection_made(self, context):
        self.calls.append("made")
        return super().connection_made(context)

    def connection_lost(self, exc):
        self.calls.append(("lost", type(exc).__name__ if exc else None))

    def pause_writing(self):
        self.calls.append("pause")

    def resume_writing(self):
        self.calls.append("resume")


def reports(loop):
    """The loop's exception reports, collected instead of logged."""
    seen = []
    loop.set_exception_handler(lambda lp, context: seen.append(context))
    return seen


def test_close_in_a_reply_sends_the_reply_first(pair):
    class Bye(EchoHandler):
        def data_received(self, data):
            self.context.close()
            assert self.context.is_closing()
            return b"bye"

    p = pair(handler=Bye())
    p.client.sendall(b"quit")
    p.run_until(lambda: p.conn.state in (LINGERING, CLOSED))
    assert p.client.recv(10) == b"bye" and p.client.recv(10) == b""


def test_close_from_a_timer_takes_effect(pair):
    """close() works from any handler call, not only inside a reply."""
    class Later(EchoHandler):
        def connection_made(self, context):
            super().connection_made(context)
            context.call_later(0.01, context.close)

    p = pair(handler=Later())
    p.run_until(lambda: p.conn.state is LINGERING)
    assert p.client.recv(10) == b""


def test_abort_drops_at_once(pair):
    class Abort(EchoHandler):
        def data_received(self, data):
            self.context.abort()
            return b"never sent"

    p = pair(handler=Abort())
    p.client.sendall(b"x")
    p.turn()
    assert p.conn.state is CLOSED and p.closed == [p.conn]
    assert p.client.recv(100) == b""


def test_connection_lost_comes_after_the_call_that_ended_it(pair):
    handler = Recorder()
    p = pair(handler=handler)
    p.conn.end("handler_abort", now=True)
    assert handler.calls == ["made"]  # not in the middle of the caller
    p.turn()
    assert handler.calls == ["made", ("lost", None)]


def test_connection_lost_gets_the_socket_error(pair):
    handler = Recorder()
    p = pair(handler=handler)

    def reset(fd, size):
        raise ConnectionResetError(104, "Connection reset by peer")

    p.conn.set_io(reset, os.write)
    p.client.sendall(b"x")
    p.run_until(lambda: ("lost", "ConnectionResetError") in handler.calls)


def test_timers_fire_can_be_cancelled_and_end_with_the_connection(pair):
    fired = []
    p = pair()
    context = p.context
    context.call_later(0.01, fired.append, "one")
    dropped = context.call_later(0.01, fired.append, "dropped")
    dropped.cancel()
    assert dropped.cancelled()
    p.run_until(lambda: fired)
    assert fired == ["one"]
    timers = p.loop.statistics().timers  # the idle timer
    for _ in range(500):  # re-arming a timeout on every message
        context.call_later(60, fired.append, "stale").cancel()
    pending = context.call_later(60, fired.append, "pending")
    assert p.loop.statistics().timers == timers + 1  # the cancelled ones are gone
    context.close()
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)
    assert pending.cancelled() and p.loop.statistics().timers == 0 and fired == ["one"]
    late = context.call_later(0, fired.append, "late")  # after the end: never fires
    assert late.cancelled()


def test_a_raising_timer_aborts_its_connection_only(pair):
    p, other = pair(), pair()
    seen = reports(p.loop)
    p.context.call_later(0, lambda: 1 / 0)
    p.run_until(lambda: p.conn.state is CLOSED)
    assert len(seen) == 1 and isinstance(seen[0]["exception"], ZeroDivisionError)
    assert seen[0]["peer"] == "peer:1" and "call_later callback" in seen[0]["message"]
    other.client.sendall(b"fine")
    other.turn()
    assert other.client.recv(10) == b"fine"


def test_a_protocol_error_from_a_timer_closes_in_order(pair, caplog):
    p = pair()
    p.context.call_later(0, lambda: (_ for _ in ()).throw(ProtocolError("late", reply=b"due")))
    with caplog.at_level(logging.INFO, logger="evloop"):
        p.run_until(lambda: p.conn.state is LINGERING)
    assert p.client.recv(10) == b"due" and "protocol error: late" in caplog.text


def test_backpressure_is_told_to_the_handler(pair):
    handler = Recorder()
    p = pair(handler=handler, config=Config(high_water=8192, low_water=1024,
                                            max_output=1 << 30), sndbuf=4096)
    while not p.conn.output_high:
        p.context.push(b"z" * 4096)
    assert p.conn.state is OPEN and handler.calls == ["made", "pause"]
    p.client.settimeout(0.05)
    while p.conn.output_high:
        p.turn()
        try:
            p.client.recv(1 << 20)
        except socket.timeout:
            pass
    assert handler.calls == ["made", "pause", "resume"]


@pytest.mark.parametrize("answer", ["a str", 42, [b"x"], "", 0, {"a": 1}])
def test_an_answer_that_is_not_bytes_is_the_handler_s_bug(pair, answer):
    class Wrong(EchoHandler):
        def data_received(self, data):
            return answer

    p, other = pair(handler=Wrong()), pair()
    seen = reports(p.loop)
    p.client.sendall(b"x")
    p.turn()
    assert p.conn.state is CLOSED
    assert seen[0]["message"] == (f"peer:1: handler Wrong.data_received returned "
                                  f"{type(answer).__name__}, not bytes; dropping this connection")
    other.client.sendall(b"ok")
    other.turn()
    assert other.client.recv(10) == b"ok"


@pytest.mark.parametrize("answer", [b"", bytearray(b"ba"), memoryview(b"mv"), None])
def test_bytes_like_answers_are_fine(pair, answer):
    class Fine(EchoHandler):
        def data_received(self, data):
            return answer

    p = pair(handler=Fine())
    p.client.sendall(b"x")
    p.turn()
    assert p.conn.state is OPEN
    if answer:
        assert p.client.recv(10) == bytes(answer)


def test_every_other_handler_call_is_checked_too(pair, caplog):
    class Greets(Handler):
        def connection_made(self, context):
            return "hello"  # a str greeting

        def data_received(self, data):
            return data

    class EndsBadly(EchoHandler):
        def eof_received(self):
            return 7

    class PushesStr(EchoHandler):
        def data_received(self, data):
            self.context.push("oops")

    for handler, message in [(Greets(), "Greets.connection_made returned str"),
                             (EndsBadly(), "EndsBadly.eof_received returned int"),
                             (PushesStr(), "PushesStr raised in data_received")]:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="evloop"):
            p = pair(handler=handler)
            try:
                p.client.sendall(b"x")
                p.client.shutdown(socket.SHUT_WR)
            except OSError:  # closed already: the greeting was the bug
                pass
            p.run_until(lambda: p.conn.state is CLOSED)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and message in errors[0], errors


def test_offload_without_a_pool_runs_inline(pair):
    class Offloads(EchoHandler):
        def data_received(self, data):
            return self.context.offload(bytes.upper, data, then=lambda result: result + b"!")

    p = pair(handler=Offloads())
    p.client.sendall(b"abc")
    p.turn()
    assert p.client.recv(10) == b"ABC!"


def test_offloaded_work_in_flight_is_bounded_by_backpressure():
    """A client that pipelines faster than the pool works is paused, then resumed."""
    class PoolThatWaits:
        def __init__(self):
            self.callbacks = []

        def submit(self, fn, args, callback):
            self.callbacks.append(callback)

    loop = BaseLoop()
    server_side, client = socket.socketpair()
    server_side.setblocking(False)
    pool = PoolThatWaits()
    config = Config(idle_timeout=0)
    conn = make_connection(loop, server_side, SlowHandler(work_ms=0), config,
                           PairOwner(loop, config, offloader=pool))
    try:
        client.sendall(b"x\n" * (MAX_PENDING_WORK + 10))
        loop.run_once()
        assert conn.pending_work == MAX_PENDING_WORK + 10 and conn.output_high
        assert conn.reader is None  # not read while so much work is in flight
        done = Future()
        done.set_result(0)
        finished = 0
        while conn.output_high:
            pool.callbacks[finished](done)
            finished += 1
        assert conn.pending_work == RESUME_PENDING_WORK and conn.state is OPEN
        client.settimeout(5)
        assert recv_exactly(client, 2 * finished) == b"x\n" * finished  # in order, as done
    finally:
        client.close()
        conn.end("shutdown", now=True, reason="test over")
        loop.close()
