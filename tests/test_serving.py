"""evloop.run(): a server from Python code, stopped by SIGINT or SIGTERM."""

import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from conftest import STARTUP
from conftest import cli_env
from conftest import recv_exactly
from evloop import Config
from evloop.serving import format_startup
from evloop.serving import handler_label
from evloop.handlers.lenprefix import LenPrefixHandler

PROGRAM = """
import evloop

class Shout(evloop.Handler):
    def data_received(self, data):
        return data.upper()

evloop.run(Shout, evloop.Config(port=0{extra}))
"""


def start(extra=""):
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM.format(extra=extra)], cwd=ROOT,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = STARTUP.search(line)
    if not match:
        proc.kill()
        raise AssertionError(f"no startup line: {line!r} {proc.communicate()[1]}")
    return proc, int(match.group(3)), line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_until_a_signal_then_returns(sig):
    import socket
    proc, port, line = start()
    try:
        assert line.startswith("evloop: serving Shout on 127.0.0.1:")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"from python")
            assert recv_exactly(sock, 11) == b"FROM PYTHON"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in err


def test_run_with_workers():
    import socket
    proc, port, line = start(", workers=2")
    try:
        assert "2 workers" in line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"forked")
            assert recv_exactly(sock, 6) == b"FORKED"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err


def test_the_one_startup_line():
    config = Config(udp=True)
    assert format_startup("lenprefix", ("127.0.0.1", 5), config, "epoll") == \
        "evloop: serving lenprefix on 127.0.0.1:5 (tcp+udp), selector epoll"
    assert format_startup("x", ("::1", 5), Config(), "poll", "2 workers (SO_REUSEPORT)") == \
        "evloop: serving x on [::1]:5 (tcp), selector poll, 2 workers (SO_REUSEPORT)"
    assert handler_label(LenPrefixHandler) == "lenprefix"
