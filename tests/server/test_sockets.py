"""evloop.server.sockets: the descriptor limit a server raises for its clients."""

import subprocess
import sys
import types

import pytest

from evloop.server import sockets
class FakeResource(types.SimpleNamespace):
    """resource's three names, with a hard limit only a privileged process may raise."""

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft, hard, privileged):
        super().__init__(limits=(soft, hard), privileged=privileged)

    def getrlimit(self, which):
        return self.limits

    def setrlimit(self, which, limits):
        if limits[1] > self.limits[1] and not self.privileged:
            raise ValueError("not allowed to raise maximum limit")
        self.limits = limits


@pytest.fixture
def fake(monkeypatch):
    def install(soft, hard, privileged=False):
        resource = FakeResource(soft, hard, privileged)
        monkeypatch.setitem(sys.modules, "resource", resource)
        return resource
    return install


def test_the_soft_limit_rises_to_the_hard_one(fake):
    resource = fake(1024, 4096)
    assert sockets.raise_fd_limit() == 4096 and resource.limits == (4096, 4096)


def test_past_the_hard_limit_where_the_process_may(fake):
    resource = fake(1024, 20000, privileged=True)
    assert sockets.raise_fd_limit(100064) == 100064 and resource.limits == (100064, 100064)


def test_otherwise_the_hard_limit_stands(fake):
    resource = fake(1024, 20000)
    assert sockets.raise_fd_limit(100064) == 20000 and resource.limits == (20000, 20000)


def test_a_wish_below_the_hard_limit_or_an_infinite_one_lowers_nothing(fake):
    resource = fake(1024, 20000, privileged=True)
    assert sockets.raise_fd_limit(5000) == 20000 and resource.limits == (20000, 20000)
    resource = fake(-1, -1, privileged=True)
    assert sockets.raise_fd_limit(100064) == -1 and resource.limits == (-1, -1)


@pytest.mark.timeout(30)
def test_a_server_warns_when_its_limit_is_below_max_connections(tmp_path):
    # A child whose hard limit is 200, asked for more descriptors than the kernel
    # gives anyone (fs.nr_open, 1,048,576 by default), root included: the server
    # says so in one line, and serves what it can.
    code = ("import resource, sys, threading, evloop\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))\n"
            "def stop(): import os, signal; os.kill(os.getpid(), signal.SIGTERM)\n"
            "threading.Timer(1.0, stop).start()\n"
            "sys.exit(evloop.run('echo', evloop.Config(port=0, max_connections=2 ** 22)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, done.stderr
    assert "file descriptor limit 200, below --max-connections 4194304" in warnings[0]
