"""evloop.server.access_log: one line per client connection, once, however it ends, over
TCP, a Unix socket or TLS; none for a metrics scrape or a connection that is not the
listener's; nothing installed when it is off.  A server on its loop, driven from here."""

import logging
import re
import socket
import ssl
import struct
import types

import pytest

from evloop import Config
from evloop import Handler
from evloop import Server
from evloop.handlers.echo import EchoHandler
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.metrics.counters import Counters
from evloop.server.access_log import AccessLog
from evloop.settings import logs
from tests.conftest import run_until

pytestmark = pytest.mark.timeout(60)
LINE = re.compile(r"peer=(\S+) duration=\d+\.\d{3}s in=(\d+)B/(\d+) out=(\d+)B/(\d+) "
                  r"reason=(\w+) worker=(\S+)")


class Connected:
    """As much of a connection as its start shows the access log."""

    def __init__(self, counters):
        self.counters = counters
        self.loop = types.SimpleNamespace(time=lambda: 1.0)


class Raises(Handler):
    def data_received(self, data):
        raise RuntimeError("a bug in the handler")


@pytest.fixture
def lines(caplog):
    """The access log's records so far, as a function."""
    caplog.set_level(logging.INFO, logger="evloop.access")
    return lambda: [record for record in caplog.records if record.name == "evloop.access"]


@pytest.fixture
def serve():
    """Start `Server(handler, Config(port=0, access_log=True, **settings))`; closed at the end."""
    servers = []

    def start(handler=EchoHandler, **settings):
        server = Server(handler, Config(**{"port": 0, "access_log": True, **settings}))
        servers.append(server)
        server.start()
        return server
    yield start
    for server in servers:
        server.close()


def talk(server, client, data, size):
    """Send `data`; turn the server's loop until `size` bytes came back."""
    client.sendall(data)
    got = b""

    def answered():
        nonlocal got
        try:
            got += client.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        return len(got) >= size
    run_until(server.loop, answered)
    return got


def at_eof(client):
    try:
        return client.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def connect(server):
    client = socket.create_connection(server.address, timeout=5)
    client.setblocking(False)  # the loop runs in this thread: the client must never wait
    return client


def closed_line(server, lines):
    """The one access line, once the loop has written it (and no second after more turns)."""
    run_until(server.loop, lambda: lines())
    for _ in range(5):
        server.loop.run_once(timeout=0.01)
    (record,) = lines()
    return record


def test_a_clients_eof_is_one_line_with_the_bytes_and_messages_each_way(serve, lines):
    server = serve()
    client = connect(server)
    assert talk(server, client, b"hello", 5) == b"hello"
    assert talk(server, client, b"world!", 6) == b"world!"
    peer = "127.0.0.1:%d" % client.getsockname()[1]
    client.close()
    record = closed_line(server, lines)
    assert record.levelno == logging.INFO
    assert LINE.fullmatch(record.getMessage()).groups() == (
        peer, "11", "2", "11", "2", "peer_eof", "-")
    assert (record.peer, record.bytes_in, record.messages_in, record.bytes_out,
            record.messages_out, record.reason, record.worker) == (
        peer, 11, 2, 11, 2, "peer_eof", None)
    assert 0 <= record.duration < 60


def reset(server, client):
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST


@pytest.mark.parametrize("handler, request_, settings, end, reason", [
    (EchoHandler, b"hi", {}, reset, "error"),
    (Raises, b"hi", {}, None, "handler_error"),
    (LenPrefixHandler, b"003abcHELLO", {}, None, "protocol_error"),
    (EchoHandler, b"hi", {"idle_timeout": 0.05}, None, "idle_timeout"),
    (EchoHandler, b"hi", {}, lambda server, client: server.shutdown(), "shutdown"),
])
def test_every_way_a_connection_ends_has_its_line(serve, lines, handler, request_, settings,
                                                   end, reason):
    server = serve(handler, **settings)
    client = connect(server)
    client.sendall(request_)
    run_until(server.loop, lambda: any(c.reads for c in server.connections) or lines())  # read
    if end is not None:
        end(server, client)
    if client.fileno() != -1:  # the server ends it; a client closes at its EOF, which
        run_until(server.loop, lambda: at_eof(client))  # the lingering server waits for
        client.close()
    record = closed_line(server, lines)
    assert (record.reason, record.bytes_in, record.messages_in) == (reason, len(request_), 1)


def test_a_unix_socket_client_has_its_line_and_its_bytes(serve, lines, tmp_path):
    server = serve(unix=str(tmp_path / "echo.sock"))
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(tmp_path / "echo.sock"))
    client.setblocking(False)
    assert talk(server, client, b"local", 5) == b"local"
    client.close()
    record = closed_line(server, lines)
    assert re.fullmatch(r"unix:pid=\d+,uid=\d+", record.peer)
    assert (record.bytes_in, record.bytes_out, record.reason) == (5, 5, "peer_eof")


def test_a_tls_client_s_bytes_are_the_plaintext(serve, lines, tls_files):
    server = serve(tls_cert=tls_files["server"], tls_key=tls_files["server"])
    context = ssl.create_default_context(cafile=tls_files["ca"])
    client = context.wrap_socket(connect(server), server_hostname="127.0.0.1",
                                 do_handshake_on_connect=False)

    def shaken():
        try:
            client.do_handshake()
            return True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
    run_until(server.loop, shaken)
    assert talk(server, client, b"secret", 6) == b"secret"
    client.close()
    record = closed_line(server, lines)
    assert (record.bytes_in, record.messages_in, record.bytes_out, record.messages_out) == (
        6, 1, 6, 1)


def test_a_workers_line_names_its_slot(serve, lines, monkeypatch):
    monkeypatch.setattr(logs, "_worker", 2)  # as tag_worker(2) says, in a forked worker
    server = serve()
    client = connect(server)
    talk(server, client, b"hi", 2)
    client.close()
    record = closed_line(server, lines)
    assert record.getMessage().endswith(" worker=2") and record.worker == 2


def test_a_metrics_scrape_is_not_logged(serve, lines):
    server = serve(metrics_port=0)
    scraper = socket.create_connection(server.metrics_address, timeout=5)
    scraper.setblocking(False)
    page = talk(server, scraper, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 100)
    assert page.startswith(b"HTTP/1.1 200")
    scraper.close()
    client = connect(server)
    talk(server, client, b"hi", 2)
    peer = "127.0.0.1:%d" % client.getsockname()[1]
    client.close()
    assert closed_line(server, lines).peer == peer


def test_only_connections_counted_as_the_listener_s_are_followed():
    listener = Counters()
    access_log = AccessLog(listener)
    outbound, client = Connected(Counters()), Connected(listener)
    for connection in (outbound, client):
        access_log.connection_started(connection)
    assert list(access_log.open) == [client]
    read, write = object(), object()
    assert access_log.wrap_io(outbound, read, write) == (read, write)  # untouched


def test_off_nothing_is_installed():
    with Server(EchoHandler, Config(port=0)) as server:
        assert server.access_log is None and not server.loop.instruments.hooks
