import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from evloop.handlers.base import ProtocolError
from evloop.handlers.chat import ChatHandler
from tests.fakes import FakeContext
from tests.splits import cuts
from tests.splits import split_at


class Client:
    """A chat handler with its pushed bytes collected, as a connection would."""

    def __init__(self, factory, peer):
        self.received = []
        self.handler = factory()
        self.context = FakeContext(peer, pushed=self.received)
        self.received.append(self.handler.connection_made(self.context))

    def say(self, data):
        reply = self.handler.data_received(data)
        if reply:
            self.received.append(reply)
        return reply

    def text(self):
        return b"".join(chunk for chunk in self.received if chunk).decode()


@pytest.fixture
def room():
    factory = ChatHandler.factory(max_message=100)
    return lambda peer: Client(factory, peer)


def test_lines_go_to_every_other_client_with_the_sender_name(room):
    alice, bob, carol = room("1.1.1.1:1"), room("2.2.2.2:2"), room("3.3.3.3:3")
    assert alice.say(b"hello all\n") == b""
    assert "1.1.1.1:1: hello all\n" in bob.text()
    assert "1.1.1.1:1: hello all\n" in carol.text()
    assert "hello all" not in alice.text()


def test_joins_leaves_and_welcome(room):
    alice = room("a:1")
    assert "welcome a:1; 0 other(s)" in alice.text()
    bob = room("b:2")
    assert "* b:2 joined\n" in alice.text()
    assert "1 other(s)" in bob.text()
    bob.handler.connection_lost(None)
    assert "* b:2 left\n" in alice.text()
    bob.handler.connection_lost(None)  # a second call changes nothing
    assert alice.text().count("left") == 1


def test_nick_renames_and_announces(room):
    alice, bob = room("a:1"), room("b:2")
    assert alice.say(b"/nick alice\r\n") == b"* you are now alice\n"
    assert "* a:1 is now alice\n" in bob.text()
    alice.say(b"hi\n")
    assert "alice: hi\n" in bob.text()
    assert b"1 to 32" in alice.say(b"/nick two words\n")
    assert b"1 to 32" in alice.say(b"/nick\n")


def test_who_and_quit(room):
    alice, _ = room("a:1"), room("b:2")
    assert alice.say(b"/who\n") == b"* here: a:1, b:2\n"
    assert alice.say(b"/quit\nignored\n") == b"* bye\n"  # nothing after /quit is read
    assert alice.context.closed


def test_partial_line_waits(room):
    alice, bob = room("a:1"), room("b:2")
    assert alice.say(b"half") is None
    assert alice.say(b" a line\n") == b""
    assert "a:1: half a line\n" in bob.text()


def test_line_over_max_message_is_a_protocol_error(room):
    alice = room("a:1")
    with pytest.raises(ProtocolError, match="max-message 100"):
        alice.say(b"x" * 101)
    with pytest.raises(ProtocolError):
        room("b:2").say(b"y" * 150 + b"\n")


def test_chat_cannot_run_over_udp():
    assert ChatHandler.supports_udp is False
    assert ChatHandler.busy_message.endswith(b"\n")


@example([b"\r\r"], [])  # found by hypothesis: only one \r goes with the \n
@given(st.lists(st.binary(max_size=50), max_size=10), cuts)
def test_any_split_delivers_the_same_lines(lines, cut_points):
    lines = [line.replace(b"\n", b"") for line in lines]
    lines = [line for line in lines if not line.startswith(b"/")]
    data = b"".join(line + b"\n" for line in lines)
    factory = ChatHandler.factory(max_message=100)
    sender, listener = Client(factory, "s:1"), Client(factory, "l:2")
    for chunk in split_at(data, cut_points):
        sender.say(chunk)
    expected = "".join("s:1: " + line.removesuffix(b"\r").decode("utf-8", "replace") + "\n"
                       for line in lines)
    received = b"".join(c for c in listener.received[1:] if c).decode("utf-8", "replace")
    assert received == expected


def heard(chunks):
    """What a listener hears from a sender who sends `chunks` then EOF, and whether
    the sender was refused (ProtocolError)."""
    factory = ChatHandler.factory(max_message=100)
    sender, listener = Client(factory, "r:1"), Client(factory, "l:2")
    refused = False
    try:
        for chunk in chunks:
            sender.say(chunk)
        sender.handler.eof_received()
    except ProtocolError:
        refused = True
    return b"".join(chunk for chunk in listener.received if chunk), refused  # bytes: any


@given(st.binary(max_size=500), cuts)
def test_random_bytes_split_anywhere_are_heard_as_the_whole(data, cut_points):
    """Any bytes give lines or a ProtocolError, never another exception, and the
    same ones however the bytes are cut."""
    assert heard(split_at(data, cut_points)) == heard([data])


def test_a_member_who_stops_reading_is_skipped_then_told_what_it_missed(room):
    alice, bob, carol = room("a:1"), room("b:2"), room("c:3")
    bob.handler.pause_writing()  # its connection passed high water: it is not reading
    before = bob.text()
    alice.say(b"one\ntwo\n")
    assert bob.text() == before and "a:1: two\n" in carol.text()
    bob.handler.resume_writing()
    assert bob.text().endswith("* you missed 2 line(s) while not reading\n")
    alice.say(b"three\n")
    assert bob.text().endswith("a:1: three\n")
    bob.handler.pause_writing()
    bob.handler.resume_writing()  # nothing missed: nothing said
    assert bob.text().endswith("a:1: three\n")


def test_crlf_and_a_lone_cr_before_the_newline(room):
    alice, bob = room("a:1"), room("b:2")
    alice.say(b"dos line\r\nmid\rdle\n")
    assert "a:1: dos line\n" in bob.text() and "a:1: mid\rdle\n" in bob.text()
