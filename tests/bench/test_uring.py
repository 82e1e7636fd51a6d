"""bench.uring_echo, the pure-Python io_uring echo model (uring-python).

It must echo every byte in order, however it arrives: whole, split and
pipelined, from several clients at once, and in megabytes, which fill the
client's window (partial sends) and hold every buffer of the ring (ENOBUFS,
then recycled buffers).  A client that leaves mid-stream must not stop it.
Where the kernel refuses io_uring, the server tests skip with the model's
one-line reason, and the refusal itself is checked with a fake system call.
"""

import ctypes
import errno
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import runner
from bench import uring_echo
from bench.models import BY_NAME
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly

MODEL = BY_NAME["uring-python"]
MIB = 1 << 20


def echo_alive(server):
    """One small echo on a fresh connection: whether the server still answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"still there?")
        return recv_exactly(sock, 12) == b"still there?"


@pytest.fixture
def server():
    """uring-python, started as the runner starts it; a skip with the model's
    one-line reason where the kernel refuses io_uring or a feature it needs."""
    if MODEL.unavailable():
        pytest.skip(f"uring-python: {MODEL.unavailable()}")
    try:
        server = runner.Server(MODEL, "echo")
    except RuntimeError as error:
        if "bench.uring_echo:" in str(error):
            pytest.skip(f"uring-python: {error}")
        raise
    try:
        try:
            echo_alive(server)
        except (OSError, EOFError):
            # A feature refused at its first use (multishot accept or recv) exits 1
            # after the startup line: the same one-line reason.
            if server.proc.poll() == 1 and "bench.uring_echo:" in server.tail():
                pytest.skip(f"uring-python: {server.tail()}")
            raise
        yield server
        assert server.alive(), server.tail()
    finally:
        server.stop()


def exchange(port, index):
    """One client's whole, split and pipelined messages; what came back of each."""
    tag = f"client {index}:".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        whole = tag + b" whole" + bytes(range(256))
        sock.sendall(whole)
        got_whole = recv_exactly(sock, len(whole))
        split = tag + b" split " + os.urandom(3000)
        for start in range(0, len(split), 700):
            sock.sendall(split[start:start + 700])
            time.sleep(0.002)  # each piece its own segment, most of them
        got_split = recv_exactly(sock, len(split))
        pipelined = b"".join(tag + b" message %d;" % n for n in range(200))
        sock.sendall(pipelined)  # all of them before reading any echo
        got_pipelined = recv_exactly(sock, len(pipelined))
        return (got_whole, got_split, got_pipelined) == (whole, split, pipelined)


@pytest.mark.timeout(60)
def test_several_clients_at_once_get_whole_split_and_pipelined_messages_back(server):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda index: exchange(server.port, index), range(8)))
    assert results == [True] * 8


def send_and_read_late(port, messages, delay):
    """Send `messages` from a thread, start reading only after `delay`, and return
    what came back.  A small receive buffer keeps the client's window narrow."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connecting
        sock.settimeout(30)
        sock.connect(("127.0.0.1", port))
        sender = threading.Thread(target=lambda: sock.sendall(b"".join(messages)), daemon=True)
        sender.start()
        time.sleep(delay)
        echoed = [recv_exactly(sock, len(message)) for message in messages]
        sender.join(30)
        return echoed


@pytest.mark.timeout(90)
def test_megabyte_messages_come_back_intact_through_partial_sends_and_recycled_buffers(server):
    """Each recv fills at most one buffer, so more bytes than the whole ring holds
    cannot pass unless buffers come back; and while the client does not read,
    the server's sends are cut short and its buffers all held."""
    rounds = uring_echo.BUFFER_COUNT * uring_echo.BUFFER_SIZE // MIB + 4
    messages = [os.urandom(MIB) for _ in range(rounds)]
    echoed = send_and_read_late(server.port, messages, delay=0.5)
    assert [len(e) for e in echoed] == [MIB] * rounds
    assert echoed == messages
    assert echo_alive(server)


