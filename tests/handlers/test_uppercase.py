from hypothesis import given
from hypothesis import strategies as st

from evloop.handlers.uppercase import UppercaseHandler
from evloop.testing import FakeContext
from tests.splits import byte_by_byte
from tests.splits import cuts
from tests.splits import feed
from tests.splits import split_at


def test_a_client_gets_its_sentence_back_in_capitals_and_eof_closes():
    context = FakeContext()
    context.open(UppercaseHandler())
    assert context.feed(b"hello there") == b"HELLO THERE"
    context.feed_eof()
    assert context.sent == [b"HELLO THERE"] and context.closed


def test_kurose_ross_sentence_without_newline():
    assert UppercaseHandler().data_received(b"hello there") == b"HELLO THERE"


def test_only_ascii_letters_change():
    text = "straße é 123 abc".encode()
    assert UppercaseHandler().data_received(text) == text.upper()
    assert UppercaseHandler().data_received(text) == "STRAßE é 123 ABC".encode()


def test_byte_by_byte():
    assert feed(UppercaseHandler(), byte_by_byte(b"abc def")) == b"ABC DEF"


@given(st.binary(max_size=2000), cuts)
def test_any_split(data, cut_points):
    assert feed(UppercaseHandler(), split_at(data, cut_points)) == data.upper()


def test_uppercase_datagram():
    assert UppercaseHandler().datagram_received(b"udp sentence", FakeContext()) == b"UDP SENTENCE"
