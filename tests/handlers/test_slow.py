"""evloop.handlers.slow with no sockets: a line protocol whose work stalls the loop, or is
offloaded and answered in arrival order.  Served, with --offload: tests/features/test_offload.py."""

import time

import pytest

from evloop.handlers import ProtocolError
from evloop.handlers.slow import SlowHandler
from evloop.handlers.slow import work
from tests.fakes import connected
from tests.splits import split_at


def test_inline_work_echoes_each_complete_line():
    handler = connected(SlowHandler(work_ms=0))
    assert handler.data_received(b"one\ntw") == b"one\n"
    assert handler.data_received(b"o\nthree\n") == b"two\nthree\n"
    assert handler.data_received(b"partial") is None
    with pytest.raises(ProtocolError):
        handler.eof_received()


@pytest.mark.parametrize("cut", range(1, 12))
def test_any_split_gives_the_same_echo(cut):
    handler = connected(SlowHandler(work_ms=0))
    wire = b"alpha\nbeta\ngamma\n"
    out = b"".join(handler.data_received(part) or b"" for part in split_at(wire, [cut, cut * 3]))
    assert out == wire


def test_a_line_over_max_message_is_a_protocol_error():
    handler = connected(SlowHandler(max_message=10, work_ms=0))
    with pytest.raises(ProtocolError):
        handler.data_received(b"x" * 11)
    handler = connected(SlowHandler(max_message=10, work_ms=0))
    with pytest.raises(ProtocolError, match="max-message 10"):  # a lone \r ends no line
        handler.data_received(b"x" * 25 + b"\r" + b"y" * 24 + b"\n")
    handler = connected(SlowHandler(max_message=10, work_ms=0))
    assert handler.data_received(b"x" * 10 + b"\r") is None  # a CRLF may follow
    assert handler.data_received(b"\n") == b"x" * 10 + b"\n"


def test_unknown_work_kind_is_refused():
    with pytest.raises(ValueError):
        SlowHandler(work="dance")


def test_offloaded_results_are_sent_in_arrival_order():
    pending = []
    # A pool that waits: offload() returns None, and `then` runs when the test says.
    handler = connected(SlowHandler(work_ms=0),
                        offload_to=lambda fn, args, then: pending.append(then))
    assert handler.data_received(b"a\nb\nc\n") == b""  # three lines, no reply yet
    assert pending[2](0) == b""          # c is done first: it must wait for a and b
    assert pending[0](0) == b"a\n"
    assert pending[1](0) == b"b\nc\n"


@pytest.mark.parametrize("kind", ["cpu", "sleep"])
def test_work_takes_at_least_its_milliseconds(kind):
    start = time.perf_counter()
    assert work(20, kind) == 20
    assert time.perf_counter() - start >= 0.019
