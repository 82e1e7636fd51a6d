import pytest
from hypothesis import given
from hypothesis import strategies as st

from evloop.handlers.base import ProtocolError
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.handlers.lenprefix import encode
from evloop.handlers.lenprefix import payloads
from evloop.handlers.lenprefix import split_frames
from evloop.testing import FakeContext
from tests.splits import byte_by_byte
from tests.splits import cuts
from tests.splits import feed
from tests.splits import split_at

LAB_MESSAGE = b"016Hello!! Server!!"


def test_a_client_gets_each_message_back_once_it_is_whole():
    context = FakeContext()
    context.open(LenPrefixHandler())
    assert context.feed(b"016Hello!!") is None  # 7 of its 16 bytes: nothing yet
    assert context.feed(b" Server!!") == LAB_MESSAGE
    context.feed_eof()
    assert context.sent == [LAB_MESSAGE] and context.closed


def test_lab_message_gets_itself_back():
    assert LenPrefixHandler().data_received(LAB_MESSAGE) == LAB_MESSAGE


def test_encode_matches_the_labs_zfill():
    payload = b"x" * 7
    assert encode(payload) == str(len(payload)).zfill(3).encode() + payload
    assert encode(b"") == b"000"
    assert encode(b"y" * 999)[:3] == b"999"
    with pytest.raises(ValueError):
        encode(b"z" * 1000)


def test_partial_message_answers_none_then_the_message():
    handler = LenPrefixHandler()
    assert handler.data_received(b"01") is None
    assert handler.data_received(b"6Hello!!") is None
    assert handler.data_received(b" Server!!") == LAB_MESSAGE


def test_many_messages_in_one_recv_and_a_trailing_part():
    handler = LenPrefixHandler()
    data = encode(b"a") + encode(b"") + encode(b"bc") + b"00"
    assert handler.data_received(data) == encode(b"a") + encode(b"") + encode(b"bc")
    assert handler.data_received(b"1z") == b"001z"


def test_byte_by_byte():
    data = LAB_MESSAGE + encode(b"second")
    assert feed(LenPrefixHandler(), byte_by_byte(data)) == data


@given(st.lists(st.binary(max_size=999), max_size=12), cuts)
def test_any_split_gives_one_reply_per_message_in_order(messages, cut_points):
    data = b"".join(encode(m) for m in messages)
    replies = feed(LenPrefixHandler(), split_at(data, cut_points))
    assert list(payloads(replies)) == messages


@pytest.mark.parametrize("bad", [b"abc", b"+12", b" 12", b"1 2", b"-01", "١٢٣".encode()[:3]])
def test_bad_header_is_a_protocol_error_with_the_replies_due(bad):
    handler = LenPrefixHandler()
    with pytest.raises(ProtocolError) as info:
        handler.data_received(encode(b"ok") + bad + b"rest")
    assert info.value.reply == encode(b"ok")
    assert "3 ASCII digits" in info.value.reason


def test_max_message_below_999():
    handler = LenPrefixHandler(max_message=10)
    assert handler.data_received(encode(b"x" * 10)) == encode(b"x" * 10)
    with pytest.raises(ProtocolError, match="max-message 10"):
        handler.data_received(encode(b"x" * 11))


def test_max_message_is_capped_at_the_format_limit():
    assert LenPrefixHandler(max_message=65536).max_message == 999


def test_eof_mid_message_is_a_protocol_error():
    handler = LenPrefixHandler()
    handler.data_received(b"010abc")
    with pytest.raises(ProtocolError, match="middle of a message"):
        handler.eof_received()


def test_datagram_holds_whole_messages():
    assert LenPrefixHandler().datagram_received(b"003abc002de", FakeContext()) == b"003abc002de"
    with pytest.raises(ProtocolError):
        LenPrefixHandler().datagram_received(b"005ab", FakeContext())


def test_split_frames_and_payloads():
    data = encode(b"one") + encode(b"two")
    assert split_frames(data) == len(data)
    assert split_frames(data[:-1]) == len(encode(b"one"))
    assert list(payloads(data)) == [b"one", b"two"]


def outcome(chunks):
    """What a fresh handler answers to `chunks` then EOF, or "error" (ProtocolError)."""
    try:
        return feed(LenPrefixHandler(), chunks)
    except ProtocolError:
        return "error"


# Mostly whole frames, with junk among them: random bytes alone are rarely a frame.
framed = st.lists(st.one_of(st.binary(max_size=40).map(encode), st.binary(max_size=4)),
                  max_size=12).map(b"".join)


@given(st.one_of(st.binary(max_size=2000), framed), cuts)
def test_random_bytes_split_anywhere_answer_as_the_whole(data, cut_points):
    """Any bytes give replies or a ProtocolError, never another exception, and the
    same ones however the bytes are cut."""
    assert outcome(split_at(data, cut_points)) == outcome([data])
