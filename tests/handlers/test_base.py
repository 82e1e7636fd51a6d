"""evloop.handlers.base: the Handler API with no sockets: its defaults, a datagram as a
whole conversation, factory and options, ProtocolError."""

import pytest

from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.base import ProtocolError
from evloop.testing import FakeContext


class Recorder(Handler):
    """Records the grammar of calls; answers as it is told."""

    def __init__(self, answers=None, **kwargs):
        super().__init__(**kwargs)
        self.calls = []
        self.answers = answers or {}

    def connection_made(self, context):
        super().connection_made(context)
        self.calls.append("made")
        return self.answers.get("made")

    def data_received(self, data):
        self.calls.append(("data", data))
        return self.answers.get("data", data)

    def eof_received(self):
        self.calls.append("eof")
        return self.answers.get("eof")

    def connection_lost(self, exc):
        self.calls.append(("lost", exc))


def test_data_received_must_be_defined():
    class Nothing(Handler):
        pass

    with pytest.raises(NotImplementedError, match="Nothing must define data_received"):
        Nothing().data_received(b"x")


def test_the_defaults_keep_the_context_and_end_at_eof():
    handler = type("Plain", (Handler,), {"data_received": lambda self, data: data})()
    context = FakeContext()
    assert handler.connection_made(context) is None and handler.context is context
    assert handler.eof_received() is None  # None: close once the replies due are sent
    assert handler.connection_lost(None) is None
    handler.pause_writing()
    handler.resume_writing()
    Handler.server_started(None)
    Handler.server_stopping(None)


def test_a_datagram_is_made_received_ended_and_lost_in_one_go():
    handler = Recorder(answers={"made": b"hi ", "eof": b" bye"})
    context = FakeContext()
    assert handler.datagram_received(b"ping", context) == b"hi ping bye"
    assert handler.calls == ["made", ("data", b"ping"), "eof", ("lost", None)]
    assert handler.context is context


def test_a_datagram_skips_none_and_eofs_keep_open():
    handler = Recorder(answers={"eof": True, "data": None})
    assert handler.datagram_received(b"x", FakeContext()) == b""  # True means nothing over UDP
    bytes_like = Recorder(answers={"made": bytearray(b"a"), "data": memoryview(b"b")})
    assert bytes_like.datagram_received(b"x", FakeContext()) == b"ab"


def test_a_datagram_answer_that_is_not_bytes_is_the_handlers_bug():
    with pytest.raises(TypeError):
        Recorder(answers={"data": "a str"}).datagram_received(b"x", FakeContext())


def test_the_factory_makes_a_new_handler_per_connection_with_its_options():
    class Tuned(Handler):
        def __init__(self, max_message=10, speed=1):
            super().__init__(max_message)
            self.speed = speed

        def data_received(self, data):
            return data

    make = Tuned.factory(max_message=99, speed=3)
    first, second = make(), make()
    assert first is not second
    assert (first.max_message, first.speed) == (second.max_message, second.speed) == (99, 3)


def test_an_option_converts_and_checks_its_value():
    size = Option("bytes", type=int)
    assert size.check("size", "42") == 42
    with pytest.raises(ValueError, match=r"handler option size \('big'\) is not valid"):
        size.check("size", "big")
    flag = Option("on or off", type=int)
    assert flag.check("flag", True) is True  # a bool stays a bool, never int(True)
    mode = Option("how", choices=("cpu", "sleep"), default="cpu")
    assert mode.check("mode", "sleep") == "sleep"
    with pytest.raises(ValueError, match=r"handler option mode \('gpu'\) must be one of: cpu, sleep"):
        mode.check("mode", "gpu")


def test_a_protocol_error_carries_its_reason_and_the_replies_due():
    err = ProtocolError("bad length header", reply=b"002ok")
    assert (str(err), err.reason, err.reply) == ("bad length header", "bad length header", b"002ok")
    assert ProtocolError("no reply").reply == b""
