"""The connection as its handler's context, and the one error path for handler code."""

import logging
import socket

import pytest

from evloop import Config
from evloop import Handler
from evloop import ProtocolError
from evloop.connection.states import CLOSED
from evloop.connection.states import LINGERING
from evloop.connection.states import OPEN
from evloop.handlers.echo import EchoHandler
from tests.pairs import pair  # noqa: F401  (a fixture)


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
    """Before, setting wants_close outside a reply was ignored."""
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

    p.conn.sys_read = reset
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
    for _ in range(500):  # re-arming a timeout on every message
        context.call_later(60, fired.append, "stale").cancel()
    pending = context.call_later(60, fired.append, "pending")
    assert len(context.timers) == 1  # the cancelled ones are gone
    context.close()
    p.client.close()
    p.run_until(lambda: p.conn.state is CLOSED)
    assert pending.cancelled() and not context.timers and fired == ["one"]
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
