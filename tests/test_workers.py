"""`--workers N`: pre-forked servers sharing one port, stopped as one."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from conftest import cli_env
from conftest import recv_exactly
from conftest import wait_for
from evloop import workers


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def ask_pid(server):
    with server.connect() as sock:
        sock.sendall(b"?")
        return int(sock.makefile().readline())


def test_workers_share_the_port_and_all_serve(serve):
    server = serve("--workers", "2", "--handler", "userhandlers.whoami:WhoAmI")
    assert "2 workers" in server.line and server.selector.startswith("epoll")
    pids = set(children(server.pid))
    assert len(pids) == 2
    answered = {ask_pid(server) for _ in range(40)}
    assert answered == pids  # the kernel spread 40 clients over both workers
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err and "all workers stopped" in err
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_drains_every_worker(serve, sig):
    server = serve("--workers", "2", "--handler", "lenprefix")
    clients = [server.connect() for _ in range(6)]
    for sock in clients:
        sock.sendall(b"005hello")
        assert recv_exactly(sock, 8) == b"005hello"
    server.proc.send_signal(sig)
    for sock in clients:
        assert sock.recv(10) == b""  # orderly FIN after the drain
        sock.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert err.count("stopping: draining") == 2


def test_a_dead_worker_stops_the_server_with_its_code(serve):
    server = serve("--workers", "2")
    victim, survivor = children(server.pid)
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: server.proc.poll() is not None, timeout=20)
    code, err = server.stop()
    assert code == 128 + signal.SIGKILL
    assert "exited with code 137 while serving" in err
    assert not os.path.exists(f"/proc/{survivor}") or open(f"/proc/{survivor}/stat").read().split()[2] == "Z"


def test_workers_serve_udp_too(serve):
    server = serve("--workers", "2", "--udp", "--handler", "uppercase")
    assert "(tcp+udp)" in server.line
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hi there", server.address)
        assert sock.recvfrom(100)[0] == b"HI THERE"
    assert server.stop()[0] == 0


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", *args], capture_output=True,
                          text=True, timeout=30, env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)


def test_workers_on_a_taken_port_fail_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_serve("--workers", "2", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("count", ["0", "-1", "999"])
def test_bad_worker_counts_are_refused(count):
    result = run_serve("--workers", count, "--port", "0")
    assert result.returncode == 2 and f"--workers ({count}) must be between 1 and 256" in result.stderr


def test_exit_codes_of_workers():
    assert workers.exit_code(0) == 0
    assert workers.exit_code(3 << 8) == 3
    assert workers.exit_code(signal.SIGKILL) == 128 + signal.SIGKILL
