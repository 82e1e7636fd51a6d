"""--unix: the same handlers over a Unix stream socket, and the socket file's rules."""

import os
import re
import signal
import socket
import stat
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import running
from tests.conftest import wait_for

UNIX_STARTUP = re.compile(r"serving (\S+) on unix:(\S+) \(unix\), selector (\S+)")


def start(path, *args):
    proc = running([sys.executable, "-m", "evloop.serve", "--unix", str(path), *args])
    server = proc.__enter__()
    line = server.stdout.readline()
    assert UNIX_STARTUP.search(line), (line, server.stderr.read() if server.poll() is not None else "")
    return proc, server


def stop(proc, server):
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=20)
    proc.__exit__(None, None, None)
    return server.returncode, err


def unix_connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    return sock


def test_serves_echo_and_lenprefix_and_removes_its_file(tmp_path):
    path = tmp_path / "evloop.sock"
    proc, server = start(path, "--handler", "lenprefix", "--unix-mode", "600", "--trace")
    assert stat.S_ISSOCK(os.stat(path).st_mode) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with unix_connect(path) as sock:
        sock.sendall(b"016Hello!! Server!!")
        assert recv_exactly(sock, 19) == b"016Hello!! Server!!"
    code, err = stop(proc, server)
    assert code == 0 and not path.exists()  # removed at a clean stop
    assert f"unix:pid={os.getpid()},uid={os.getuid()}" in err  # the client, by SO_PEERCRED


def test_the_client_speaks_unix_too(tmp_path):
    path = tmp_path / "e.sock"
    proc, server = start(path, "--handler", "uppercase")
    run = subprocess.run([sys.executable, "-m", "evloop.client", "--handler", "uppercase",
                          "--unix", str(path)], input="over a unix socket\n", capture_output=True,
                         text=True, timeout=30, cwd=ROOT, env=cli_env())
    assert (run.returncode, run.stdout) == (0, "OVER A UNIX SOCKET\n"), run.stderr
    assert stop(proc, server)[0] == 0


def test_a_stale_socket_file_is_replaced(tmp_path):
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening, then gone: what a crash leaves
    dead.close()
    assert path.exists()
    proc, server = start(path)
    with unix_connect(path) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
    assert stop(proc, server)[0] == 0


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", *args], capture_output=True,
                          text=True, timeout=30, cwd=ROOT, env=cli_env())


def test_a_live_server_s_socket_is_never_taken_over(tmp_path):
    path = tmp_path / "live.sock"
    proc, server = start(path)
    second = run_serve("--unix", str(path))
    assert second.returncode == 2 and len(second.stderr.splitlines()) == 1
    assert second.stderr == f"evloop.serve: error: cannot listen on unix:{path}: a live server is listening on it\n"
    with unix_connect(path) as sock:  # the first still serves
        sock.sendall(b"y")
        assert sock.recv(1) == b"y"
    assert stop(proc, server)[0] == 0


def test_anything_else_at_the_path_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    run = run_serve("--unix", str(path))
    assert run.returncode == 2
    assert "exists and is not a socket" in run.stderr and path.read_text() == "mine"


@pytest.mark.parametrize("args, message", [
    (["--unix", "/tmp/x.sock", "--udp"], "--udp is for IP sockets; --unix serves stream sockets only"),
    (["--unix-mode", "660"], "--unix-mode (660) needs --unix, a socket path"),
    (["--unix", "/tmp/x.sock", "--unix-mode", "999"], "not octal permissions: '999'"),
])
def test_bad_unix_options(args, message):
    run = run_serve(*args)
    assert run.returncode == 2 and message in run.stderr, run.stderr


def test_workers_share_a_unix_listener(tmp_path):
    path = tmp_path / "w.sock"
    proc = running([sys.executable, "-m", "evloop.serve", "--unix", str(path), "--workers", "2"])
    server = proc.__enter__()
    line = server.stdout.readline()
    assert "2 workers (shared listener)" in line and f"unix:{path}" in line
    with unix_connect(path) as sock:
        sock.sendall(b"z")
        assert sock.recv(1) == b"z"
    code, _ = stop(proc, server)
    assert code == 0 and wait_for(lambda: not path.exists(), timeout=5)
