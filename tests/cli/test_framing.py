"""evloop.cli.framing: how the client frames a typed line, and how it reads the reply: a
lenprefix frame exactly, a raw reply until the server pauses, each failure a ClientError."""

import socket
import threading
import time

import pytest

from evloop.cli import framing
from evloop.cli.framing import ClientError
from evloop.cli.framing import frame
from evloop.cli.framing import read_reply
from evloop.cli.framing import recv_exactly
from evloop.cli.framing import recv_until_pause
from evloop.handlers.lenprefix import MAX_PAYLOAD


def test_frame():
    assert frame("lenprefix", "héllo") == b"006h\xc3\xa9llo"
    assert frame("line", "x") == b"x\n"
    assert frame("raw", "x") == b"x"


def test_a_lenprefix_line_too_long_for_its_header_is_refused():
    assert frame("lenprefix", "x" * MAX_PAYLOAD).startswith(str(MAX_PAYLOAD).encode())
    with pytest.raises(ClientError, match=f"at most {MAX_PAYLOAD} bytes; this line is {MAX_PAYLOAD + 1}"):
        frame("lenprefix", "x" * (MAX_PAYLOAD + 1))


@pytest.fixture
def pair():
    ours, server = socket.socketpair()
    ours.settimeout(5)
    yield ours, server
    ours.close()
    server.close()


def test_a_lenprefix_reply_is_one_frame_read_exactly(pair):
    ours, server = pair
    server.sendall(b"005hel")
    threading.Timer(0.05, server.sendall, (b"lo003abc",)).start()
    assert read_reply(ours, "lenprefix", b"005hello", 5) == b"hello"
    assert read_reply(ours, "lenprefix", b"", 5) == b"abc"


def test_a_bad_header_or_an_early_close_is_a_client_error(pair):
    ours, server = pair
    server.sendall(b"x1yz")
    with pytest.raises(ClientError, match="the server sent a bad header b'x1y'"):
        read_reply(ours, "lenprefix", b"", 5)
    server.sendall(b"010abc")
    server.close()
    with pytest.raises(ClientError, match="the server closed the connection"):
        recv_exactly(ours, 13)


def test_a_raw_reply_is_read_until_the_server_pauses(pair, monkeypatch):
    monkeypatch.setattr(framing, "QUIET", 0.2)
    ours, server = pair
    server.sendall(b"ab ")
    threading.Timer(0.05, server.sendall, (b"ab",)).start()  # more, within QUIET
    start = time.monotonic()
    assert recv_until_pause(ours, 2, 5) == b"ab ab"
    assert 0.2 <= time.monotonic() - start < 3  # it waited for the pause, not the timeout
    assert ours.gettimeout() == 5  # and gave the socket its timeout back


def test_a_raw_reply_that_never_comes_times_out_and_a_close_is_a_client_error(pair):
    ours, server = pair
    with pytest.raises(socket.timeout):
        recv_until_pause(ours, 1, 0.05)
    server.close()
    with pytest.raises(ClientError, match="the server closed the connection"):
        recv_until_pause(ours, 1, 5)


def test_a_raw_reply_cut_short_by_a_close_is_what_came(pair):
    ours, server = pair
    server.sendall(b"partial")
    server.close()
    assert read_reply(ours, "raw", b"a longer request", 5) == b"partial"
