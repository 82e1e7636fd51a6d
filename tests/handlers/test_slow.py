"""The slow handler and offloading: the event loop's weakness, and its remedy."""

import socket
import time

import pytest

from evloop.handlers import ProtocolError
from evloop.handlers.slow import SlowHandler
from evloop.handlers.slow import work
from tests.conftest import recv_exactly
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
    with pytest.raises(ProtocolError, match="max-message 10"):  # was accepted: split on \r
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


def first_reply_or_eof(a, b):
    """Which of two sockets hears from the server first: 'a' or 'b'."""
    import selectors
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, "a")
        sel.register(b, selectors.EVENT_READ, "b")
        events = sel.select(timeout=20)
        assert events, "no answer from the server"
        return events[0][0].data


@pytest.mark.parametrize("offload,first", [("none", "a"), ("thread", "b")])
def test_inline_work_stalls_every_client_and_offloading_does_not(serve, offload, first):
    """Ordering, not timing: while A's 1.5 s of sleep is being worked on, B ends
    its connection mid-line.  With the work inline, the loop is asleep and B's
    EOF is handled only after A's echo; offloaded, the loop answers B at once."""
    server = serve("--handler", "slow", "--work", "sleep", "--work-ms", "1500",
                   "--offload", offload)
    a = server.connect()
    b = server.connect()
    try:
        a.sendall(b"slow work\n")
        time.sleep(0.2)  # let A's line reach the server first
        b.sendall(b"no newline")
        b.shutdown(socket.SHUT_WR)
        assert first_reply_or_eof(a, b) == first
        assert recv_exactly(a, 10) == b"slow work\n"
        assert b.recv(100) == b""
    finally:
        a.close()
        b.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_process_pool_offload_echoes_in_order(serve):
    server = serve("--handler", "slow", "--work", "cpu", "--work-ms", "5", "--offload", "process",
                   "--offload-workers", "2")
    with server.connect(timeout=30) as sock:
        lines = b"".join(f"line {i}\n".encode() for i in range(20))
        sock.sendall(lines)
        assert recv_exactly(sock, len(lines)) == lines
    assert server.stop()[0] == 0


def test_offloaded_work_that_raises_closes_only_that_connection(serve):
    server = serve("--handler", "userhandlers.failing:FailingWork", "--offload", "thread",
                   "--log-level", "error")
    with server.connect() as bad, server.connect() as good:
        bad.sendall(b"fail\n")
        assert bad.recv(100) == b""
        good.sendall(b"fine\n")
        assert recv_exactly(good, 5) == b"fine\n"
    code, err = server.stop()
    assert code == 0 and "offloaded work" in err and "ZeroDivisionError" in err


def test_trace_with_offload_still_offloads(serve):
    server = serve("--handler", "slow", "--work-ms", "1", "--offload", "thread", "--trace")
    with server.connect() as sock:
        sock.sendall(b"hi\n")
        assert recv_exactly(sock, 3) == b"hi\n"
    assert server.stop()[0] == 0


@pytest.mark.parametrize("args,message", [
    (["--handler", "echo", "--work-ms", "5"], "unrecognized arguments: --work-ms 5"),
    (["--handler", "lenprefix", "--work", "cpu"], "unrecognized arguments: --work cpu"),
    (["--handler", "slow", "--offload-workers", "0"], "--offload-workers (0) must be between 1 and 1024"),
    (["--handler", "slow", "--offload", "gpu"], "invalid choice"),
    (["--handler", "slow", "--work-ms", "-1"], "--work-ms ('-1') is not valid"),
    (["--handler", "slow", "--work", "dance"], "invalid choice: 'dance'"),
])
def test_bad_slow_and_offload_options_are_refused(args, message):
    import subprocess
    import sys
    from tests.conftest import ROOT, cli_env
    result = subprocess.run([sys.executable, "-m", "evloop.serve", "--port", "0", *args],
                            capture_output=True, text=True, timeout=30, env=cli_env(), cwd=ROOT)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("offload", ["none", "thread"])
def test_half_close_waits_for_offloaded_replies(serve, offload):
    server = serve("--handler", "slow", "--work", "sleep", "--work-ms", "50", "--offload", offload)
    with server.connect() as sock:
        sock.sendall(b"one\ntwo\nthree\n")
        sock.shutdown(socket.SHUT_WR)  # EOF while the work is still in the pool
        assert recv_exactly(sock, 14) == b"one\ntwo\nthree\n"
        assert sock.recv(10) == b""
    assert server.stop()[0] == 0


def test_shutdown_drains_offloaded_replies(serve):
    server = serve("--handler", "slow", "--work", "sleep", "--work-ms", "300", "--offload", "thread")
    with server.connect() as sock:
        sock.sendall(b"due\n")
        time.sleep(0.1)  # the line is in the pool
        server.proc.send_signal(15)
        assert recv_exactly(sock, 4) == b"due\n"
        assert sock.recv(10) == b""
    assert server.stop()[0] == 0
