"""LineHandler: one way to frame lines, fed whole, byte by byte, and in any split."""

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from evloop import LineHandler
from evloop import ProtocolError
from evloop.handlers.base import WrongReturn
from evloop.testing import FakeContext
from tests.splits import byte_by_byte
from tests.splits import cuts
from tests.splits import split_at


class Shout(LineHandler):
    def line_received(self, line):
        return line.upper() + b"\n" if line != b"quiet" else None


def shout(max_message=20):
    """A Shout served on a fake context: the context, to feed."""
    context = FakeContext()
    context.open(Shout(max_message=max_message))
    return context


def heard(context, chunks):
    """Feed `chunks` then EOF; the bytes sent back."""
    for chunk in chunks:
        context.feed(chunk)
    context.feed_eof()
    return context.take()


def test_lines_end_at_newline_and_one_cr_before_it_is_dropped():
    context = shout()
    assert context.feed(b"one\r\ntwo\nthr") == b"ONE\nTWO\n"
    assert context.feed(b"ee\n") == b"THREE\n"
    assert context.feed(b"mid\rline\n") == b"MID\rLINE\n"  # only the one before \n
    assert context.feed(b"\n") == b"\n"  # an empty line is a line


def test_none_means_no_complete_line_and_b_empty_means_lines_but_no_reply():
    context = shout()
    assert context.feed(b"partial") is None
    assert context.feed(b"\nquiet\n") == b"PARTIAL\n"
    assert context.feed(b"quiet\n") == b""


def test_the_max_message_rule_is_exact():
    assert shout(5).feed(b"12345\n") == b"12345\n"
    assert shout(5).feed(b"12345\r\n") == b"12345\n"
    assert shout(5).feed(b"12345\r") is None  # the \n may come next
    with pytest.raises(ProtocolError, match="line longer than --max-message 5 bytes"):
        shout(5).feed(b"123456\n")
    with pytest.raises(ProtocolError):
        shout(5).feed(b"123456")  # found before any newline comes
    with pytest.raises(ProtocolError) as caught:
        shout(5).feed(b"ok\n123456\n")
    assert caught.value.reply == b"OK\n"  # the replies due before the bad line


def test_a_partial_line_at_end_of_input_is_a_protocol_error():
    context = shout()
    context.feed(b"half")
    with pytest.raises(ProtocolError, match="in the middle of a line"):
        context.feed_eof()
    assert shout().feed_eof() is None


def test_lines_after_close_are_not_read():
    class Quitter(LineHandler):
        def line_received(self, line):
            if line == b"/quit":
                self.context.close()
                return b"bye\n"
            return line + b"\n"

    context = FakeContext()
    context.open(Quitter())
    assert context.feed(b"a\n/quit\nb\nc\n") == b"a\nbye\n"
    assert context.closed


def test_a_long_line_a_byte_at_a_time_is_searched_once():
    """Pins an implementation choice, h11's no-rescan rule: `searched` and `buffer`
    are read here because the rule is about the work done, which no output shows."""
    context = shout(max_message=100000)
    handler = context.handler
    for byte in byte_by_byte(b"x" * 5000):
        assert context.feed(byte) is None
    assert handler.searched == 5000
    assert context.feed(b"\n") == b"X" * 5000 + b"\n"
    assert handler.searched == 0 and not handler.buffer


def test_works_without_a_context_too():
    assert Shout().data_received(b"no context\n") == b"NO CONTEXT\n"


@example([b"\r\r"], [])  # found by hypothesis: only one \r goes with the \n
@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=8), cuts)
def test_any_split_gives_the_same_replies(lines, cut_points):
    lines = [line.rstrip(b"\r") for line in lines]  # one \r before \n is the ending
    wire = b"".join(line + b"\n" for line in lines)
    expected = b"".join(line.upper() + b"\n" for line in lines if line != b"quiet")
    assert heard(shout(max_message=100), split_at(wire, cut_points)) == expected
    assert heard(shout(max_message=100), byte_by_byte(wire)) == expected


def test_a_line_received_that_returns_str_is_named_in_the_error():
    class Greet(LineHandler):
        def line_received(self, line):
            return f"hello {line.decode()}\n"  # a str: the usual mistake

    with pytest.raises(WrongReturn) as caught:
        Greet().data_received(b"ada\n")
    assert str(caught.value) == "line_received returned str, not bytes"
    assert caught.value.method == "line_received" and isinstance(caught.value, TypeError)


def test_a_protocol_error_in_line_received_keeps_the_replies_to_the_lines_before_it():
    class Numbers(LineHandler):
        def line_received(self, line):
            if not line.isdigit():
                raise ProtocolError(f"not a number: {line!r}", reply=b"ERR\n")
            return line + b"\n"

    handler = Numbers()
    with pytest.raises(ProtocolError) as caught:
        handler.data_received(b"1\n22\nten\n3\n")
    assert caught.value.reply == b"1\n22\nERR\n"  # what was due, then the error's own
