"""evloop.run(): a server from Python code, stopped by SIGINT or SIGTERM."""

import signal
import socket
import sys

import pytest

from tests.conftest import STARTUP
from tests.conftest import recv_exactly
from tests.conftest import running
from evloop import Config
from evloop.supervisor.run import format_startup
from evloop.supervisor.run import handler_label
from evloop.handlers.lenprefix import LenPrefixHandler

PROGRAM = """
import evloop

class Shout(evloop.Handler):
    def data_received(self, data):
        return data.upper()

evloop.run(Shout, evloop.Config(port=0{extra}))
"""


def port_of(proc):
    line = proc.stdout.readline()
    match = STARTUP.search(line)
    assert match, f"no startup line: {line!r}"
    return int(match.group(3)), line


def shouts(port, text):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(text)
        return recv_exactly(sock, len(text)) == text.upper()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_until_a_signal_then_returns(sig):
    with running([sys.executable, "-c", PROGRAM.format(extra="")]) as proc:
        port, line = port_of(proc)
        assert line.startswith("evloop: serving Shout on 127.0.0.1:")
        assert shouts(port, b"from python")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in err


def test_run_with_workers():
    with running([sys.executable, "-c", PROGRAM.format(extra=", workers=2")]) as proc:
        port, line = port_of(proc)
        assert "2 workers" in line
        assert shouts(port, b"forked")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_the_one_startup_line():
    config = Config(udp=True)
    assert format_startup("lenprefix", ("127.0.0.1", 5), config, "epoll") == \
        "evloop: serving lenprefix on 127.0.0.1:5 (tcp+udp), selector epoll"
    assert format_startup("x", ("::1", 5), Config(), "poll", "2 workers (SO_REUSEPORT)") == \
        "evloop: serving x on [::1]:5 (tcp), selector poll, 2 workers (SO_REUSEPORT)"
    assert handler_label(LenPrefixHandler) == "lenprefix"
