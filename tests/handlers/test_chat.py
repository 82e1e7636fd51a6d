import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from evloop.handlers.base import ProtocolError
from evloop.handlers.chat import ChatHandler
from evloop.testing import FakeServerContext
from tests.splits import cuts
from tests.splits import split_at


def test_a_line_from_one_client_reaches_the_others():
    server = FakeServerContext(ChatHandler, max_message=100)  # one room for its clients
    _, alice = server.client("a:1")
    _, bob = server.client("b:2")
    assert alice.take() == (b"* welcome a:1; 0 other(s) here. Commands: /nick NAME, /who, "
                            b"/quit\n* b:2 joined\n")
    assert bob.take().startswith(b"* welcome b:2; 1 other(s) here.")
    assert alice.feed(b"hello\n") == b""  # no reply to the sender
    assert bob.take() == b"a:1: hello\n"
    assert alice.feed(b"/quit\n") == b"* bye\n" and alice.closed
    assert bob.take() == b"* a:1 left\n"


@pytest.fixture
def server():
    return FakeServerContext(ChatHandler, max_message=100)


def text(context):
    """Everything sent to a client so far, as text."""
    return b"".join(context.sent).decode()


def test_lines_go_to_every_other_client_with_the_sender_name(server):
    (_, alice), (_, bob), (_, carol) = (server.client(peer)
                                        for peer in ("1.1.1.1:1", "2.2.2.2:2", "3.3.3.3:3"))
    assert alice.feed(b"hello all\n") == b""
    assert "1.1.1.1:1: hello all\n" in text(bob)
    assert "1.1.1.1:1: hello all\n" in text(carol)
    assert "hello all" not in text(alice)


def test_joins_leaves_and_welcome(server):
    _, alice = server.client("a:1")
    assert "welcome a:1; 0 other(s)" in text(alice)
    bob_handler, bob = server.client("b:2")
    assert "* b:2 joined\n" in text(alice)
    assert "1 other(s)" in text(bob)
    bob.lose()
    assert "* b:2 left\n" in text(alice)
    bob_handler.connection_lost(None)  # a second call changes nothing
    assert text(alice).count("left") == 1


def test_nick_renames_and_announces(server):
    (_, alice), (_, bob) = server.client("a:1"), server.client("b:2")
    assert alice.feed(b"/nick alice\r\n") == b"* you are now alice\n"
    assert "* a:1 is now alice\n" in text(bob)
    alice.feed(b"hi\n")
    assert "alice: hi\n" in text(bob)
    assert b"1 to 32" in alice.feed(b"/nick two words\n")
    assert b"1 to 32" in alice.feed(b"/nick\n")


def test_who_and_quit(server):
    (_, alice), (_, bob) = server.client("a:1"), server.client("b:2")
    assert alice.feed(b"/who\n") == b"* here: a:1, b:2\n"
    assert alice.feed(b"/quit\nignored\n") == b"* bye\n"  # nothing after /quit is read
    assert alice.closed
    assert "ignored" not in text(bob)


def test_partial_line_waits(server):
    (_, alice), (_, bob) = server.client("a:1"), server.client("b:2")
    assert alice.feed(b"half") is None
    assert alice.feed(b" a line\n") == b""
    assert "a:1: half a line\n" in text(bob)


def test_line_over_max_message_is_a_protocol_error(server):
    _, alice = server.client("a:1")
    with pytest.raises(ProtocolError, match="max-message 100"):
        alice.feed(b"x" * 101)
    with pytest.raises(ProtocolError):
        server.client("b:2")[1].feed(b"y" * 150 + b"\n")


def test_chat_cannot_run_over_udp():
    assert ChatHandler.supports_udp is False
    assert ChatHandler.busy_message.endswith(b"\n")


@example([b"\r\r"], [])  # found by hypothesis: only one \r goes with the \n
@given(st.lists(st.binary(max_size=50), max_size=10), cuts)
def test_any_split_delivers_the_same_lines(lines, cut_points):
    lines = [line.replace(b"\n", b"") for line in lines]
    lines = [line for line in lines if not line.startswith(b"/")]
    data = b"".join(line + b"\n" for line in lines)
    server = FakeServerContext(ChatHandler, max_message=100)
    (_, sender), (_, listener) = server.client("s:1"), server.client("l:2")
    listener.take()  # its welcome
    for chunk in split_at(data, cut_points):
        sender.feed(chunk)
    expected = "".join("s:1: " + line.removesuffix(b"\r").decode("utf-8", "replace") + "\n"
                       for line in lines)
    assert listener.take().decode("utf-8", "replace") == expected


def heard(chunks):
    """What a listener hears from a sender who sends `chunks` then EOF, and whether
    the sender was refused (ProtocolError)."""
    server = FakeServerContext(ChatHandler, max_message=100)
    (_, sender), (_, listener) = server.client("r:1"), server.client("l:2")
    refused = False
    try:
        for chunk in chunks:
            if sender.state != "open":
                break  # it sent /quit: a server reads nothing more from it
            sender.feed(chunk)
        else:
            sender.feed_eof()
    except ProtocolError:
        refused = True
    return listener.take(), refused  # bytes: any


@given(st.binary(max_size=500), cuts)
def test_random_bytes_split_anywhere_are_heard_as_the_whole(data, cut_points):
    """Any bytes give lines or a ProtocolError, never another exception, and the
    same ones however the bytes are cut."""
    assert heard(split_at(data, cut_points)) == heard([data])


def test_a_member_who_stops_reading_is_skipped_then_told_what_it_missed(server):
    (_, alice), (bob_handler, bob), (_, carol) = (server.client(peer)
                                                  for peer in ("a:1", "b:2", "c:3"))
    bob_handler.pause_writing()  # its connection passed high water: it is not reading
    before = text(bob)
    alice.feed(b"one\ntwo\n")
    assert text(bob) == before and "a:1: two\n" in text(carol)
    bob_handler.resume_writing()
    assert text(bob).endswith("* you missed 2 line(s) while not reading\n")
    alice.feed(b"three\n")
    assert text(bob).endswith("a:1: three\n")
    bob_handler.pause_writing()
    bob_handler.resume_writing()  # nothing missed: nothing said
    assert text(bob).endswith("a:1: three\n")


def test_crlf_and_a_lone_cr_before_the_newline(server):
    (_, alice), (_, bob) = server.client("a:1"), server.client("b:2")
    alice.feed(b"dos line\r\nmid\rdle\n")
    assert "a:1: dos line\n" in text(bob) and "a:1: mid\rdle\n" in text(bob)
