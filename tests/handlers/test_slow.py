"""evloop.handlers.slow with no sockets: a line protocol whose work stalls the loop, or is
offloaded and answered in arrival order.  Served, with --offload: tests/features/test_offload.py."""

import time

import pytest

from evloop.handlers import ProtocolError
from evloop.handlers.slow import SlowHandler
from evloop.handlers.slow import work
from evloop.testing import FakeContext
from tests.splits import split_at


def test_each_line_is_echoed_once_its_work_is_done():
    context = FakeContext()  # no pool: offload() works here and now, as without --offload
    context.open(SlowHandler(work_ms=0))
    assert context.feed(b"one\ntw") == b"one\n"
    assert context.feed(b"o\n") == b"two\n"
    context.feed_eof()
    assert context.sent == [b"one\n", b"two\n"] and context.closed


def test_offloaded_results_are_sent_in_arrival_order():
    context = FakeContext(pool=True)  # a pool that waits until the test finishes each work
    context.open(SlowHandler(work_ms=0))
    assert context.feed(b"a\nb\nc\n") == b""  # three lines, no reply yet
    a, b, c = context.offloaded
    assert c.finish() == b""  # c is done first: it must wait for a and b
    assert a.finish() == b"a\n"
    assert b.finish() == b"b\nc\n"
    assert context.sent == [b"a\n", b"b\nc\n"]


def slow(**options):
    """A SlowHandler with no work to do, served on a fake context: the context."""
    context = FakeContext()
    context.open(SlowHandler(work_ms=0, **options))
    return context


def test_inline_work_echoes_each_complete_line():
    context = slow()
    assert context.feed(b"one\ntw") == b"one\n"
    assert context.feed(b"o\nthree\n") == b"two\nthree\n"
    assert context.feed(b"partial") is None
    with pytest.raises(ProtocolError):
        context.feed_eof()


@pytest.mark.parametrize("cut", range(1, 12))
def test_any_split_gives_the_same_echo(cut):
    context = slow()
    wire = b"alpha\nbeta\ngamma\n"
    for part in split_at(wire, [cut, cut * 3]):
        context.feed(part)
    assert context.take() == wire


def test_a_line_over_max_message_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        slow(max_message=10).feed(b"x" * 11)
    with pytest.raises(ProtocolError, match="max-message 10"):  # a lone \r ends no line
        slow(max_message=10).feed(b"x" * 25 + b"\r" + b"y" * 24 + b"\n")
    context = slow(max_message=10)
    assert context.feed(b"x" * 10 + b"\r") is None  # a CRLF may follow
    assert context.feed(b"\n") == b"x" * 10 + b"\n"


def test_unknown_work_kind_is_refused():
    with pytest.raises(ValueError):
        SlowHandler(work="dance")


@pytest.mark.parametrize("kind", ["cpu", "sleep"])
def test_work_takes_at_least_its_milliseconds(kind):
    start = time.perf_counter()
    assert work(20, kind) == 20
    assert time.perf_counter() - start >= 0.019
