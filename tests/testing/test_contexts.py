"""evloop.testing.contexts: a handler driven from a test function, with the server's grammar
of calls, its rules on answers and on the end of a connection, and every power recorded."""

import inspect

import pytest

import evloop
from evloop.handlers.base import WrongReturn
from evloop.handlers.context import Context
from evloop.testing import FakeContext
from evloop.testing import FakeServerContext

pytestmark = pytest.mark.timeout(10)


def powers(protocol):
    return {name for name, _ in inspect.getmembers(protocol) if not name.startswith("_")}


def test_the_fake_has_every_power_of_a_context():
    assert powers(Context) <= set(dir(FakeContext())), powers(Context) - set(dir(FakeContext()))


class Recorder(evloop.Handler):
    def __init__(self, answers=None, **kwargs):
        super().__init__(**kwargs)
        self.calls = []
        self.answers = answers or {}

    def connection_made(self, context):
        super().connection_made(context)
        self.calls.append("made")
        return self.answers.get("made", b"hi\n")

    def data_received(self, data):
        self.calls.append(("data", data))
        if data == b"quit":
            self.context.close()
            self.calls.append("still in the call")
        return self.answers.get("data", data)

    def eof_received(self):
        self.calls.append("eof")
        return self.answers.get("eof")

    def connection_lost(self, exc):
        self.calls.append(("lost", exc))


def test_the_calls_come_in_the_servers_order_and_their_answers_are_sent():
    context, handler = FakeContext(), Recorder()
    assert context.open(handler) == b"hi\n"
    assert context.feed(b"one") == b"one"
    context.push(b"pushed")
    assert context.sent == [b"hi\n", b"one", b"pushed"] and context.pushed == [b"pushed"]
    assert context.take() == b"hi\nonepushed" and context.sent == []
    assert context.feed_eof() is None and context.closed
    assert handler.calls == ["made", ("data", b"one"), "eof", ("lost", None)]
    with pytest.raises(RuntimeError, match=r"feed\(\) on a connection that is closed"):
        context.feed(b"after the end")


def test_connection_lost_comes_after_the_call_that_closed_and_its_answer_is_sent():
    context, handler = FakeContext(), Recorder()
    context.open(handler)
    assert context.feed(b"quit") == b"quit"
    assert handler.calls[-3:] == [("data", b"quit"), "still in the call", ("lost", None)]
    assert context.sent[-1] == b"quit" and context.state == "closed"


def test_eof_answered_true_keeps_the_connection_open():
    context, handler = FakeContext(), Recorder(answers={"eof": True})
    context.open(handler)
    assert context.feed_eof() is True and context.state == "open" and not context.closed


def test_an_answer_that_is_not_bytes_is_the_servers_wrong_return():
    context = FakeContext()
    context.open(Recorder(answers={"data": "a str"}))
    with pytest.raises(WrongReturn, match="Recorder.data_received returned str, not bytes"):
        context.feed(b"x")
    with pytest.raises(TypeError, match="push\\(\\) takes bytes, not str"):
        context.push("text")


def test_timers_run_as_the_clock_moves_and_end_with_the_connection():
    context, handler = FakeContext(), Recorder()
    context.open(handler)
    ticks, once = [], []
    context.call_every(1.0, lambda: ticks.append(context.time()))
    context.call_later(2.5, once.append, "later")
    context.clock.advance(3)
    assert ticks == [1.0, 2.0, 3.0] and once == ["later"]
    context.lose(ConnectionResetError(104, "Connection reset by peer"))
    assert isinstance(handler.calls[-1][1], ConnectionResetError)
    assert context.clock.advance(10) == 0 and ticks == [1.0, 2.0, 3.0]


def test_a_timer_that_closes_ends_the_connection_after_it_returns():
    context, handler = FakeContext(), Recorder()
    context.open(handler)
    context.call_later(5, context.close)
    context.clock.advance(5)
    assert context.state == "closed" and handler.calls[-1] == ("lost", None)


def test_connects_wait_for_the_test_to_open_or_refuse_them():
    context = FakeContext()
    context.open(Recorder())
    up, down = Recorder(), Recorder()
    first = context.connect(("127.0.0.1", 9000), up, timeout=2.0)
    context.connect(("127.0.0.1", 9001), down)
    first.push(b"queued")  # before it is up, as on a server
    (opened, refused) = context.connects
    assert opened.address == ("127.0.0.1", 9000) and opened.context is first
    assert opened.options == {"tls": None, "server_hostname": None, "timeout": 2.0, "round_robin": False}
    assert opened.open() == b"hi\n" and up.calls == ["made"]
    refused.refuse()
    assert down.calls == [("lost", refused.context.lost_with)]
    assert isinstance(refused.context.lost_with, ConnectionRefusedError)


def test_offload_runs_inline_or_waits_in_a_pool_until_finished():
    inline = FakeContext()
    assert inline.offload(sum, [1, 2], then=lambda n: b"%d" % n) == b"3"
    pooled = FakeContext(pool=True)
    pooled.open(Recorder(answers={"made": None}))
    assert pooled.offload(sum, [1, 2], then=lambda n: b"%d" % n) is None
    assert pooled.offload(lambda: 1 / 0, then=bytes, error=lambda exc: b"failed") is None
    second, first = pooled.offloaded[1], pooled.offloaded[0]
    assert second.finish() == b"failed" and first.finish() == b"3"
    assert pooled.sent == [b"failed", b"3"]


class Farewell(evloop.Handler):
    """Closes on "bye" with a last answer, and pushes once more as it is lost."""

    def data_received(self, data):
        if data == b"bye":
            self.context.close()
            return b"bye"
        return data

    def connection_lost(self, exc):
        self.context.push(b"after the end")


def test_the_last_answer_is_sent_before_connection_lost_as_on_a_server():
    context = FakeContext()
    context.open(Farewell())
    context.feed(b"bye")
    assert context.sent == [b"bye", b"after the end"] and context.state == "closed"


def test_a_close_from_outside_the_handler_s_calls_ends_it_in_a_later_step():
    context = FakeContext()
    context.open(Farewell())
    context.close()  # another handler's call closed this one
    assert context.state == "open"  # not nested inside that call
    context.clock.advance(0)
    assert context.state == "closed" and context.sent == [b"after the end"]


def test_timers_set_after_the_end_never_run():
    context = FakeContext()
    context.open(Farewell())
    context.lose()
    late, every = context.call_later(0, print, "late"), context.call_every(1, print, "never")
    assert late.cancelled() and every.cancelled() and context.clock.advance(5) == 0


def test_outbound_connections_are_not_the_server_s_clients():
    server = FakeServerContext()
    handler, client = Recorder(), FakeContext(server=server)
    client.open(handler)
    dialled = client.connect(("127.0.0.1", 9000), Recorder())
    client.connects[0].open()
    assert server.connections == [client] and dialled.server is server


def test_a_forwarding_context_pushes_what_it_is_fed_to_the_other_unseen_by_its_handler():
    seen = []

    class Records(evloop.Handler):
        def data_received(self, data):
            seen.append(data)
            return b""

    a, b = FakeContext(), FakeContext()
    a.open(Records())
    b.open(Records())
    a.forward_to(b)
    assert a.feed(b"over") is None and b.pushed == [b"over"] and seen == []
    a.forward_to(None)
    assert a.feed(b"mine") == b"" and seen == [b"mine"]
    with pytest.raises(TypeError):
        a.forward_to("b")
    with pytest.raises(ValueError):
        a.forward_to(a)
