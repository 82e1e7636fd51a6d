"""scripts/cluster-demo on loopback: real HAProxy in front of two evloop servers,
one killed mid-load; then HAProxy, configured as the demo configures it, taking a
draining server out because its /readyz says 503.  Needs Debian's haproxy, which
.ci/run installs; without it the tests say so and skip."""

import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import types

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import wait_for
from tests.server.test_metrics_endpoint import jam

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="HAProxy is not installed (apt-get install haproxy; "
                                       ".ci/run does it as root)")


@pytest.mark.timeout(120)
def test_haproxy_takes_a_killed_backend_out_and_the_survivors_lose_nothing():
    run = subprocess.run([os.path.join(ROOT, "scripts", "cluster-demo"), "--loopback",
                          "--clients", "8", "--seconds", "4"], capture_output=True, text=True,
                         timeout=100, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "all 2 servers UP" in out and "killed evloop server 1" in out
    assert "haproxy marked it DOWN after" in out
    assert "all of them server 1's: yes" in out and "to server 1: 0" in out
    assert "wrong or lost: 0" in out and "result: as expected" in out


def cluster_demo():
    """scripts/cluster-demo as a module: its HAProxy config is the one tested."""
    path = os.path.join(ROOT, "scripts", "cluster-demo")
    loader = importlib.machinery.SourceFileLoader("cluster_demo", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("cluster_demo", loader))
    loader.exec_module(module)
    return module


def check_of(stats_socket, server="evloop1"):
    """(status, check_status, check_code) of a server, from HAProxy's `show stat`
    (empty while HAProxy does not answer yet)."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(stats_socket)
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return ("", "", "")
    lines = data.decode().splitlines()
    names = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(names, line.split(",")))
        if row.get("svname") == server:
            # "* L7OK" while a check is under way
            return row["status"], row["check_status"].lstrip("* "), row["check_code"]
    raise AssertionError(f"no {server} in HAProxy's stats: {data!r}")


@pytest.mark.timeout(60)
def test_haproxy_takes_out_a_draining_server_on_its_readyz_503(serve, tmp_path):
    demo = cluster_demo()
    server = serve("--handler", "lenprefix", "--proxy-protocol", "--metrics-port", "0",
                   "--drain-timeout", "30")
    metrics_url = re.search(r"metrics at (http://[^:]+:(\d+)/metrics)", server.line)
    metrics_port = int(metrics_url.group(2))
    topology = types.SimpleNamespace(front=("127.0.0.1", demo.free_port()),
                                     addresses=[server.address], metrics_ports=[metrics_port])
    stats_socket = str(tmp_path / "haproxy.sock")
    (tmp_path / "haproxy.cfg").write_text(demo.haproxy_config(topology, stats_socket))
    log = open(tmp_path / "haproxy.log", "w")
    haproxy = subprocess.Popen([shutil.which("haproxy"), "-f", str(tmp_path / "haproxy.cfg"),
                                "-db"], stdout=subprocess.DEVNULL, stderr=log)
    stuck = None
    try:
        # A check that passed proves that none sent a PROXY header to the metrics port.
        assert wait_for(lambda: check_of(stats_socket) == ("UP", "L7OK", "200"), timeout=15), (
            check_of(stats_socket), (tmp_path / "haproxy.log").read_text())
        with socket.create_connection(topology.front, timeout=10) as client:
            client.sendall(b"005hello")
            assert recv_exactly(client, 8) == b"005hello"
        stuck = server.connect()
        stuck.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 51000 12000\r\n")
        jam(stuck, metrics_url.group(1))  # it never reads: the drain lasts
        server.proc.send_signal(signal.SIGTERM)
        server.wait_stderr(r"stopping: draining 1 connection")
        assert wait_for(lambda: check_of(stats_socket)[0] == "DOWN", timeout=15)
        assert check_of(stats_socket) == ("DOWN", "L7STS", "503")  # the 503, not a refusal
    finally:
        haproxy.terminate()
        haproxy.wait(10)
        log.close()
        if stuck is not None:
            stuck.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