@pytest.mark.timeout(60)
def test_clients_that_leave_mid_stream_do_not_stop_the_server(server):
    quitter = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    quitter.sendall(os.urandom(4 * MIB // 2))  # its echo half-read, then gone
    recv_exactly(quitter, 1000)
    quitter.close()  # unread bytes: the kernel answers with a reset
    aborter = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    aborter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    aborter.sendall(os.urandom(300000))
    aborter.close()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    silent.close()  # connected, said nothing, gone
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        blob = os.urandom(200000)
        sock.sendall(blob)
        assert recv_exactly(sock, len(blob)) == blob
        sock.shutdown(socket.SHUT_WR)  # EOF: the echo is finished, then the server closes
        assert sock.recv(10) == b""
    assert echo_alive(server)


@pytest.mark.timeout(30)
def test_the_model_runs_here_or_its_tests_skip_saying_why():
    """The skip path: never a pass without io_uring, never a silent skip."""
    reason = MODEL.unavailable()
    if reason:
        assert "\n" not in reason and reason == uring_echo.refusal()
        pytest.skip(f"uring-python: {reason}")
    assert uring_echo.refusal() is None


@pytest.mark.timeout(30)
def test_other_handlers_are_refused_in_one_line():
    run = subprocess.run(MODEL.command("lenprefix"), capture_output=True, text=True, timeout=20,
                         env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    assert run.returncode == 2 and not run.stdout
    assert run.stderr == "bench.uring_echo: serves only echo (bytes back as they come), not lenprefix\n"
    assert "serves only echo" in MODEL.refuses(runner.Point("t", handler="lenprefix"))


def fake_syscall(code):
    """libc's syscall(2) as a kernel that refuses with `code` answers: -1 and errno."""
    def syscall(*args):
        ctypes.set_errno(code)
        return -1
    return syscall


@pytest.fixture
def refused(monkeypatch):
    """Make the kernel refuse: call the result with an errno.  The cached answer
    is forgotten before and after, so that no other test sees the fake one."""
    def refuse(code):
        monkeypatch.setattr(uring_echo, "libc_syscall", fake_syscall(code))
        uring_echo.refusal.cache_clear()
    yield refuse
    monkeypatch.undo()
    uring_echo.refusal.cache_clear()


@pytest.mark.timeout(30)
def test_a_kernel_without_io_uring_is_named_in_one_line_and_the_registry_notes_it(refused):
    refused(errno.ENOSYS)
    reason = uring_echo.refusal()
    assert reason == ("io_uring_setup failed with ENOSYS: this kernel has no io_uring "
                      "(built without CONFIG_IO_URING, or older than 5.1)")
    assert MODEL.unavailable() == reason
    with pytest.raises(uring_echo.Refused, match="^io_uring_setup failed with ENOSYS"):
        uring_echo.Ring(8)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("disabled,why", [
    ("2", "kernel.io_uring_disabled is 2: io_uring is off for every process"),
    ("1", "kernel.io_uring_disabled is 1: only root and the group in kernel.io_uring_group"),
    ("0", "a seccomp filter forbids it (Docker's default profile does"),
])
def test_eperm_says_whether_the_sysctl_or_seccomp_refused(refused, monkeypatch, tmp_path,
                                                          disabled, why):
    sysctl = tmp_path / "io_uring_disabled"
    sysctl.write_text(disabled + "\n")
    monkeypatch.setattr(uring_echo, "DISABLED_SYSCTL", str(sysctl))
    refused(errno.EPERM)
    assert uring_echo.refusal().startswith(f"io_uring_setup failed with EPERM: {why}")


@pytest.mark.timeout(30)
def test_flags_the_kernel_refuses_fall_back_to_a_plain_ring(monkeypatch):
    asked = []

    def setup_without_defer_taskrun(number, entries, params):
        flags = params.contents.flags
        asked.append(flags)
        ctypes.set_errno(errno.EINVAL if flags else errno.ENOSYS)  # then: stop here
        return -1
    monkeypatch.setattr(uring_echo, "libc_syscall", setup_without_defer_taskrun)
    with pytest.raises(uring_echo.Refused, match="ENOSYS"):
        uring_echo.setup(8)
    assert asked == [uring_echo.SETUP_SINGLE_ISSUER | uring_echo.SETUP_DEFER_TASKRUN, 0]


@pytest.mark.timeout(30)
def test_an_unknown_machine_is_refused_not_guessed(refused, monkeypatch):
    refused(errno.ENOSYS)  # never reached: the machine is refused first
    monkeypatch.setattr(uring_echo.platform, "machine", lambda: "sparc64")
    assert uring_echo.refusal() == ("io_uring's system call numbers are known here for "
                                    "x86_64 and aarch64 only, not sparc64")


@pytest.mark.timeout(30)
def test_the_server_refused_io_uring_exits_1_with_one_line_and_no_startup_line():
    code = ("import ctypes, errno\n"
            "from bench import uring_echo\n"
            "def refuse(*args):\n"
            "    ctypes.set_errno(errno.ENOSYS)\n"
            "    return -1\n"
            "uring_echo.libc_syscall = refuse\n"
            "uring_echo.main(['--port', '0'])\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=20, env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    assert run.returncode == 1 and not run.stdout  # refused before it listens
    assert run.stderr == ("bench.uring_echo: io_uring_setup failed with ENOSYS: this kernel "
                          "has no io_uring (built without CONFIG_IO_URING, or older than 5.1)\n")


@pytest.mark.timeout(30)
def test_the_kernel_structures_have_the_kernel_sizes():
    sizes = {uring_echo.Params: 120, uring_echo.Sqe: 64, uring_echo.Cqe: 16,
             uring_echo.Buf: 16, uring_echo.BufReg: 40}
    assert {kind: ctypes.sizeof(kind) for kind in sizes} == sizes
    assert uring_echo.Sqe.user_data.offset == 32 and uring_echo.Sqe.buf_group.offset == 40
