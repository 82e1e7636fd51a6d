"""evloop.connection.proxy_protocol: the parser (valid headers whole and in pieces, every
way to be invalid, and any bytes at all giving a header, "need more" or ProtocolError),
and the reader that takes exactly the header off a socket."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evloop import ProtocolError
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.proxy_protocol import V1_MAX
from evloop.connection.proxy_protocol import V2_SIGNATURE
from evloop.connection.proxy_protocol import encode_v1
from evloop.connection.proxy_protocol import encode_v2
from evloop.connection.proxy_protocol import parse_header
from tests.splits import cuts
from tests.splits import split_at

V1_TCP4 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"


def prefixes(header):
    """Every strict prefix of `header` must ask for more, never fail."""
    return [header[:n] for n in range(len(header))]


@pytest.mark.parametrize("header, expected", [
    (V1_TCP4, ProxyHeader(1, "PROXY", "TCP4", ("192.0.2.1", 56324), ("198.51.100.7", 443), len(V1_TCP4))),
    (V1_TCP6, ProxyHeader(1, "PROXY", "TCP6", ("2001:db8::1", 1), ("2001:db8::2", 65535), len(V1_TCP6))),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None, 15)),
    (b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None, 39)),
    (encode_v2(("192.0.2.1", 5000), ("203.0.113.9", 12000)),
     ProxyHeader(2, "PROXY", "TCP4", ("192.0.2.1", 5000), ("203.0.113.9", 12000), 28)),
    (encode_v2(("2001:db8::7", 5), ("::1", 6)),
     ProxyHeader(2, "PROXY", "TCP6", ("2001:db8::7", 5), ("::1", 6), 52)),
    (encode_v2(("192.0.2.1", 1), ("192.0.2.2", 2), tlvs=b"\x04\x00\x03abc"),  # a TLV, skipped
     ProxyHeader(2, "PROXY", "TCP4", ("192.0.2.1", 1), ("192.0.2.2", 2), 34)),
    (encode_v2(None, None), ProxyHeader(2, "LOCAL", "UNSPEC/UNSPEC", None, None, 16)),
    (V2_SIGNATURE + b"\x21\x31\x00\x00", ProxyHeader(2, "PROXY", "UNIX/STREAM", None, None, 16)),
])
def test_valid_headers_whole_in_pieces_and_with_data_after(header, expected):
    assert parse_header(header) == expected
    assert parse_header(header + b"first bytes of the client") == expected
    for prefix in prefixes(header):
        assert parse_header(prefix) is None, prefix


def test_encoders_round_trip():
    assert encode_v1(("192.0.2.1", 56324), ("198.51.100.7", 443)) == V1_TCP4
    assert parse_header(encode_v1(("::1", 9), ("::2", 10))).source == ("::1", 9)


@pytest.mark.parametrize("data, reason", [
    (b"GET / HTTP/1.0\r\n\r\n", "no PROXY protocol header: the connection began with b'GET / HT"),
    (b"016Hello!! Server!!", "no PROXY protocol header"),
    (b"PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n", "bad PROXY v1 header"),
    (b"PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n", "bad PROXY v1 header"),
    (b"PROXY TCP4  192.0.2.1 198.51.100.7 1 2\r\n", "bad PROXY v1 header"),
    (b"PROXY TCP4 192.0.2.300 198.51.100.7 1 2\r\n", "bad PROXY v1 address '192.0.2.300'"),
    (b"PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n", "for TCP4"),
    (b"PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n", "for TCP6"),
    (b"PROXY TCP4 192.0.2.1 198.51.100.7 65536 2\r\n", "bad PROXY v1 port '65536'"),
    (b"PROXY TCP4 192.0.2.1 198.51.100.7 0080 2\r\n", "bad PROXY v1 port '0080'"),
    (b"PROXY TCP4 192.0.2.1 198.51.100.7 -1 2\r\n", "bad PROXY v1 port '-1'"),
    (b"PROXY TCP4 192.0.2.1\n", "without CRLF"),
    (b"PROXY UNKNOWN " + b"x" * V1_MAX, f"without CRLF in its first {V1_MAX} bytes"),
    (b"PROXY TCP4 \xff\r\n", "not ASCII"),
    (V2_SIGNATURE + b"\x11", "version 1, not 2"),
    (V2_SIGNATURE + b"\x22\x11\x00\x0c", "unknown command 0x2"),
    (V2_SIGNATURE + b"\x21\x41\x00\x0c", "unknown family/transport 0x41"),
    (V2_SIGNATURE + b"\x21\x13\x00\x0c", "unknown family/transport 0x13"),
    (V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4, "fewer than the 12 it needs"),
    (b"\r\n\r\n\x00\r\nQUIX", "no PROXY protocol header"),
])
def test_invalid_headers_are_protocol_errors_that_say_why(data, reason):
    with pytest.raises(ProtocolError) as caught:
        parse_header(data)
    assert reason in caught.value.reason


def test_an_invalid_header_is_refused_as_soon_as_the_bytes_prove_it():
    with pytest.raises(ProtocolError):
        parse_header(b"G")  # neither "PROXY " nor the v2 signature can start so
    with pytest.raises(ProtocolError):
        parse_header(b"PROXY TCP4 1.2.3.4\n")
    assert parse_header(b"PROXY TCP4 1.2") is None
    with pytest.raises(ProtocolError, match="version 3"):
        parse_header(V2_SIGNATURE + b"\x31")  # the 13th byte: before any length is known
    with pytest.raises(ProtocolError, match="family/transport 0x41"):
        parse_header(V2_SIGNATURE + b"\x21\x41")  # the 14th


@given(st.binary(max_size=300), cuts)
def test_any_bytes_split_anywhere_give_a_header_more_or_a_protocol_error(data, cut_points):
    """Fed as a connection would feed it (all bytes so far, each time more
    arrive), it never raises anything else, and agrees with the whole."""
    try:
        whole = parse_header(data)
    except ProtocolError:
        whole = "error"
    received = b""
    answer = None
    for piece in split_at(data, cut_points):
        received += piece
        try:
            answer = parse_header(received)
        except ProtocolError:
            answer = "error"
        if answer is not None:
            break
    assert answer == whole or (whole is None and answer is None)


@given(st.sampled_from([V1_TCP4, V1_TCP6, encode_v2(("10.0.0.1", 1), ("10.0.0.2", 2)),
                        encode_v2(None, None)]),
       st.binary(max_size=50), cuts)
def test_a_valid_header_is_found_in_any_split_and_the_rest_left_alone(header, rest, cut_points):
    received = b""
    for piece in split_at(header + rest, cut_points):
        received += piece
        found = parse_header(received)
        if found is not None:
            assert found.length == len(header)
            assert received[found.length:] == (header + rest)[len(header):len(received)]
            return
    raise AssertionError("the header was never found")


def answer_to(data):
    try:
        return parse_header(data)
    except ProtocolError:
        return "error"


@given(st.binary(min_size=1, max_size=60))
def test_v2_with_any_tail_answers_every_prefix_as_it_answers_the_whole(tail):
    """Never anything but a header, None or ProtocolError, and no prefix contradicts
    the whole: it asks for more, or gives the same answer."""
    for head in (V2_SIGNATURE, V2_SIGNATURE + b"\x21\x11", V2_SIGNATURE + b"\x21\x21\x00\x24"):
        data = head + tail
        whole = answer_to(data)
        for end in range(len(data)):
            assert answer_to(data[:end]) in (None, whole), data[:end]
