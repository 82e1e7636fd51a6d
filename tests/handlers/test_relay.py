"""evloop.handlers.relay with no sockets: two handlers back to back, each the other's only
reader, on fake contexts.  The relay as a server, with real backends: tests/features/test_relay.py."""

import logging
import re
import ssl

import pytest

from evloop.handlers.relay import BackendSide
from evloop.handlers.relay import RelayHandler
from evloop.handlers.relay import ca_file
from evloop.handlers.relay import parse_upstream
from evloop.handlers.relay import seconds
from evloop.testing import FakeContext
from evloop.testing import FakeServerContext


def test_a_client_is_relayed_to_its_backend_and_back():
    client = FakeContext("192.0.2.1:5000")
    client.open(RelayHandler.factory(upstream=("127.0.0.1", 9000))())
    backend = client.connects[0]  # dialled as the client arrived; the test opens it
    assert backend.address == ("127.0.0.1", 9000)
    backend.open()
    assert client.forwarding is backend.context and backend.context.forwarding is client
    assert client.feed(b"ping") is None  # forwarded: no handler call, nothing to answer
    assert backend.context.take() == b"ping"
    backend.context.feed(b"pong")
    assert client.take() == b"pong"
    client.lose()  # the client hangs up: the backend is closed, gently
    assert backend.context.closed and not backend.context.aborted


def relay(opens=True, **options):
    """A relay whose client has connected: (relay, the client's context, the backend's
    context, the backend's handler, the connect's options).  The backend's connection
    is up, unless `opens` is False: then the test opens or refuses it."""
    handler = RelayHandler.factory(upstream=("127.0.0.1", 9000), **options)()
    client = FakeContext("192.0.2.1:5000")
    assert client.open(handler) is None  # no greeting: the backend speaks first
    dialled, = client.connects
    assert dialled.address == ("127.0.0.1", 9000) and isinstance(dialled.handler, BackendSide)
    if opens:
        dialled.open()
    return handler, client, dialled.context, dialled.handler, dialled.options


def test_the_backend_is_opened_as_the_client_arrives_with_the_options():
    *_, options = relay()
    assert options == {"tls": None, "server_hostname": None, "timeout": 10.0, "round_robin": False}
    *_, options = relay(upstream_tls="on", upstream_server_name="db.internal", connect_timeout=2.5)
    assert options == {"tls": True, "server_hostname": "db.internal", "timeout": 2.5, "round_robin": False}


def test_bytes_pass_both_ways_unchanged_forwarded_with_no_handler_call():
    handler, client, backend, backend_handler, _ = relay()
    assert client.feed(b"to the backend") is None
    assert backend.pushed == [b"to the backend"] and client.pushed == []
    assert backend.feed(b"to the client") is None
    assert client.pushed == [b"to the client"]


def test_what_the_client_sends_before_the_backend_is_up_is_pushed_to_it():
    handler, client, backend, backend_handler, _ = relay(opens=False)
    client.feed(b"early")
    assert backend.pushed == [b"early"]  # the connection queues it until it is up


def test_a_half_close_passes_through_both_ways():
    handler, client, backend, backend_handler, _ = relay()
    assert client.feed_eof() is True and backend.eof_sent  # keeps the client open
    assert not client.eof_sent
    assert backend.feed_eof() is True and client.eof_sent


def test_each_side_that_cannot_write_pauses_the_others_reading():
    handler, client, backend, backend_handler, _ = relay()
    handler.pause_writing()  # the client does not read: stop reading the backend
    assert not backend.reading and client.reading
    handler.resume_writing()
    assert backend.reading
    backend_handler.pause_writing()  # the backend does not read: stop reading the client
    assert not client.reading and backend.reading
    backend_handler.resume_writing()
    assert client.reading


def test_the_client_gone_closes_or_aborts_the_backend():
    handler, client, backend, *_ = relay()
    client.lose()
    assert backend.closed and not backend.aborted  # what the client sent is delivered first
    handler, client, backend, *_ = relay()
    client.lose(ConnectionResetError(104, "Connection reset by peer"))
    assert backend.aborted


