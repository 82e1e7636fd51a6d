from hypothesis import given
from hypothesis import strategies as st

from evloop.handlers.echo import EchoHandler
from evloop.testing import FakeContext
from tests.splits import byte_by_byte
from tests.splits import cuts
from tests.splits import feed
from tests.splits import split_at


def test_a_client_gets_back_what_it_sends_and_eof_closes():
    context = FakeContext()
    context.open(EchoHandler())
    assert context.feed(b"Hello, world") == b"Hello, world"
    assert context.feed(b"\x00\xff") == b"\x00\xff"
    context.feed_eof()
    assert context.sent == [b"Hello, world", b"\x00\xff"] and context.closed


def test_echo_answers_each_chunk_at_once():
    handler = EchoHandler()
    assert handler.data_received(b"Hello, world") == b"Hello, world"
    assert handler.data_received(b"\x00\xff") == b"\x00\xff"
    assert handler.eof_received() is None


def test_echo_byte_by_byte_is_the_same():
    data = b"no newline needed"
    assert feed(EchoHandler(), byte_by_byte(data)) == data


@given(st.binary(max_size=3000), cuts)
def test_echo_any_split(data, cut_points):
    assert feed(EchoHandler(), split_at(data, cut_points)) == data


def test_echo_datagram():
    assert EchoHandler().datagram_received(b"ping", FakeContext()) == b"ping"
