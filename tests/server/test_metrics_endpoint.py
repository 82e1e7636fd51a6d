"""evloop.server.metrics_endpoint: the --metrics-port listener on the server's loop.  On a
bare loop: scrapes served, at most MAX_SCRAPES at once, counted in no figure of the
server, dropped at close; /readyz following a server as it retires and drains; then end
to end from the command line."""

import logging
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from evloop import Config
from evloop import Server
from evloop.handlers.echo import EchoHandler
from evloop.loop.base import BaseLoop
from evloop.metrics.prometheus import CONTENT_TYPE
from evloop.server import metrics_endpoint
from evloop.server.metrics_endpoint import MetricsEndpoint
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_until_eof
from tests.conftest import run_until
from tests.conftest import wait_for
from tests.metrics.test_prometheus import families
from tests.metrics.test_prometheus import sample

pytestmark = pytest.mark.timeout(60)
METRICS_URL = re.compile(r"metrics at (http://\S+/metrics)")
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.fixture
def endpoint(selector):
    loop = BaseLoop(selector)
    endpoint = MetricsEndpoint(loop, "127.0.0.1", 0, lambda: "up 1\n")
    endpoint.start()
    yield loop, endpoint
    endpoint.close()
    loop.close()


def scrape(loop, endpoint, client=None, request=REQUEST):
    """One scrape, the loop turned until it is answered; the answer."""
    client = client or socket.create_connection(endpoint.address, timeout=5)
    with client:
        client.sendall(request)
        client.setblocking(False)
        answer = b""
        for _ in range(500):
            loop.run_once(timeout=0.01)
            try:
                chunk = client.recv(4096)
            except BlockingIOError:
                continue
            if not chunk:
                return answer
            answer += chunk
    raise AssertionError(f"no whole answer: {answer!r}")


def test_a_scrape_is_answered_with_the_rendered_page(endpoint):
    loop, endpoint = endpoint
    assert endpoint.address[0] == "127.0.0.1" and endpoint.address[1] > 0
    answer = scrape(loop, endpoint)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\nup 1\n")
    for _ in range(5):
        loop.run_once()
    assert endpoint.scrapes == set()  # done: no longer held


def test_at_most_max_scrapes_at_once(endpoint, monkeypatch, caplog):
    loop, endpoint = endpoint
    monkeypatch.setattr(metrics_endpoint, "MAX_SCRAPES", 2)
    held = [socket.create_connection(endpoint.address, timeout=5) for _ in range(2)]
    for _ in range(50):
        if len(endpoint.scrapes) == 2:
            break
        loop.run_once(timeout=0.01)
    with caplog.at_level(logging.WARNING, logger="evloop"):
        extra = socket.create_connection(endpoint.address, timeout=5)
        for _ in range(50):
            if "2 scrapes in progress; closing" in caplog.text:
                break
            loop.run_once(timeout=0.01)
    assert "metrics: 2 scrapes in progress; closing 127.0.0.1:" in caplog.text
    assert recv_until_eof(extra) == b"" and len(endpoint.scrapes) == 2
    extra.close()
    assert scrape(loop, endpoint, held[0]).startswith(b"HTTP/1.1 200 OK")  # the held ones served
    held[1].close()


def test_close_drops_the_listener_and_the_scrapes_in_progress(endpoint):
    loop, endpoint = endpoint
    client = socket.create_connection(endpoint.address, timeout=5)
    for _ in range(50):
        if endpoint.scrapes:
            break
        loop.run_once(timeout=0.01)
    address = endpoint.address
    endpoint.close()
    assert endpoint.scrapes == set() and endpoint.listener is None
    with pytest.raises(ConnectionResetError):  # reset: no clean end for a torn answer
        client.recv(10)
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)


def test_it_takes_a_listener_bound_already(selector):
    loop = BaseLoop(selector)
    bound = socket.create_server(("127.0.0.1", 0))
    bound.setblocking(False)
    endpoint = MetricsEndpoint(loop, "ignored", 1, lambda: "given 1\n")
    try:
        endpoint.start(bound)  # what a --workers supervisor hands each worker
        assert endpoint.address == bound.getsockname()
        assert scrape(loop, endpoint).endswith(b"given 1\n")
    finally:
        endpoint.close()
        loop.close()


def test_a_scrape_counts_in_no_figure_of_the_server():
    server = Server(EchoHandler, Config(port=0, metrics_port=0))
    try:
        server.start()
        answer = scrape(server.loop, server.metrics)
        assert answer.startswith(b"HTTP/1.1 200 OK")
        stats = server.stats()
        assert stats.connections_accepted == 0 and sum(stats.connections_closed.values()) == 0
        assert stats.stream.messages_received == 0 and stats.connections_open == 0
    finally:
        server.close()


