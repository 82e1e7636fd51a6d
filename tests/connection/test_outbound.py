"""evloop.connection.outbound: connections opened from the loop (Loop.connect, context.connect),
with real sockets on loopback: connected, refused, TLS, queued pushes, names looked up in a
pool.  How the connect itself goes (timeouts, every address, errors): test_dialing.py."""

import logging
import os
import socket
import ssl

import pytest

import evloop
from evloop import Config
from evloop import Handler
from evloop.connection.outbound import check_handler_instance
from evloop.connection.states import CLOSED
from evloop.connection.states import CONNECTING
from evloop.connection.states import OPEN
from evloop.handlers.echo import EchoHandler
from tests.conftest import run_until

pytestmark = pytest.mark.timeout(30)
NOT_YET = object()  # no connection_lost yet


class Recorder(Handler):
    """Records every call; answers nothing."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.data = bytearray()

    def connection_made(self, context):
        super().connection_made(context)
        self.calls.append("made")

    def data_received(self, data):
        self.data += data
        return None

    def eof_received(self):
        self.calls.append("eof")

    def pause_writing(self):
        self.calls.append("pause")

    def resume_writing(self):
        self.calls.append("resume")

    def connection_lost(self, exc):
        self.calls.append(("lost", exc))

    @property
    def lost(self):
        return next((call[1] for call in self.calls if isinstance(call, tuple)), NOT_YET)


@pytest.fixture
def loop(selector):
    loop = evloop.Loop(selector)
    yield loop
    loop.close()


@pytest.fixture
def echo(loop):
    server = evloop.Server(EchoHandler, Config(port=0), loop=loop)
    server.start()
    yield server
    server.close()


def test_connect_opens_without_blocking_and_queues_what_is_pushed_before(loop, echo):
    handler = Recorder()
    context = loop.connect(echo.address, handler)
    assert handler.calls == []  # nothing yet: the loop has not turned
    assert context.peer == f"127.0.0.1:{echo.address[1]}"
    context.push(b"queued before the connection is up")
    run_until(loop, lambda: len(handler.data) == 34)
    assert handler.calls == ["made"] and handler.data == b"queued before the connection is up"
    context.close()
    run_until(loop, lambda: handler.lost is not NOT_YET)
    assert handler.calls == ["made", ("lost", None)]


def test_a_refused_connect_is_connection_lost_and_never_made(loop):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Recorder()
    context = loop.connect(("127.0.0.1", port), handler)
    context.push(b"never sent")
    run_until(loop, lambda: handler.calls)
    assert handler.calls == [("lost", handler.lost)]
    assert isinstance(handler.lost, ConnectionRefusedError)
    assert f"connect to 127.0.0.1:{port}" in str(handler.lost)
    assert context.is_closing()


def test_a_unix_socket_path(loop, tmp_path):
    path = str(tmp_path / "echo.sock")
    server = evloop.Server(EchoHandler, Config(unix=path), loop=loop)
    server.start()
    try:
        handler = Recorder()
        context = loop.connect(path, handler)
        context.push(b"over a unix socket")
        run_until(loop, lambda: bytes(handler.data) == b"over a unix socket")
        assert context.peer == f"unix:{path}"
    finally:
        server.close()


def test_a_name_is_resolved_away_from_the_loop_and_a_number_is_not(loop, echo, monkeypatch):
    looked_up = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    numeric = Recorder()
    loop.connect(echo.address, numeric)
    run_until(loop, lambda: numeric.calls)
    assert numeric.calls == ["made"] and looked_up == []
    named = Recorder()
    context = loop.connect(("localhost", echo.address[1]), named)
    assert named.calls == [] and context.peer == f"localhost:{echo.address[1]}"
    run_until(loop, lambda: named.calls)
    assert looked_up == ["localhost"]
    # "localhost" may be ::1 first, where nothing listens: every address is tried.
    assert named.calls == ["made"]


def test_bad_arguments_are_refused_before_anything_is_sent(loop):
    for address in [("127.0.0.1",), ("127.0.0.1", 0), ("", 80), ("127.0.0.1", "80"), 42, ""]:
        with pytest.raises(ValueError):
            loop.connect(address, Recorder())
    with pytest.raises(TypeError, match=r"Recorder\(\) instead of Recorder"):
        loop.connect(("127.0.0.1", 9), Recorder)
    with pytest.raises(TypeError):
        check_handler_instance(object())
    with pytest.raises(ValueError, match="timeout"):
        loop.connect(("127.0.0.1", 9), Recorder(), timeout=0)


def test_aborting_while_connecting_cancels_the_connect(loop):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fill = []
    try:
        for _ in range(3):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(listener.getsockname())
            fill.append(sock)
        handler = Recorder()
        context = loop.connect(listener.getsockname(), handler, timeout=5)
        loop.run_once(0)  # the connect begins in the loop's next step
        before = loop.statistics()
        assert before.writers == 1  # the dialer waits for writable
        context.abort()
        after = loop.statistics()
        assert after.writers == 0 and after.timers == 0  # no watch, no deadline left
        run_until(loop, lambda: handler.calls)
        assert handler.calls == [("lost", None)]
    finally:
        for sock in fill:
            sock.close()
        listener.close()


def test_close_and_write_eof_asked_before_open_wait_for_it(loop, echo):
    handler = Recorder()
    context = loop.connect(echo.address, handler)
    context.push(b"first")
    context.write_eof()  # the echo server answers, then sees our EOF
    run_until(loop, lambda: "eof" in handler.calls)
    assert bytes(handler.data) == b"first"
    closer = Recorder()
    context = loop.connect(echo.address, closer)
    context.push(b"bye")
    context.close()
    assert context.is_closing()
    run_until(loop, lambda: closer.lost is not NOT_YET)
    assert closer.calls[0] == "made" and closer.lost is None


def test_pushes_before_open_are_bounded_by_the_limits(loop, caplog):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fill = []
    try:
        for _ in range(3):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(listener.getsockname())
            fill.append(sock)
        handler = Recorder()
        limits = Config(high_water=4096, low_water=1024, max_output=16384)
        context = loop.connect(listener.getsockname(), handler, timeout=5, config=limits)
        context.push(b"x" * 5000)
        assert handler.calls == ["pause"]  # told, as any writer over high water
        with caplog.at_level(logging.WARNING, logger="evloop"):
            context.push(b"x" * 20000)
        assert "over --max-output 16384" in caplog.text
        run_until(loop, lambda: len(handler.calls) == 2)
        assert handler.calls == ["pause", ("lost", None)]
    finally:
        for sock in fill:
            sock.close()
        listener.close()


def test_tls_to_a_tls_server_and_a_failed_handshake(loop, tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    pem = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = evloop.Server(EchoHandler, Config(port=0, tls_cert=str(pem), tls_key=str(pem)),
                           loop=loop)
    server.start()
    plain = evloop.Server(EchoHandler, Config(port=0), loop=loop)
    plain.start()
    try:
        good = Recorder()
        context = loop.connect(server.address, good, tls=str(ca_file))
        context.push(b"encrypted")
        run_until(loop, lambda: bytes(good.data) == b"encrypted")
        assert good.calls == ["made"]
        untrusted = Recorder()  # the system's CAs do not know this one
        loop.connect(server.address, untrusted, tls=True)
        run_until(loop, lambda: untrusted.calls)
        assert untrusted.calls == [("lost", untrusted.lost)]
        assert isinstance(untrusted.lost, ssl.SSLCertVerificationError)
        not_tls = Recorder()  # a plain server echoes the ClientHello back
        loop.connect(plain.address, not_tls, tls=str(ca_file))
        run_until(loop, lambda: not_tls.calls)
        assert not_tls.calls == [("lost", not_tls.lost)]
        assert isinstance(not_tls.lost, ssl.SSLError)
        with pytest.raises(ValueError, match="does not load"):
            loop.connect(server.address, Recorder(), tls=str(tmp_path / "missing.pem"))
    finally:
        server.close()
        plain.close()


def test_a_handler_that_raises_in_an_outbound_connection_costs_only_it(loop, echo):
    class Broken(Recorder):
        def data_received(self, data):
            raise KeyError("broken")

    seen = []
    loop.set_exception_handler(lambda lp, context: seen.append(context))
    broken, fine = Broken(), Recorder()
    loop.connect(echo.address, broken).push(b"x")
    other = loop.connect(echo.address, fine)
    other.push(b"y")
    run_until(loop, lambda: broken.lost is not NOT_YET and fine.data)
    assert "Broken raised in data_received" in seen[0]["message"]
    assert fine.data == b"y" and not other.is_closing()


def test_the_connection_states_of_an_outbound_connection(loop, echo):
    handler = Recorder()
    context = loop.connect(echo.address, handler)
    connection = context.connection
    assert connection.state is CONNECTING and connection.fd == -1
    run_until(loop, lambda: connection.state is OPEN)
    assert connection.fd >= 0 and os.get_blocking(connection.fd) is False
    context.abort()
    assert connection.state is CLOSED


# -- several addresses ------------------------------------------------------------------

def free_port():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_list_of_addresses_fails_over_to_the_first_that_answers(loop, echo):
    handler = Recorder()
    down = ("127.0.0.1", free_port())
    context = loop.connect([down, echo.address], handler, timeout=2.0)
    context.push(b"via the standby")
    run_until(loop, lambda: len(handler.data) == 15)
    assert handler.calls == ["made"] and handler.data == b"via the standby"
    assert context.peer == f"127.0.0.1:{echo.address[1]}"  # named after the one reached
    context.close()
    run_until(loop, lambda: handler.lost is not NOT_YET)


def test_a_list_that_all_fails_is_one_connection_lost_naming_each(loop):
    handler = Recorder()
    first, second = free_port(), free_port()
    loop.connect([("127.0.0.1", first), ("127.0.0.1", second)], handler)
    run_until(loop, lambda: handler.calls)
    for _ in range(5):
        loop.run_once(0.01)
    assert handler.calls == [("lost", handler.lost)]  # once, and never made
    assert isinstance(handler.lost, ConnectionRefusedError)
    assert f"127.0.0.1:{first}: Connection refused; connect to 127.0.0.1:{second}" in str(handler.lost)


def test_round_robin_spreads_connects_over_the_list(loop):
    servers = [evloop.Server(EchoHandler, Config(port=0), loop=loop) for _ in range(2)]
    for server in servers:
        server.start()
    try:
        addresses = [server.address for server in servers]
        reached = []
        for _ in range(4):
            handler = Recorder()
            context = loop.connect(addresses, handler, round_robin=True)
            run_until(loop, lambda: handler.calls == ["made"])
            reached.append(context.peer)
            context.close()
        names = [f"127.0.0.1:{port}" for _, port in addresses]
        assert reached[:2] in (names, names[::-1]) and reached[2:] == reached[:2]
    finally:
        for server in servers:
            server.close()


@pytest.mark.parametrize("address", ["/nonexistent/evloop.sock", "list"])
def test_connection_lost_never_runs_inside_connect(loop, address):
    handler = Recorder()
    if address == "list":
        address = ["/nonexistent/a.sock", ("127.0.0.1", free_port())]
    loop.connect(address, handler)
    assert handler.calls == []  # not yet: the caller has its context first
    run_until(loop, lambda: handler.calls)
    assert handler.calls == [("lost", handler.lost)]


def test_connection_lost_never_runs_inside_a_stopping_servers_connect(loop, echo):
    handler = Recorder()
    echo.shutdown()
    context = echo.connect(echo.address, handler)
    assert handler.calls == []
    run_until(loop, lambda: handler.calls)
    assert handler.calls == [("lost", handler.lost)] and context.is_closing()


def test_several_addresses_check_their_arguments(loop):
    with pytest.raises(ValueError, match="at least one address"):
        loop.connect([], Recorder())
    with pytest.raises(ValueError, match="an address is \\(host, port\\)"):
        loop.connect([("127.0.0.1", 1), 5], Recorder())
    with pytest.raises(ValueError, match="TLS to several hosts needs server_hostname"):
        loop.connect([("127.0.0.1", 1), ("127.0.0.2", 1)], Recorder(), tls=True)


def test_connection_made_never_runs_inside_connect_even_when_a_unix_socket_accepts_at_once(
        loop, tmp_path):
    path = str(tmp_path / "up.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(8)
        for address in (path, [str(tmp_path / "missing.sock"), path]):
            handler = Recorder()
            context = loop.connect(address, handler)
            assert handler.calls == []  # the caller has its context first
            run_until(loop, lambda: handler.calls)
            assert handler.calls == ["made"] and context.peer == f"unix:{path}"
            context.close()
            run_until(loop, lambda: handler.lost is not NOT_YET)
