"""The concurrent port scanner.  Only loopback is ever scanned: listeners on a few
ports, and the scanner must report exactly those.  The refusal of other
targets is tested on the argument check alone, which resolves and sends nothing."""

import socket
import subprocess
import sys

import pytest

from evloop.cli.scan import ScanError
from evloop.cli.scan import Scanner
from evloop.cli.scan import check_target
from evloop.cli.scan import parse_ports
from evloop.cli.scan import scan_sequential
from tests.conftest import ROOT
from tests.conftest import cli_env


# Not 127.0.0.1: the suites run side by side, and a server of another test listening
# on 127.0.0.1 inside the scanned range would be found too.  Only what listens on
# this address (or on every address) answers here.
HOST = "127.0.0.77"


@pytest.fixture
def listeners():
    socks = []
    for _ in range(3):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen()
        socks.append(sock)
    yield sorted(sock.getsockname()[1] for sock in socks)
    for sock in socks:
        sock.close()


def test_parse_ports():
    assert parse_ports("1-3,8080, 2") == [1, 2, 3, 8080]
    assert parse_ports("65535") == [65535]
    for bad in ("", "a-b", "0-10", "10-5", "1-70000", "80,,81", "-5"):
        with pytest.raises(ScanError):
            parse_ports(bad)


def test_loopback_targets_are_allowed():
    assert check_target("127.0.0.1") == "127.0.0.1"
    assert check_target("127.9.9.9") == "127.9.9.9"
    assert check_target("::1") == "::1"
    assert check_target("localhost") == "127.0.0.1"


@pytest.mark.parametrize("host", ["10.0.0.1", "8.8.8.8", "example.com", "::ffff:8.8.8.8", "0.0.0.0"])
def test_other_targets_are_refused_without_allow_remote(host):
    with pytest.raises(ScanError, match="--allow-remote"):
        check_target(host)


def test_concurrent_scan_finds_exactly_the_listeners(listeners):
    low, high = listeners[0] - 20, listeners[-1] + 20
    ports = parse_ports(f"{low}-{high}") if high - low < 3000 else \
        sorted(set(listeners) | set(range(low, low + 40)) | set(range(high - 40, high)))
    results = Scanner(HOST, ports, concurrency=64, timeout=2).run()
    assert sorted(p for p, state in results.items() if state == "open") == listeners
    assert set(results) == set(ports)
    assert scan_sequential(HOST, listeners, timeout=2) == {p: "open" for p in listeners}


def test_silent_ports_time_out_as_filtered():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog: further SYNs are dropped, as by a firewall
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    port = listener.getsockname()[1]
    try:
        assert Scanner("127.0.0.1", [port], timeout=0.3).run() == {port: "filtered"}
    finally:
        for sock in fillers + [listener]:
            sock.close()


def test_cli_prints_open_ports_and_compares(listeners):
    ports = ",".join(map(str, listeners))
    run = subprocess.run([sys.executable, "-m", "evloop.scan", HOST, ports, "--compare"],
                         capture_output=True, text=True, timeout=60, env=cli_env(), cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert [line.split("/")[0] for line in run.stdout.splitlines() if "/tcp open" in line] == \
        [str(p) for p in listeners]
    assert "3 open of 3 ports" in run.stdout and "same open ports" in run.stdout


@pytest.mark.parametrize("args,message", [
    (["127.0.0.1", "1-x"], "bad port or range"),
    (["127.0.0.1", "80", "--concurrency", "0"], "--concurrency must be between"),
    (["127.0.0.1", "80", "--timeout", "0"], "--timeout must be above 0"),
])
def test_cli_errors_are_one_line(args, message):
    run = subprocess.run([sys.executable, "-m", "evloop.scan", *args], capture_output=True,
                         text=True, timeout=60, env=cli_env(), cwd=ROOT)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
