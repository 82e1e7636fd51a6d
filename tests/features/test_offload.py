"""--offload end to end: the slow handler's stall, and its remedy, on real servers: inline
work holds every client, offloaded work does not, replies stay in order and are drained
at a half-close or a shutdown, and a job that raises costs only its connection."""

import selectors
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly


def first_reply_or_eof(a, b):
    """Which of two sockets hears from the server first: 'a' or 'b'."""
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
                   "--offload", offload, "--trace")
    a = server.connect()
    b = server.connect()
    try:
        a.sendall(b"slow work\n")
        server.wait_stderr(rf"127\.0\.0\.1:{a.getsockname()[1]}: recv 10 B")  # A's line is in
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
    (["--handler", "echo", "--work-ms", "5"],
     "--work-ms is an option of the slow handler, not of echo: use --handler slow"),
    (["--handler", "lenprefix", "--work", "cpu"],
     "--work is an option of the slow handler, not of lenprefix: use --handler slow"),
    (["--handler", "slow", "--offload-workers", "0"], "--offload-workers (0) must be between 1 and 1024"),
    (["--handler", "slow", "--offload", "gpu"], "invalid choice"),
    (["--handler", "slow", "--work-ms", "-1"], "--work-ms ('-1') is not valid"),
    (["--handler", "slow", "--work", "dance"], "invalid choice: 'dance'"),
])
def test_bad_slow_and_offload_options_are_refused(args, message):
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
    server = serve("--handler", "slow", "--work", "sleep", "--work-ms", "300", "--offload", "thread",
                   "--trace")
    with server.connect() as sock:
        sock.sendall(b"due\n")
        server.wait_stderr(r": offloads ")  # the line is in the pool
        server.proc.send_signal(15)
        assert recv_exactly(sock, 4) == b"due\n"
        assert sock.recv(10) == b""
    assert server.stop()[0] == 0
