"""evloop.supervisor.run: a server from Python code or the command line, alone or
with workers, stopped by SIGINT or SIGTERM; its startup line."""

import re
import signal
import socket
import subprocess
import sys

import pytest

from evloop import Config
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.supervisor.run import format_startup
from evloop.supervisor.run import handler_label
from tests.conftest import ROOT
from tests.conftest import STARTUP
from tests.conftest import cli_env
from tests.conftest import messages_until
from tests.conftest import notify_socket
from tests.conftest import recv_exactly
from tests.conftest import running

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
        assert line.rstrip().endswith(", 2 workers (shared listener)"), line
        assert shouts(port, b"forked")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "all workers stopped" in err, err


EMBEDDER = """
import logging, sys
import evloop

class Embedded(logging.Formatter):  # the program's own shape, set up before evloop runs
    def format(self, record):
        return f"EMBED|{getattr(record, 'worker', '-')}|{record.name}|{record.getMessage()}"

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(Embedded())
logging.basicConfig(level=logging.INFO, handlers=[handler])

class Shout(evloop.Handler):
    def data_received(self, data):
        return data.upper()

evloop.run(Shout, evloop.Config(port=0, workers=2, access_log=True))
"""


def test_an_embedders_formatter_is_kept_and_sees_the_worker():
    with running([sys.executable, "-c", EMBEDDER]) as proc:
        port, _ = port_of(proc)
        assert shouts(port, b"embedded")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert lines and all(line.startswith("EMBED|") for line in lines), err
    draining = {line.split("|")[1] for line in lines if "|stopping: draining" in line}
    assert draining == {"0", "1"}, err  # each worker's line, in the program's shape
    assert any(re.match(r"EMBED\|[01]\|evloop\.access\|peer=127\.0\.0\.1:\d+ ", line)
               for line in lines), err
    assert "EMBED|-|evloop|all workers stopped" in lines, err  # the supervisor is no worker


def test_the_one_startup_line():
    config = Config(udp=True)
    assert format_startup("lenprefix", ("127.0.0.1", 5), config, "epoll") == \
        "evloop: serving lenprefix on 127.0.0.1:5 (tcp+udp), selector epoll"
    assert format_startup("x", ("::1", 5), Config(), "poll", "2 workers (shared listener)") == \
        "evloop: serving x on [::1]:5 (tcp), selector poll, 2 workers (shared listener)"
    assert handler_label(LenPrefixHandler) == "lenprefix"


def test_a_single_server_ignores_sighup_with_a_log_line(supervised):
    server = supervised("--handler", "lenprefix")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"SIGHUP: reloading the handler.s code needs a supervisor \(--workers 2 or "
                    r"more\); ignored")
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


def test_a_single_server_tells_notify_socket_it_is_ready(supervised, tmp_path):
    notify, path = notify_socket(tmp_path)
    with notify:
        server = supervised("--handler", "lenprefix", env={"NOTIFY_SOCKET": path})
        assert any("STATUS=0 connections open" in m for m in messages_until(notify, "READY=1"))
        with socket.create_connection(server.address, timeout=10):
            assert "STATUS=1 connections open" in notify.recv(4096).decode()
        server.proc.send_signal(signal.SIGTERM)
        messages_until(notify, "STOPPING=1")
        assert server.proc.wait(30) == 0


def test_workers_on_a_taken_port_fail_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "evloop.serve", "--workers", "2", "--port",
                                 str(taken.getsockname()[1])], capture_output=True, text=True,
                                timeout=30, env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


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
