"""The relay handler (and a user's own relay) as servers, with real backends on
loopback: bytes both ways, flow control both ways, half-closes both ways, a backend
that is down, resets, or never reads, and TLS and PROXY in front."""

import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import trustme

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import running
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(60)
MIB = 1024 * 1024


@pytest.fixture
def echo(serve):
    return serve("--handler", "echo")


def relay_to(serve, upstream, *more):
    """A relay to `upstream` (an address, or a Backend, whose first connection, the
    relay's start-up check, is taken here: made and closed by the relay at once)."""
    if not isinstance(upstream, Backend):
        return serve("--handler", "relay", "--upstream", upstream, *more)
    relay = serve("--handler", "relay", "--upstream", upstream.address, *more)
    with upstream.accept() as check:
        assert check.recv(1) == b""
    return relay


class Backend:
    """A listening socket in the test's own process, to play a backend by hand."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def accept(self):
        sock, _ = self.listener.accept()
        sock.settimeout(10)
        return sock

    def close(self):
        self.listener.close()


@pytest.fixture
def backend():
    made = Backend()
    yield made
    made.close()


def test_bytes_pass_both_ways_unchanged(serve, echo):
    relay = relay_to(serve, f"127.0.0.1:{echo.port}")
    with relay.connect() as sock:
        for size in (1, 100, 65536, 300000):
            blob = os.urandom(size)
            sock.sendall(blob)
            assert recv_exactly(sock, size) == blob
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


def pump_both_ways(sock, size):
    """Send `size` random bytes while reading as many back; (sent, received) digests."""
    blob = os.urandom(size)
    sender = threading.Thread(target=sock.sendall, args=(blob,))
    sender.start()
    got = hashlib.sha256()
    left = size
    while left:
        chunk = sock.recv(min(left, MIB))
        assert chunk, f"EOF with {left} bytes to come"
        got.update(chunk)
        left -= len(chunk)
    sender.join(30)
    return hashlib.sha256(blob).hexdigest(), got.hexdigest()


def test_a_user_relay_moves_16_mib_both_ways_at_once_intact(serve, echo):
    relay = serve("--handler", "userhandlers.myrelay:Relay", "--backend-port", str(echo.port))
    with relay.connect(timeout=30) as sock:
        sent, received = pump_both_ways(sock, 16 * MIB)
    assert sent == received
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


def test_the_built_in_relay_moves_16_mib_both_ways_at_once_intact(serve, echo):
    relay = relay_to(serve, f"127.0.0.1:{echo.port}")
    with relay.connect(timeout=30) as sock:
        sent, received = pump_both_ways(sock, 16 * MIB)
    assert sent == received


def test_a_backend_that_never_reads_pauses_the_client_and_drops_nothing(serve, backend):
    relay = relay_to(serve, backend, "--metrics-port", "0")
    metrics = re.search(r"metrics at (http://\S+/metrics)", relay.line).group(1)
    client = relay.connect()
    held = backend.accept()  # connected, and not reading
    rss_before = relay.rss_kib()
    client.setblocking(False)
    sent = hashlib.sha256()
    total = 0
    blocked_since = None
    chunk = os.urandom(65536)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            n = client.send(chunk)
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break  # the relay stopped reading us: our sends block
            time.sleep(0.01)  # polling the condition above
            continue
        blocked_since = None
        sent.update(chunk[:n])
        total += n
    assert blocked_since is not None, "the client was never paused"
    grew = relay.rss_kib() - rss_before
    assert grew < 4096, f"the relay's memory grew by {grew} KiB"
    assert relay.proc.poll() is None
    with urllib.request.urlopen(metrics, timeout=10) as response:
        page = response.read().decode()
    assert re.search(r"^evloop_connections_open\{direction=\"in\"\} 1$", page, re.M)
    assert re.search(r"^evloop_connections_open\{direction=\"out\"\} 1$", page, re.M)
    # The backend reads at last: every byte arrives, in order.
    client.setblocking(True)
    client.shutdown(socket.SHUT_WR)
    got = hashlib.sha256()
    received = 0
    while received < total:
        data = held.recv(MIB)
        assert data, f"EOF after {received} of {total} bytes"
        got.update(data)
        received += len(data)
    assert got.digest() == sent.digest()
    assert held.recv(10) == b""  # the client's EOF, passed on
    held.close()
    assert recv_until_eof(client) == b""
    client.close()
    code, err = relay.stop()
    assert code == 0 and "slow reader" not in err and "Traceback" not in err


def test_a_client_that_never_reads_pauses_the_backend(serve, backend):
    relay = relay_to(serve, backend)
    client = relay.connect()
    held = backend.accept()
    held.setblocking(False)
    total = 0
    blocked_since = None
    chunk = b"b" * 65536
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            total += held.send(chunk)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break
            time.sleep(0.01)  # polling: a second without progress means the relay paused
    assert blocked_since is not None, "the backend was never paused"
    assert relay.proc.poll() is None
    held.setblocking(True)
    held.close()  # a clean end: what the relay holds still reaches the client
    assert len(recv_until_eof(client)) == total
    client.close()
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


def test_a_half_close_passes_from_the_client_to_the_backend_and_back(serve, backend):
    relay = relay_to(serve, backend)
    client = relay.connect()
    held = backend.accept()
    client.sendall(b"the whole request")
    client.shutdown(socket.SHUT_WR)  # done sending: the backend must see EOF ...
    assert recv_until_eof(held) == b"the whole request"
    held.sendall(b"and the answer comes after")  # ... and may still answer
    held.shutdown(socket.SHUT_WR)
    assert recv_until_eof(client) == b"and the answer comes after"
    client.close()
    held.close()
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


def test_a_half_close_passes_from_the_backend_to_the_client_and_back(serve, backend):
    relay = relay_to(serve, backend)
    client = relay.connect()
    held = backend.accept()
    held.sendall(b"a greeting, and nothing more")
    held.shutdown(socket.SHUT_WR)
    assert recv_until_eof(client) == b"a greeting, and nothing more"
    client.sendall(b"the client still talks")  # after the backend's EOF
    client.shutdown(socket.SHUT_WR)
    assert recv_until_eof(held) == b"the client still talks"
    client.close()
    held.close()


def test_a_backend_that_is_down_is_one_warning_at_start_then_closes_each_client(serve):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = relay_to(serve, f"127.0.0.1:{port}")
    with relay.connect() as client:
        start = time.monotonic()
        client.sendall(b"anyone there?")
        assert recv_until_eof(client) == b""
        assert time.monotonic() - start < 2
    code, err = relay.stop()
    lines = [line for line in err.splitlines() if "upstream" in line]
    assert len(lines) == 2, err
    assert "WARNING" in lines[0] and "does not answer at start-up" in lines[0]
    assert "Connection refused" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0] and "serving anyway" in lines[0]
    assert "unreachable" in lines[1] and "refused" in lines[1].lower(), err
    assert code == 0 and "Traceback" not in err


def test_a_backend_that_comes_later_is_served_without_a_restart(serve):
    later = Backend()
    later.listener.close()  # down at the relay's start
    relay = relay_to(serve, later.address)
    relay.wait_stderr("does not answer at start-up")  # its check came before the backend
    backend = socket.socket()
    backend.bind(("127.0.0.1", later.port))
    backend.listen(8)
    backend.settimeout(10)
    with backend, relay.connect() as client:
        client.sendall(b"now?")
        held, _ = backend.accept()
        with held:
            assert recv_exactly(held, 4) == b"now?"
            held.sendall(b"yes")
            assert recv_exactly(client, 3) == b"yes"
    code, err = relay.stop()
    assert code == 0 and err.count("does not answer at start-up") == 1, err


def test_a_backend_reset_ends_that_client_only(serve, backend):
    relay = relay_to(serve, backend)
    first = relay.connect()
    first_held = backend.accept()
    second = relay.connect()
    second_held = backend.accept()
    first.sendall(b"1")
    assert first_held.recv(1) == b"1"
    first_held.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    first_held.close()  # RST
    try:
        assert recv_until_eof(first) == b""
    except ConnectionResetError:
        pass
    second.sendall(b"still here")
    assert recv_exactly(second_held, 10) == b"still here"
    second_held.sendall(b"and so am I")
    assert recv_exactly(second, 11) == b"and so am I"
    for sock in (first, second, second_held):
        sock.close()
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    where = tmp_path_factory.mktemp("relay-certs")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(where / "server.pem"))
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    return where


def client_tls(certs):
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    return context


def test_tls_and_a_proxy_header_in_front_of_a_plain_backend(serve, echo, certs):
    pem = str(certs / "server.pem")
    relay = relay_to(serve, f"127.0.0.1:{echo.port}", "--tls-cert", pem, "--tls-key", pem,
                     "--proxy-protocol")
    raw = socket.create_connection(relay.address, timeout=10)
    raw.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 4321 443\r\n")  # only a header: never dialled
    with client_tls(certs).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"terminated here, plain behind")
        assert recv_exactly(sock, 29) == b"terminated here, plain behind"
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err


def test_tls_to_the_backend(serve, certs):
    pem = str(certs / "server.pem")
    secure = serve("--handler", "echo", "--tls-cert", pem, "--tls-key", pem)
    relay = relay_to(serve, f"127.0.0.1:{secure.port}", "--upstream-ca", str(certs / "ca.pem"))
    with relay.connect() as sock:
        sock.sendall(b"plain here, encrypted beyond")
        assert recv_exactly(sock, 28) == b"plain here, encrypted beyond"
    untrusted = relay_to(serve, f"127.0.0.1:{secure.port}", "--upstream-tls", "on")
    with untrusted.connect() as sock:  # the system's CAs do not know trustme's
        sock.sendall(b"x")
        assert recv_until_eof(sock) == b""
    code, err = untrusted.stop()
    assert "certificate verify failed" in err and "Traceback" not in err


def test_a_unix_socket_backend(serve, tmp_path):
    path = str(tmp_path / "backend.sock")
    with running([sys.executable, "-m", "evloop.serve", "--unix", path]) as backend:
        assert "serving echo on unix:" in backend.stdout.readline()
        relay = relay_to(serve, f"unix:{path}")
        with relay.connect() as sock:
            sock.sendall(b"to a unix socket")
            assert recv_exactly(sock, 16) == b"to a unix socket"
        backend.send_signal(signal.SIGTERM)
        assert backend.wait(10) == 0


@pytest.mark.parametrize("args, message", [
    ((), "--upstream: the relay needs a backend: --upstream HOST:PORT or --upstream unix:PATH"),
    (("--upstream", "nowhere"), "is not HOST:PORT"),
    (("--upstream", "127.0.0.1:99999"), "is not HOST:PORT"),
    (("--upstream", "127.0.0.1:9", "--upstream-ca", "/no/such/ca.pem"), "does not load"),
])
def test_relay_mistakes_are_one_line_and_exit_2(args, message):
    run = subprocess.run([sys.executable, "-m", "evloop.serve", "--handler", "relay", "--port",
                          "0", *args], capture_output=True, text=True, timeout=30, cwd=ROOT,
                         env=cli_env(), stdin=subprocess.DEVNULL)
    assert run.returncode == 2 and message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_trace_narrates_the_outbound_connection_too(serve, echo):
    relay = relay_to(serve, f"127.0.0.1:{echo.port}", "--trace")
    with relay.connect() as sock:
        sock.sendall(b"traced")
        assert recv_exactly(sock, 6) == b"traced"
    code, err = relay.stop()
    step = r"trace: +\d+\.\d{3} ms  "  # each line: the time since the start, then the descriptor
    assert re.search(rf"{step}out 127\.0\.0\.1:{echo.port}: connecting", err)
    assert re.search(rf"{step}fd \d+ 127\.0\.0\.1:{echo.port}: CONNECTING -> OPEN \(connected\)",
                     err)
    assert re.search(rf"{step}fd \d+ 127\.0\.0\.1:{echo.port}: send 6 B, all sent", err)


def test_the_metrics_count_outbound_connections_by_direction(serve, echo):
    relay = relay_to(serve, f"127.0.0.1:{echo.port}", "--metrics-port", "0")
    metrics = re.search(r"metrics at (http://\S+/metrics)", relay.line).group(1)
    for _ in range(3):
        with relay.connect() as sock:
            sock.sendall(b"x")
            assert recv_exactly(sock, 1) == b"x"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = probe.getsockname()[1]

    # The backend side of each closes after its client; the start-up check (one more
    # connect) closes as soon as it is made, and sends nothing.
    def page_once_closed():
        with urllib.request.urlopen(metrics, timeout=10) as response:
            page = response.read().decode()
        closed = re.search(r'^evloop_connections_closed_total\{direction="out",'
                           r'reason="handler_close"\} (\d+)$', page, re.M)
        return page if closed and closed.group(1) == "4" else None
    assert wait_for(page_once_closed)
    page = page_once_closed()
    assert re.search(r"^evloop_connects_total 4$", page, re.M), page
    assert re.search(r'^evloop_connections_closed_total\{direction="out",reason="handler_close"\} 4$',
                     page, re.M), page
    assert re.search(r'^evloop_connections_open\{direction="out"\} 0$', page, re.M)
    assert re.search(r'^evloop_sent_bytes_total\{transport="tcp",direction="out"\} 3$', page, re.M)
    relay.stop()
    refused = relay_to(serve, f"127.0.0.1:{down}", "--metrics-port", "0")
    metrics = re.search(r"metrics at (http://\S+/metrics)", refused.line).group(1)
    with refused.connect() as sock:
        assert recv_until_eof(sock) == b""
    with urllib.request.urlopen(metrics, timeout=10) as response:
        page = response.read().decode()
    assert re.search(r'^evloop_connect_failures_total\{reason="refused"\} 2$', page, re.M), page


def test_several_backends_fail_over_and_are_health_checked(serve):
    first, second = serve("--handler", "echo"), serve("--handler", "echo")
    relay = relay_to(serve, f"127.0.0.1:{first.port},127.0.0.1:{second.port}",
                     "--check-interval", "0.1", "--check-fall", "2", "--check-rise", "2")

    def served():
        with relay.connect() as client:
            client.sendall(b"ping")
            return recv_exactly(client, 4)

    assert [served() for _ in range(4)] == [b"ping"] * 4
    port = first.port
    assert first.stop()[0] == 0
    # Every client is served: one that meets the dead backend fails over at once, and
    # soon the checks take it out of the round.
    assert [served() for _ in range(6)] == [b"ping"] * 6
    down = relay.wait_stderr(rf"upstream 127\.0\.0\.1:{port} is down")
    assert "2 check(s) failed, the last: " in down and "1 of 2 up" in down
    again = serve("--handler", "echo", port=str(port))  # back, on the same port
    up = relay.wait_stderr(rf"upstream 127\.0\.0\.1:{port} is up: 2 check\(s\) passed; 2 of 2 up")
    assert up and served() == b"ping"
    code, err = relay.stop()
    assert code == 0 and "Traceback" not in err and "unreachable" not in err, err
    again.stop()