def test_the_backend_gone_ends_its_client(caplog):
    handler, client, backend, backend_handler, _ = relay()
    backend.lose()
    assert client.closed and not client.aborted
    handler, client, backend, backend_handler, _ = relay()
    with caplog.at_level(logging.INFO, logger="evloop"):
        backend.lose(ConnectionResetError(104, "Connection reset by peer"))
    assert client.aborted
    assert "192.0.2.1:5000: upstream 127.0.0.1:9000: Connection reset by peer; dropping the client" \
        in caplog.text


def test_a_backend_never_reached_closes_its_client_with_one_warning(caplog):
    _, client, _, _, _ = relay(opens=False)
    with caplog.at_level(logging.WARNING, logger="evloop"):
        client.connects[0].refuse(ConnectionRefusedError(111, "Connection refused"))
    assert client.closed
    assert [r.getMessage() for r in caplog.records] == [
        "192.0.2.1:5000: upstream unreachable: Connection refused; closing the client"]
    caplog.clear()
    _, client, _, _, _ = relay(opens=False)
    failure = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                              "verify failed: self-signed certificate")
    with caplog.at_level(logging.WARNING, logger="evloop"):
        client.connects[0].refuse(failure)
    assert "certificate verify failed: self-signed certificate" in caplog.text  # all of it


def test_the_factory_needs_an_upstream_and_a_ca_file_means_tls(tmp_path):
    with pytest.raises(ValueError, match="the relay needs a backend"):
        RelayHandler.factory()
    handler = RelayHandler.factory(upstream="/run/db.sock", upstream_ca="/etc/ca.pem")()
    assert (handler.upstreams, handler.tls) == (("/run/db.sock",), "/etc/ca.pem")


@pytest.mark.parametrize("text, address", [
    ("127.0.0.1:5432", ("127.0.0.1", 5432)),
    ("db.internal:1", ("db.internal", 1)),
    ("[::1]:6379", ("::1", 6379)),
    ("unix:/run/db.sock", "/run/db.sock"),
    (("10.0.0.1", 80), ("10.0.0.1", 80)),
])
def test_parse_upstream(text, address):
    assert parse_upstream(text) == address


@pytest.mark.parametrize("text, message", [
    ("localhost", "is not HOST:PORT"), ("localhost:0", "is not HOST:PORT"),
    (":80", "is not HOST:PORT"), ("host:http", "is not HOST:PORT"),
    ("unix:", "unix: needs the socket's path"), (("host", 0), "is not a (host, port) pair"),
])
def test_parse_upstream_refuses(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_upstream(text)


def test_ca_file_and_seconds_check_their_values(tmp_path, tls_files):
    assert ca_file(tls_files["ca"]) == tls_files["ca"]
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match="no PEM certificate in it"):
        ca_file(str(not_pem))
    with pytest.raises(ValueError, match="No such file"):
        ca_file(str(tmp_path / "missing.pem"))
    assert seconds("2.5") == 2.5
    for bad in ("0", "-1", "inf"):
        with pytest.raises(ValueError, match="more than 0 seconds"):
            seconds(bad)


def test_at_start_up_the_relay_checks_its_backend_once_and_warns_if_it_is_down(caplog):
    server = FakeServerContext(RelayHandler, upstream="127.0.0.1:9000", upstream_tls="on",
                               connect_timeout="2")
    server.start()
    check, = server.connects
    assert check.address == ("127.0.0.1", 9000)
    assert check.options == {"tls": True, "server_hostname": None, "timeout": 2.0, "round_robin": False}
    check.open()  # up: closed at once, and nothing said above debug
    assert check.context.closed and check.context.sent == []
    server = FakeServerContext(RelayHandler, upstream="127.0.0.1:9000")
    server.start()
    with caplog.at_level(logging.INFO, logger="evloop"):
        server.connects[0].refuse()
    warning, = caplog.records
    assert warning.levelname == "WARNING" and re.fullmatch(
        r"relay: upstream 127\.0\.0\.1:9000 does not answer at start-up \(Connection refused\); "
        r"serving anyway, each client closed while it does not", warning.getMessage())
    _, client = server.client()  # and it serves: the client's own connect is tried
    assert len(client.connects) == 1
