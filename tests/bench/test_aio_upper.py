"""bench/aio_upper_streams.py and bench/aio_upper_protocol.py, chapter 6's asyncio
servers in the labs' length-prefixed messages, run on evloop.aio as the chapter runs
them (`python3 -m evloop.aio bench/SCRIPT.py`), and on asyncio's own loop.

- whole messages, however the client's sends cut them: two in one send, one a
  byte at a time, a header split in two;
- many clients at once, each answered;
- a client that leaves within a message, and one that sends no digits, cost
  only themselves;
- Ctrl-C ends the server with exit 0 and nothing on stderr.
"""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof

pytestmark = pytest.mark.timeout(60)

SCRIPTS = ["aio_upper_streams.py", "aio_upper_protocol.py"]
STARTUP = re.compile(r"aio_upper_\w+: serving uppercase lenprefix on 127\.0\.0\.1:(\d+) \(tcp\)")


def frame(payload):
    return str(len(payload)).zfill(3).encode() + payload


class Upper:
    """One of the two servers on port 0, on evloop.aio (or asyncio's own loop)."""

    def __init__(self, script, on_evloop=True):
        runner = ["-m", "evloop.aio"] if on_evloop else []
        self.proc = subprocess.Popen([sys.executable, *runner, os.path.join("bench", script), "--port", "0"],
                                     cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        match = STARTUP.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"{script} did not start: {line!r} {self.proc.communicate()[1][-800:]}")
        self.port = int(match.group(1))

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self):
        """Ctrl-C, once the server is idle.  On Python 3.10, asyncio.run leaves SIGINT's
        KeyboardInterrupt to land wherever the loop is, and one that lands in a client's
        task step is reported as that task's exception.  So a last client makes a round
        trip and leaves, and waits for the server to close its side: by then the loop has
        finished with it and with every client that left before it."""
        with self.connect() as last:
            last.sendall(frame(b"bye"))
            assert recv_exactly(last, 6) == b"003BYE"
            last.shutdown(socket.SHUT_WR)
            assert recv_until_eof(last) == b""
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self):
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def upper():
    servers = []

    def start(script, on_evloop=True):
        servers.append(Upper(script, on_evloop))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()


@pytest.mark.parametrize("on_evloop", [True, False], ids=["evloop.aio", "asyncio"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_each_message_gets_its_payload_in_capitals(upper, script, on_evloop):
    server = upper(script, on_evloop)
    with server.connect() as sock:
        sock.sendall(frame(b"Hello!! Server!!") + frame(b"second message"))  # two in one send
        assert recv_exactly(sock, 36) == b"016HELLO!! SERVER!!014SECOND MESSAGE"
        sock.sendall(frame(b""))
        assert recv_exactly(sock, 3) == b"000"
    assert server.stop() == (0, "")


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_message_cut_anywhere_is_answered_whole(upper, script):
    server = upper(script)
    with server.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in frame(b"one byte at a time"):
            sock.send(bytes([byte]))
        assert recv_exactly(sock, 21) == b"018ONE BYTE AT A TIME"
        sock.sendall(b"0")  # a header in two pieces
        sock.sendall(b"05abcde")
        assert recv_exactly(sock, 8) == b"005ABCDE"
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b""  # nothing more, and the server closes
    assert server.stop() == (0, "")


@pytest.mark.parametrize("script", SCRIPTS)
def test_many_clients_at_once(upper, script):
    server = upper(script)
    clients = [server.connect() for _ in range(20)]  # all connected before any speaks
    try:
        for number, sock in reversed(list(enumerate(clients))):
            sock.sendall(frame(f"client {number}".encode()))
        for number, sock in enumerate(clients):
            expected = frame(f"CLIENT {number}".encode())
            assert recv_exactly(sock, len(expected)) == expected
    finally:
        for sock in clients:
            sock.close()
    assert server.stop() == (0, "")


@pytest.mark.parametrize("script", SCRIPTS)
def test_bad_and_vanishing_clients_cost_only_themselves(upper, script):
    server = upper(script)
    with server.connect() as stays:
        with server.connect() as leaves:
            leaves.sendall(b"010half")  # and closes within the message
        with server.connect() as wrong:
            wrong.sendall(b"hello")  # no digits in front
            assert recv_until_eof(wrong) == b""
        stays.sendall(frame(b"still here"))
        assert recv_exactly(stays, 13) == b"010STILL HERE"
    assert server.stop() == (0, "")
