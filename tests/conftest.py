"""Shared fixtures: selector classes, free ports, and servers run as subprocesses."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from evloop.loop.backends import available_backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTUP = re.compile(r"serving (\S+) on (\S+):(\d+) \((\S+)\), selector (\S+)")
SELECTORS = [name for name in available_backends() if name != "auto"]


@pytest.fixture(params=SELECTORS)
def selector(request):
    """Each test using this runs once per selector class the platform has."""
    return request.param


def cli_env():
    """The environment for evloop subprocesses: the repo and tests/ importable."""
    env = dict(os.environ)
    paths = [ROOT, os.path.join(ROOT, "tests"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    # Under scripts/test each subprocess records coverage; one run elsewhere
    # (cwd=tmp_path) must still write its data where scripts/test combines it.
    if "COVERAGE_PROCESS_START" in env and "COVERAGE_FILE" not in env:
        env["COVERAGE_FILE"] = os.path.join(ROOT, ".coverage")
    return env


class ServerProcess:
    """`python -m evloop.serve` on a free port, stopped when the test ends."""

    def __init__(self, *args, module="evloop.serve", port="0", preexec_fn=None):
        env = cli_env()
        self.args = [sys.executable, "-m", module, "--port", port, *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, cwd=ROOT, text=True,
                                     preexec_fn=preexec_fn)
        self.line = self.proc.stdout.readline()
        match = STARTUP.search(self.line)
        if not match:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"server did not start: {self.line!r} {err}")
        self.handler, self.host, port, self.protocols, self.selector = match.groups()
        self.port = int(port)
        self.address = ("127.0.0.1", self.port)
        self.stderr = None

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=10.0):
        sock = socket.create_connection(self.address, timeout=timeout)
        return sock

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the server, wait for it, return (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err
        return self.proc.returncode, err

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def cpu_seconds(self):
        """User + system CPU seconds of the server so far, from /proc."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def serve():
    """Start servers with `serve(*args)`; every one is stopped at teardown."""
    started = []

    def start(*args, **kwargs):
        server = ServerProcess(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.stop(signal.SIGKILL)
        else:
            server.proc.communicate()


def recv_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError(f"EOF with {size} bytes still expected")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def wait_for(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def running(argv):
    """A subprocess with pipes for all three streams, killed if the test leaves it running."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=cli_env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
