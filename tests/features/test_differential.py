"""One set of cases, two loops: each case runs against evloop and against the
asyncio adapter in bench/ (bench.asyncio_protocol), serving the very same handler,
and both must give the client the same bytes, as uvloop's tests run one class on
both loops.  The cases are the ones where loops differ most: a half-close,
backpressure, a protocol error, and a relay."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import proc_status
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof

pytestmark = pytest.mark.timeout(60)
LOOPS = {"evloop": "evloop.serve", "asyncio": "bench.asyncio_protocol"}
LISTENING = re.compile(r"serving \S+ on 127\.0\.0\.1:(\d+)")


class Served:
    def __init__(self, module, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
                                     env=cli_env())
        line = self.proc.stdout.readline()
        match = LISTENING.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"{module} did not start: {line!r} {self.proc.communicate()[1]}")
        self.address = ("127.0.0.1", int(match.group(1)))

    def connect(self):
        return socket.create_connection(self.address, timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=15)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]


@pytest.fixture(params=sorted(LOOPS))
def serve_on(request):
    """serve_on(*args): the handler served by this parameter's loop."""
    started = []

    def start(*args, module=None):
        served = Served(module or LOOPS[request.param], *args)
        started.append(served)
        return served

    start.loop = request.param
    yield start
    for served in started:
        served.stop()


def test_a_half_close_both_ways(serve_on):
    server = serve_on("--handler", "userhandlers.halfclose:LastWord")
    with server.connect() as sock:
        sock.sendall(b"ping")
        sock.shutdown(socket.SHUT_WR)  # our EOF: the handler keeps writing
        assert recv_until_eof(sock) == b"ping[last word]"


def test_backpressure_from_a_client_that_does_not_read(serve_on):
    server = serve_on("--handler", "echo")
    sock = server.connect()
    rss_before = proc_status(server.proc.pid, "VmRSS")
    sock.setblocking(False)
    sent = hashlib.sha256()
    total = 0
    chunk = os.urandom(65536)
    blocked_since = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and total < 64 * 1024 * 1024:
        try:
            n = sock.send(chunk)
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break
            time.sleep(0.01)  # polling: a second without progress means both ways are full
            continue
        blocked_since = None
        sent.update(chunk[:n])
        total += n
    assert blocked_since is not None, f"{serve_on.loop} never stopped reading"
    grew = proc_status(server.proc.pid, "VmRSS") - rss_before
    assert grew < 4096, f"{serve_on.loop} grew by {grew} KiB"
    sock.setblocking(True)
    sock.shutdown(socket.SHUT_WR)
    got = hashlib.sha256(recv_until_eof(sock))
    assert got.digest() == sent.digest()
    sock.close()


def test_a_protocol_error_sends_the_replies_due_then_closes(serve_on):
    server = serve_on("--handler", "lenprefix")
    with server.connect() as sock:
        sock.sendall(b"002okXYZjunk")
        assert recv_until_eof(sock) == b"002ok"


def test_a_relay_both_ways_and_its_half_close(serve_on):
    backend = serve_on("--handler", "echo", module="evloop.serve")
    relay = serve_on("--handler", "relay", "--upstream", f"127.0.0.1:{backend.address[1]}")
    with relay.connect() as sock:
        blob = os.urandom(1 << 20)
        sender = threading.Thread(target=sock.sendall, args=(blob,))
        sender.start()
        assert recv_exactly(sock, len(blob)) == blob
        sender.join(10)
        sock.sendall(b"and the end")
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b"and the end"  # the echo's, then its EOF, relayed
