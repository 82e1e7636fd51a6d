"""Hostile clients against a real server on loopback: one test per behaviour.

Each test measures what it claims: server RSS from /proc for backpressure,
CPU seconds while out of descriptors, bytes and SHA-256 for nothing-lost.
"""

import hashlib
import re
import resource
import signal
import socket
import struct
import threading
import time
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evloop import Config
from evloop import ProtocolError
from evloop import Server
from evloop import load_handler
from evloop.server.accepting import ACCEPTS_PER_EVENT
from evloop.server.loading import BUILTIN
from evloop.testing import FakeContext
from tests.conftest import metric
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import scrape
from tests.conftest import wait_for
from tests.splits import cuts
from tests.splits import split_at

MIB = 1024 * 1024


def pump(sock, total, chunk_size=256 * 1024):
    """Send `total` bytes of a known pattern; return (bytes sent, sha256 digest)."""
    digest = hashlib.sha256()
    chunk = (bytes(range(256)) * (chunk_size // 256))
    sent = 0
    while sent < total:
        piece = chunk[:min(chunk_size, total - sent)]
        sock.sendall(piece)
        digest.update(piece)
        sent += len(piece)
    return sent, digest.digest()


class Sender(threading.Thread):
    def __init__(self, sock, total, then_shutdown=False):
        super().__init__(daemon=True)
        self.sock, self.total, self.then_shutdown = sock, total, then_shutdown
        self.result = None
        self.progress = 0

    def run(self):
        self.result = pump(self.sock, self.total)
        if self.then_shutdown:
            self.sock.shutdown(socket.SHUT_WR)


def read_all(sock, limit=None):
    digest = hashlib.sha256()
    count = 0
    while limit is None or count < limit:
        data = sock.recv(MIB)
        if not data:
            break
        digest.update(data)
        count += len(data)
    return count, digest.digest()


def test_backpressure_bounds_memory_and_loses_nothing(serve):
    server = serve("--handler", "echo", "--metrics-port", "0")
    with server.connect(timeout=30) as sock:
        sock.sendall(b"warm")  # allocate the per-connection state before measuring
        recv_exactly(sock, 4)
        assert metric(scrape(server), "evloop_backpressure_pauses_total") == 0  # and a scrape's
        rss_before = server.rss_kib()
        sender = Sender(sock, 64 * MIB)
        sender.start()
        assert wait_for(lambda: metric(scrape(server), "evloop_backpressure_pauses_total") >= 1,
                        timeout=30)  # the server stopped reading this client
        assert sender.is_alive(), "64 MiB went through without the client reading?"
        rss_paused = server.rss_kib()
        received = read_all(sock, limit=64 * MIB)
        sender.join(30)
    assert received == sender.result  # every byte, in order
    growth_mib = (rss_paused - rss_before) / 1024
    assert growth_mib < 4, f"server grew {growth_mib:.1f} MiB while the client did not read"


def test_a_chat_member_who_stops_reading_is_skipped_and_told_what_it_missed(serve):
    """Backpressure reaches the handler: once the slow member's replies pass high
    water it hears pause_writing(), and the room skips it instead of queueing
    more, so it is never disconnected at --max-output.  The talker is never
    stalled, and once the member reads again it learns how many lines it lost."""
    server = serve("--handler", "chat", "--high-water", "16K", "--low-water", "4K",
                   "--max-output", "64K")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(server.address)
    heard = b""
    with server.connect(timeout=10) as talker:
        heard += talker.recv(1024)
        line = b"x" * 1000 + b"\n"
        for _ in range(16):  # 16 MB: far more than the kernel's buffers hold
            talker.sendall(line * 1000)
            talker.sendall(b"/who\n")
            while b"* here:" not in heard:
                heard += talker.recv(65536)
            heard = heard.replace(b"* here:", b"", 1)
        assert b" left\n" not in heard  # skipped, not dropped
        slow.settimeout(10)
        got = b""
        while b"\n* you missed" not in got:
            chunk = slow.recv(1 << 20)
            assert chunk, "the slow member was disconnected"
            got = got[-100:] + chunk
        missed = int(got.split(b"* you missed ")[1].split(b" ")[0])
        assert 1000 < missed < 16000
    slow.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert "over --max-output" not in err


def test_idle_and_slowloris_timeouts(serve):
    server = serve("--handler", "lenprefix", "--idle-timeout", "0.6")
    silent = server.connect()
    dribbler = server.connect()
    active = server.connect()
    start = time.monotonic()
    closed = {}

    def dribble():
        try:
            for byte in b"999" + b"d" * 999:  # one byte per 0.1 s never completes a message
                dribbler.send(bytes([byte]))
                time.sleep(0.1)  # pacing: the dribbler's rate is what the test is about
        except OSError:
            pass

    threading.Thread(target=dribble, daemon=True).start()
    while time.monotonic() - start < 3.0:
        active.sendall(b"002hi")
        assert recv_exactly(active, 5) == b"002hi"
        time.sleep(0.1)  # pacing: a message every sixth of the timeout
    for name, sock in [("silent", silent), ("dribbler", dribbler)]:
        sock.settimeout(5)
        try:
            closed[name] = sock.recv(1024) == b""
        except ConnectionResetError:
            closed[name] = True
    assert closed == {"silent": True, "dribbler": True}
    active.sendall(b"003yes")  # the active one outlived five idle periods
    assert recv_exactly(active, 6) == b"003yes"
    for sock in (silent, dribbler, active):
        sock.close()
    code, err = server.stop()
    assert err.count("(--idle-timeout): closing") == 2


def test_max_connections_refuses_at_once_and_reuses_room(serve):
    server = serve("--handler", "chat", "--max-connections", "3")
    members = [server.connect() for _ in range(3)]
    for sock in members:
        assert b"welcome" in sock.recv(1024)
    extra = [server.connect() for _ in range(10)]
    for sock in extra:
        assert recv_until_eof(sock) == b"* server full, try again later\n"
        sock.close()
    members.pop().close()
    def admitted():
        sock = server.connect()
        data = sock.recv(1024)
        sock.close()
        return b"welcome" in data
    assert wait_for(admitted, timeout=5)
    for sock in members:
        sock.close()
    code, err = server.stop()
    assert code == 0
    assert 1 <= err.count("refused") <= 2, "the refusal log line is rate-limited"
    assert "--max-connections 3 reached" in err


def test_accepts_per_event_are_bounded(monkeypatch):
    server = Server(load_handler("echo"),
                    Config(port=0, backlog=128, max_connections=100000, selector="poll"))
    server.start()
    assert server.acceptor.limit == ACCEPTS_PER_EVENT
    server.acceptor.limit = 20  # small, to keep the test light
    # create_connection returns once the handshake is done: each client is queued.
    clients = [socket.create_connection(server.address) for _ in range(20 + 7)]
    server.acceptor.on_acceptable()  # one readiness event
    assert len(server.connections) == 20
    server.acceptor.on_acceptable()
    assert len(server.connections) == 20 + 7
    for conn in list(server.connections):
        conn.end("shutdown", now=True, reason="test over")
    for sock in clients:
        sock.close()
    server.shutdown()
    server.close()


def limit_fds(count):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return set_limit


def test_out_of_fds_pauses_accept_without_spinning_and_recovers(serve):
    # A hard limit of 40 descriptors that the server cannot raise.
    server = serve("--handler", "echo", "--backlog", "256", "--metrics-port", "0",
                   preexec_fn=limit_fds(40))
    clients = [server.connect() for _ in range(60)]  # over 40 fds: some wait in the backlog
    server.wait_stderr("out of file descriptors")
    cpu_before = server.cpu_seconds()
    time.sleep(2.0)  # the window the CPU is measured over, not a wait for something
    cpu_used = server.cpu_seconds() - cpu_before
    assert cpu_used < 0.5, f"{cpu_used:.2f} CPU seconds in 2 s while out of fds: a busy loop"
    for sock in clients[:30]:
        sock.close()
    for sock in clients[30:]:  # the waiting ones are accepted and served once fds free up
        sock.sendall(b"late")
        assert recv_exactly(sock, 4) == b"late"
        sock.close()
    # Each accept() that found no descriptor is counted, by that reason (evloop.metrics).
    metrics = re.search(r"metrics at (http://\S+/metrics)", server.line).group(1)
    with urllib.request.urlopen(metrics, timeout=10) as response:
        page = response.read().decode()
    fd_limit = re.search(r'^evloop_connections_refused_total{reason="fd_limit"} (\d+)', page, re.M)
    assert int(fd_limit.group(1)) >= 1
    code, err = server.stop()
    assert code == 0
    assert err.count("out of file descriptors") == 1
    assert "file descriptors available again" in err


def test_half_close_gets_the_whole_echo_then_eof(serve):
    server = serve("--handler", "echo")
    with server.connect(timeout=30) as sock:
        sender = Sender(sock, 4 * MIB, then_shutdown=True)
        sender.start()
        received = read_all(sock)  # until EOF
        sender.join(30)
    assert received == sender.result


def test_resets_and_broken_pipes_are_ordinary_disconnects(serve):
    server = serve("--handler", "lenprefix", "--log-level", "debug", "--metrics-port", "0")
    rst = server.connect()
    rst.sendall(b"010half")  # RST in the middle of a message
    rst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rst.close()
    gone = server.connect()  # closed while its replies are pending: EPIPE or ECONNRESET
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    gone.sendall((b"999" + b"p" * 999) * 2000)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.close()
    assert wait_for(lambda: metric(scrape(server), "evloop_connections_closed_total") == 2)
    with server.connect() as ok:
        ok.sendall(b"002ok")
        assert recv_exactly(ok, 5) == b"002ok"
    code, err = server.stop()
    assert code == 0
    assert "Traceback" not in err
    assert " ERROR " not in err and " WARNING " not in err
    assert "Connection reset by peer" in err or "Broken pipe" in err


def test_handler_crash_closes_only_that_connection(serve):
    server = serve("--handler", "userhandlers.reverse:ReverseLines")
    with server.connect() as victim, server.connect() as bystander:
        victim.sendall(b"crash")
        assert recv_until_eof(victim) == b""
        bystander.sendall(b"ok")
        assert bystander.recv(10) == b"ko"
    code, err = server.stop()
    assert code == 0 and err.count("Traceback") == 1
    assert "ERROR" in err and "raised in data_received" in err


def fed(name, chunks):
    """What a fresh built-in handler sends for `chunks` then EOF, replies and pushes (to
    its client, then to a relay's backend) joined, or "error" for a ProtocolError."""
    options = {"upstream": ("127.0.0.1", 9)} if name == "relay" else {}  # never dialled
    context = FakeContext("fuzz:1")
    context.open(load_handler(name).factory(max_message=300, **options)())
    for backend in context.connects:
        backend.open()
    try:
        for chunk in chunks:
            if context.state != "open":
                break  # it closed (chat's /quit): a server reads nothing more
            context.feed(chunk)
        else:
            context.feed_eof()
    except ProtocolError:
        return "error"
    finally:
        context.lose()
    return context.take() + b"".join(backend.context.take() for backend in context.connects)


@pytest.mark.parametrize("name", sorted(BUILTIN))
@given(data=st.binary(max_size=1500), cut_points=cuts)
def test_every_builtin_parser_answers_any_split_as_the_whole(name, data, cut_points):
    """Any bytes give replies or a ProtocolError, never another exception, and the
    same ones however the bytes are cut."""
    assert fed(name, split_at(data, cut_points)) == fed(name, [data])


def test_over_max_message_is_a_protocol_error_on_the_wire(serve):
    server = serve("--handler", "chat", "--max-message", "100")
    with server.connect() as sock:
        sock.recv(1024)
        sock.sendall(b"y" * 200)
        assert recv_until_eof(sock) == b""
    code, err = server.stop()
    assert "line longer than --max-message 100 bytes" in err


def frame(n):
    payload = f"message {n:06d}".encode()
    return str(len(payload)).zfill(3).encode() + payload


def test_graceful_shutdown_sends_whole_frames_then_fin(serve):
    server = serve("--handler", "lenprefix")
    sock = server.connect(timeout=10)
    done = threading.Event()
    sent = []

    def keep_sending():
        n = 0
        try:
            while not done.is_set() and n < 200000:
                sock.sendall(b"".join(frame(i) for i in range(n, n + 50)))
                sent.append(n + 50)
                n += 50
        except OSError:
            pass

    threading.Thread(target=keep_sending, daemon=True).start()
    received = bytearray()
    signalled = False
    while True:
        data = sock.recv(MIB)  # an RST would raise here: the test wants a FIN
        if not data:
            break
        received += data
        if not signalled and len(received) > 50000:
            server.proc.send_signal(signal.SIGTERM)
            signalled = True
    done.set()
    sock.close()
    assert signalled
    expected = b"".join(frame(i) for i in range(len(received) // len(frame(0))))
    assert bytes(received) == expected, "a torn or out-of-order frame"
    server.proc.wait(timeout=10)  # it is stopping already
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_drain_timeout_resets_a_client_that_never_reads(serve):
    server = serve("--handler", "echo", "--drain-timeout", "0.5")
    stuck = server.connect()
    stuck.setblocking(False)
    try:
        while True:
            stuck.send(b"s" * 65536)
    except BlockingIOError:
        pass
    started = time.monotonic()
    code, err = server.stop()
    assert code == 0 and time.monotonic() - started < 5
    assert "--drain-timeout 0.5s passed: resetting 1 connection(s)" in err
    stuck.close()


def test_a_thousand_concurrent_connections(serve):
    server = serve("--handler", "lenprefix")
    socks = [server.connect() for _ in range(1000)]
    for i, sock in enumerate(socks):
        sock.sendall(frame(i))
    for i, sock in enumerate(socks):
        assert recv_exactly(sock, len(frame(i))) == frame(i)
    for sock in socks:
        sock.close()
    code, err = server.stop()
    assert code == 0


def test_defaults_are_safe(serve):
    server = serve()
    assert server.host == "127.0.0.1"
    from evloop.cli.serve import build_parser
    options = build_parser().parse_args([])
    for name in ("max_message", "high_water", "drain_timeout", "max_output", "max_connections",
                 "idle_timeout"):
        for value in (getattr(options, name), getattr(Config(), name)):
            assert 0 < value < float("inf"), name
