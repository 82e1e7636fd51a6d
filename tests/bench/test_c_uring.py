"""The C echo references, bench/c/echo_uring.c (io_uring) beside bench/c/echo_epoll.c.

Both are the benchmark's limit, so both must echo every byte, in order, however
it arrives: whole, split, pipelined 16 deep (the pipelined point), a megabyte at
once, and with clients that stop reading or leave mid-stream.  Those tests run on
both servers (as uvloop's tests run one class on two loops): the epoll server is
the control the io_uring one must agree with.

echo_uring is built only where liburing is installed, and serves only where the
kernel takes io_uring; otherwise its tests skip with the one line that says why.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from bench import runner
from bench.models import BUILD
from bench.models import BY_NAME
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import wait_for

HAVE_CC = any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))
SERVERS = ["c-epoll", "c-uring"]


@pytest.fixture(scope="module")
def build_notes():
    """scripts/build-c's notes (stderr), after it has built what this machine can build."""
    if not HAVE_CC:
        pytest.skip("no C compiler on this machine: the C echo servers are not built")
    run = subprocess.run([os.path.join(ROOT, "scripts", "build-c")], capture_output=True,
                         text=True, check=True, timeout=120, stdin=subprocess.DEVNULL)
    return run.stderr


def start(name, build_notes):
    """A runner.Server for the model, started as the runner starts it; a skip with
    the one-line reason where it is not built or the kernel refuses io_uring."""
    model = BY_NAME[name]
    if model.unavailable():
        note = next((line for line in build_notes.splitlines() if "io_uring" in line),
                    model.unavailable())
        pytest.skip(f"{name}: {note}")
    try:
        return runner.Server(model, "echo")
    except RuntimeError as error:
        if "refuses io_uring" in str(error):
            pytest.skip(f"{name}: {str(error).removeprefix('did not start: ')}")
        raise


@pytest.fixture(params=SERVERS)
def server(request, build_notes):
    server = start(request.param, build_notes)
    yield server
    assert server.alive(), f"{request.param} died: {server.tail()}"
    server.stop()