def readyz(server):
    """What the server's /readyz answers now: (status line, body)."""
    answer = scrape(server.loop, server.metrics, request=b"GET /readyz HTTP/1.0\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    return head.split(b"\r\n", 1)[0].decode(), body.decode()


def test_readyz_follows_a_server_that_retires_then_drains():
    server = Server(EchoHandler, Config(port=0, metrics_port=0, drain_timeout=30))
    try:
        server.start()
        assert readyz(server) == ("HTTP/1.1 200 OK", "ready\n")
        held = socket.create_connection(server.address[:2], timeout=5)
        run_until(server.loop, lambda: server.connections)
        server.retire(30)  # a reload's old worker: it holds one client still
        assert readyz(server) == ("HTTP/1.1 503 Service Unavailable", "retiring\n")
        server.shutdown()  # the metrics endpoint stays open through the drain
        assert server.connections and readyz(server) == ("HTTP/1.1 503 Service Unavailable",
                                                         "draining\n")
        held.close()
    finally:
        server.close()
    assert server.metrics is None


# -- end to end: --metrics-port from the command line -------------------------------------

def serve_with_metrics(serve, *more):
    server = serve("--udp", "--metrics-port", "0", *more)
    url = METRICS_URL.search(server.line)
    assert url, server.line
    return server, url.group(1)


def test_metrics_port_from_the_command_line(serve):
    server, url = serve_with_metrics(serve, "--handler", "uppercase")
    assert url.startswith("http://127.0.0.1:")
    with server.connect() as sock:
        sock.sendall(b"hi\n")
        assert sock.recv(10) == b"HI\n"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"] == CONTENT_TYPE
            found = families(response.read().decode())
    assert sample(found, "evloop_connections_open") == 1
    assert sample(found, "evloop_info", handler="UppercaseHandler", transport="tcp") == 1
    assert sample(found, "evloop_loop_turn_seconds_count") >= 1
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url.replace("/metrics", "/nothing"), timeout=10)
    assert caught.value.code == 404
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        assert recv_until_eof(sock).startswith(b"HTTP/1.1 400 Bad Request")
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert "protocol error: not an HTTP/1.x request line" in err


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", *args], capture_output=True,
                          text=True, timeout=30, env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, message", [
    (["--metrics-port", "70000"], "--metrics-port"),
    (["--port", "12345", "--metrics-port", "12345"], "--metrics-port (12345) must differ from --port"),
    (["--metrics-port", "9100", "--metrics-host", ""], "--metrics-host must not be empty"),
])
def test_bad_metrics_flags_are_one_line_errors(args, message):
    done = run_serve(*args)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_taken_metrics_port_is_named_in_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_serve("--port", "0", "--metrics-port", str(port))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_with_workers_one_port_serves_every_worker_s_figures(serve):
    server = serve("--workers", "2", "--metrics-port", "0")
    url = METRICS_URL.search(server.line)
    assert url, server.line  # one port, the supervisor's
    with urllib.request.urlopen(url.group(1), timeout=10) as response:
        found = families(response.read().decode())
    for worker in "01":  # (more in tests/supervisor/test_supervisor.py)
        assert sample(found, "evloop_connections_open", worker=worker, direction="in") == 0
    code, err = server.stop(signal.SIGTERM)
    assert code == 0


def get(url):
    """(status, body, Content-Type) of a GET, an HTTP error status included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(), error.headers["Content-Type"]


def jam(sock, metrics_url):
    """Send to `sock` and never read, until its server stops reading it (a backpressure
    pause on its metrics page): its replies cannot drain now, so neither can a drain."""
    sock.setblocking(False)
    frames = memoryview(b"005hello" * 8192)  # whole lenprefix frames, for any handler
    unsent = frames

    def paused():
        nonlocal unsent
        try:
            while True:  # a short send leaves the rest for the next one: no torn frame
                unsent = unsent[sock.send(unsent):] or frames
        except BlockingIOError:
            pass
        page = families(get(metrics_url)[1])
        return sample(page, "evloop_backpressure_pauses_total") >= 1
    assert wait_for(paused, timeout=20, interval=0.1)


def test_readyz_turns_503_while_the_server_drains_and_healthz_stays_200(serve):
    server, url = serve_with_metrics(serve, "--handler", "echo", "--drain-timeout", "30")
    base = url.removesuffix("/metrics")
    assert get(base + "/healthz") == (200, "ok\n", "text/plain; charset=utf-8")
    assert get(base + "/readyz") == (200, "ready\n", "text/plain; charset=utf-8")
    stuck = server.connect()
    jam(stuck, url)
    server.proc.send_signal(signal.SIGTERM)
    server.wait_stderr(r"stopping: draining 1 connection")
    assert get(base + "/readyz") == (503, "draining\n", "text/plain; charset=utf-8")
    assert get(base + "/healthz")[:2] == (200, "ok\n")  # the loop turns: it is draining
    assert sample(families(get(url)[1]), "evloop_connections_open", direction="in") == 1
    stuck.close()  # unread input: a reset, and the drain is over
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err and "--drain-timeout 30s passed" not in err
