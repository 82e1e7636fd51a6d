"""The UDP and churn loads of the benchmark: every UDP model answers the labs' UDP client;
the C load generator's --udp mode measures, checks every reply and counts lost datagrams,
and its --churn mode opens a connection per message."""

import json
import os
import re
import socket
import subprocess
import threading
import urllib.request

import pytest

from bench import runner
from bench.models import BUILD
from bench.models import MODELS
from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(60)
HAVE_CC = any(os.access(os.path.join(d, cc), os.X_OK) for cc in ("cc", "gcc", "clang")
              for d in os.environ.get("PATH", "").split(os.pathsep))


@pytest.fixture(scope="module")
def c_built():
    if not HAVE_CC:
        pytest.skip("no C compiler: the UDP load and the C UDP server cannot be built")
    subprocess.run([os.path.join(ROOT, "scripts", "build-c")], check=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    return BUILD


def datagram_exchange(port, message):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(message, ("127.0.0.1", port))
        return sock.recv(65535)


@pytest.mark.parametrize("model", [m for m in MODELS if m.udp], ids=lambda m: m.name)
def test_every_udp_model_answers_the_labs_udp_client(model, c_built):
    why = model.unavailable()
    if why:  # uvloop comes with the bench extra, not the test extra
        pytest.skip(f"{model.name}: {why}")
    handler = "lenprefix" if "lenprefix" in model.handlers else "echo"
    message = b"016Hello!! Server!!" if handler == "lenprefix" else b"Hello!! Server!!"
    server = runner.Server(model, handler)
    try:
        assert datagram_exchange(server.port, message) == message
        assert server.alive()
    finally:
        server.stop()


def run_udp_loadgen(port, *extra):
    proc = subprocess.run([os.path.join(BUILD, "loadgen"), "--udp", "1", "--port", str(port),
                           "--connections", "8", "--duration", "0.5", "--warmup", "0", *extra],
                          capture_output=True, text=True, timeout=60, env=cli_env(), cwd=ROOT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_udp_load_measures_a_correct_server(serve, c_built):
    server = serve("--udp")
    result = run_udp_loadgen(server.port)
    assert result["messages"] > 0 and result["errors"] == 0 and result["lost_datagrams"] == 0
    assert result["active_connections"] == 8


def lossy_echo(sock, stop):
    """A UDP echo that ignores each client's first datagram and corrupts its third."""
    seen = {}
    while not stop.is_set():
        try:
            data, address = sock.recvfrom(65535)
        except socket.timeout:
            continue
        seen[address] = seen.get(address, 0) + 1
        if seen[address] == 1:
            continue  # lost: the load generator must resend it
        sock.sendto(data[::-1] if seen[address] == 3 else data, address)


def test_the_udp_load_counts_lost_datagrams_and_wrong_replies(c_built):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()
    thread = threading.Thread(target=lossy_echo, args=(sock, stop), daemon=True)
    thread.start()
    try:
        result = run_udp_loadgen(sock.getsockname()[1], "--connections", "4")
    finally:
        stop.set()
        thread.join(5)
        sock.close()
    assert result["errors"] == 4  # each client's corrupted third reply
    # Each client's first datagram, and its third, whose right reply never came: both
    # resent after 0.2 s.
    assert result["lost_datagrams"] == 8
    assert result["messages"] > 0


def test_the_churn_load_opens_a_connection_per_message(serve, c_built):
    server = serve("--handler", "echo", "--metrics-port", "0")
    metrics = re.search(r"metrics at (http://\S+/metrics)", server.line).group(1)
    proc = subprocess.run([os.path.join(BUILD, "loadgen"), "--churn", "1", "--port",
                           str(server.port), "--connections", "4", "--duration", "0.5",
                           "--warmup", "0"], capture_output=True, text=True, timeout=60,
                          env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["messages"] > 4 and result["errors"] == 0 and result["lost_connections"] == 0
    with urllib.request.urlopen(metrics, timeout=10) as response:
        page = response.read().decode()
    accepted = int(re.search(r"^evloop_connections_accepted_total (\d+)", page, re.M).group(1))
    peer_closed = int(re.search(r'^evloop_connections_closed_total{direction="in",reason="peer_eof"} (\d+)',
                                page, re.M).group(1))
    assert accepted >= result["messages"] and peer_closed >= result["messages"]  # one each
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