def connect(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small sends stay separate
    return sock


def open_fds(server):
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def echo_once(server, message=b"still serving"):
    with connect(server) as sock:
        sock.sendall(message)
        return recv_exactly(sock, len(message)) == message


@pytest.mark.timeout(30)
def test_echo_uring_announces_its_model_and_ring_and_stops_on_sigterm(build_notes):
    if BY_NAME["c-uring"].unavailable():
        start("c-uring", build_notes)  # skips, saying why
    proc = subprocess.Popen([os.path.join(BUILD, "echo_uring"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        if not line:  # where the kernel refuses io_uring: exit 1 and one line saying so
            err = proc.stderr.read()
            assert proc.wait(timeout=10) == 1 and err.count("\n") == 1, err
            assert "echo_uring: the kernel refuses io_uring (" in err, err
            pytest.skip(f"c-uring: {err.strip()}")
        # The runner reads the port after " on "; the rest names the model and the
        # setup flags the kernel took.
        assert line.startswith("echo_uring: serving echo on 127.0.0.1:"), line
        assert "(tcp), model c-uring, io_uring with " in line, line
        port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = f"still running 10 s after SIGTERM: {proc.wait()}"
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0  # SIGTERM ends its wait in io_uring_enter; it leaves cleanly


@pytest.mark.timeout(30)
def test_echo_uring_refuses_an_option_it_does_not_take_in_one_line(build_notes):
    if BY_NAME["c-uring"].unavailable():
        start("c-uring", build_notes)  # skips, saying why
    proc = subprocess.run([os.path.join(BUILD, "echo_uring"), "--udp", "1"], capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.count("\n") == 1 and "--port and --host" in proc.stderr, proc.stderr


@pytest.mark.timeout(30)
def test_whole_split_and_pipelined_messages_from_several_clients(server):
    clients = [connect(server) for _ in range(5)]
    try:
        for i, sock in enumerate(clients):  # whole: all five in flight at once
            sock.sendall(b"whole message %d" % i)
        for i, sock in enumerate(clients):
            assert recv_exactly(sock, len(b"whole message %d" % i)) == b"whole message %d" % i
        split = b"split into a send per byte"
        for at in range(len(split)):  # split: the clients' bytes interleaved
            for sock in clients:
                sock.sendall(split[at:at + 1])
        for sock in clients:
            assert recv_exactly(sock, len(split)) == split
        pipelined = [b"".join(b"<%d.%d>" % (i, n) for n in range(200)) for i in range(5)]
        for sock, wire in zip(clients, pipelined):  # pipelined: 200 sent before any is read
            sock.sendall(wire)
        for sock, wire in zip(clients, pipelined):
            assert recv_exactly(sock, len(wire)) == wire
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.timeout(30)
def test_16_pipelined_messages_on_5_connections_come_back_intact_and_in_order(server):
    # Mostly small, one past a 16 KiB provided buffer: a reply may span several buffers.
    sizes = [100] * 15 + [20000]
    clients = [connect(server) for _ in range(5)]
    try:
        for round_ in range(20):
            sent = []
            for i, sock in enumerate(clients):
                messages = [(b"%d/%d/%d:" % (i, round_, n)).ljust(size, b"x")
                            for n, size in enumerate(sizes)]
                for message in messages:  # 16 in flight, each its own send
                    sock.sendall(message)
                sent.append(b"".join(messages))
            for sock, wire in zip(clients, sent):
                assert recv_exactly(sock, len(wire)) == wire
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.timeout(30)
def test_a_mebibyte_comes_back_intact(server):
    blob = os.urandom(1 << 20)
    with connect(server) as sock:
        got = []
        # Read while sending: the server stops reading while its replies go unread.
        reader = threading.Thread(target=lambda: got.append(recv_exactly(sock, len(blob))))
        reader.start()
        sock.sendall(blob)
        reader.join(20)
    assert got and got[0] == blob


def push_until_full(sock, limit):
    """Send without reading until the kernel takes no more (or `limit` bytes): the
    bytes sent."""
    sock.setblocking(False)
    sent, chunk = 0, os.urandom(65536)
    while sent < limit:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            break
    return sent


@pytest.mark.timeout(30)
def test_a_client_that_stops_reading_stalls_only_itself(server):
    with connect(server) as hog:
        pushed = push_until_full(hog, 64 << 20)
        assert pushed > 256 * 1024  # past the server's bound: it has stopped reading the hog
        assert echo_once(server) and echo_once(server, os.urandom(100000))
        hog.setblocking(True)
        hog.settimeout(10)
        got = []
        reader = threading.Thread(target=lambda: got.append(recv_exactly(hog, pushed)))
        reader.start()  # reading again, the hog gets every byte back
        reader.join(20)
        assert got and len(got[0]) == pushed


@pytest.mark.timeout(30)
def test_a_slow_reader_with_a_small_window_gets_every_byte_back(server):
    """The server's sends meet a full socket: some go out in part, and the rest must
    follow, in order (echo_uring resubmits the remainder, echo_epoll queues it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    blob = os.urandom(3 << 20)
    with sock:
        writer = threading.Thread(target=sock.sendall, args=(blob,))
        writer.start()
        got = bytearray()
        while len(got) < len(blob):
            got += sock.recv(7000)
        writer.join(20)
    assert got == blob


@pytest.mark.timeout(30)
def test_a_client_that_disconnects_mid_stream_does_not_stop_it(server):
    baseline = open_fds(server)  # no client yet
    for how in ("close", "reset"):
        for _ in range(5):
            sock = connect(server)
            sock.sendall(b"half a reply in flight " * 1000)
            push_until_full(sock, 4 << 20)  # replies unread, and more requests on the way
            if how == "reset":  # RST at once, not after the kernel's own close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # with unread replies, Linux sends RST either way
    assert echo_once(server) and server.alive()
    assert wait_for(lambda: open_fds(server) == baseline), (open_fds(server), baseline)


@pytest.mark.timeout(30)
def test_a_client_that_half_closes_gets_every_reply_then_eof(server):
    blob = os.urandom(300 * 1024)
    with connect(server) as sock:
        sock.sendall(blob)
        sock.shutdown(socket.SHUT_WR)  # EOF reaches the server while it still owes replies
        assert recv_exactly(sock, len(blob)) == blob
        assert sock.recv(1) == b""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [100, 20000])
def test_the_load_generator_finds_every_reply_right_at_depth_16(server, size):
    loadgen = os.path.join(BUILD, "loadgen")
    proc = subprocess.run([loadgen, "--port", str(server.port), "--connections", "5", "--depth",
                           "16", "--size", str(size), "--duration", "0.4", "--warmup", "0"],
                          capture_output=True, text=True, timeout=60, env=cli_env(), cwd=ROOT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == 0 and result["lost_connections"] == 0, result
    assert result["messages"] > 16 * 5 and result["active_connections"] == 5, result
