"""--proxy-protocol on a real server: the header read exactly, the original client
seen by handlers, logs and --trace, every bad header closed with a log line, and a
header believed only from the peers --proxy-allow names."""

import re
import socket
import time

import pytest

from evloop.connection.proxy_protocol import encode_v1
from evloop.connection.proxy_protocol import encode_v2
from tests.conftest import metric
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import scrape

CLIENT = ("192.0.2.10", 40000)  # TEST-NET-1: only written in a header, never connected to
FRONT = ("198.51.100.1", 12000)


def peer_server(serve, *more):
    return serve("--handler", "userhandlers.whoami:Peer", "--proxy-protocol", *more)


def answer(sock, data):
    sock.sendall(data)
    return sock.recv(200)


@pytest.mark.parametrize("header", [encode_v1(CLIENT, FRONT), encode_v2(CLIENT, FRONT),
                                    encode_v2(CLIENT, FRONT, tlvs=b"\x01\x00\x02h2")])
def test_the_handler_sees_the_original_client(serve, header):
    server = peer_server(serve)
    with server.connect() as sock:
        sock.sendall(header + b"first")  # the header and data in one segment
        assert sock.recv(200) == b"192.0.2.10:40000 first"
        assert answer(sock, b"again") == b"192.0.2.10:40000 again"
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_a_header_a_byte_at_a_time_then_data(serve):
    server = peer_server(serve)
    header = encode_v2(("2001:db8::5", 7), ("2001:db8::6", 8))
    with server.connect() as sock:
        for byte in header:
            sock.sendall(bytes([byte]))
            time.sleep(0.002)  # pacing: each byte its own segment
        assert answer(sock, b"x") == b"[2001:db8::5]:7 x"


def test_a_local_header_keeps_the_real_endpoints(serve):
    """HAProxy's health checks: LOCAL, then (for tcp-check) close at once."""
    server = peer_server(serve)
    with server.connect() as check:
        check.sendall(encode_v2(None, None))
    with server.connect() as sock:
        local = sock.getsockname()
        sock.sendall(encode_v2(None, None) + b"hi")
        assert sock.recv(200) == f"{local[0]}:{local[1]} hi".encode()
    code, err = server.stop()
    assert code == 0 and "PROXY protocol" not in err  # a health check is no error


@pytest.mark.parametrize("data, reason", [
    (b"016Hello!! Server!!", "no PROXY protocol header: the connection began with b'016Hello"),
    (b"PROXY TCP4 192.0.2.1 198.51.100.1 1 99999\r\n", "bad PROXY v1 port '99999'"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x22", "unknown command"),
    (b"PROXY " + b"x" * 200, "without CRLF in its first 107 bytes"),
])
def test_a_connection_without_a_valid_header_is_closed_with_a_log_line(serve, data, reason):
    server = peer_server(serve)
    with server.connect() as good:
        good.sendall(encode_v1(CLIENT, FRONT))
        with server.connect() as bad:
            bad.sendall(data)
            try:
                assert recv_until_eof(bad) == b""
            except ConnectionResetError:  # closed with our input unread: fine too
                pass
        assert answer(good, b"unaffected") == b"192.0.2.10:40000 unaffected"
    code, err = server.stop()
    lines = [line for line in err.splitlines() if "PROXY protocol" in line]
    assert len(lines) == 1 and reason in lines[0] and "127.0.0.1:" in lines[0], err
    assert "Traceback" not in err


def test_a_header_from_a_peer_in_proxy_allow_is_believed(serve):
    server = peer_server(serve, "--proxy-allow", "10.0.0.0/8,127.0.0.1")
    with server.connect() as sock:
        sock.sendall(encode_v1(CLIENT, FRONT) + b"first")
        assert sock.recv(200) == b"192.0.2.10:40000 first"
    code, err = server.stop()
    assert code == 0 and "PROXY protocol" not in err


def test_a_peer_not_in_proxy_allow_is_closed_unread_with_one_log_line(serve):
    """Tests talk to loopback only: allowing 10.0.0.0/8 alone makes 127.0.0.1 a stranger."""
    server = peer_server(serve, "--proxy-allow", "10.0.0.0/8", "--metrics-port", "0")
    with server.connect() as stranger:
        stranger.sendall(encode_v2(CLIENT, FRONT) + b"claims to be 192.0.2.10")
        try:
            assert recv_until_eof(stranger) == b""  # never "192.0.2.10:40000 claims..."
        except ConnectionResetError:  # closed with its bytes unread: the kernel resets
            pass
    page = scrape(server)  # still serving
    assert metric(page, "evloop_proxy_headers_rejected_total") == 1
    assert metric(page, "evloop_connections_closed_total", direction="in",
                  reason="proxy_rejected") == 1
    code, err = server.stop()
    lines = [line for line in err.splitlines() if "PROXY protocol" in line]
    assert len(lines) == 1, err
    assert re.search(r" 127\.0\.0\.1:\d+: PROXY protocol: 127\.0\.0\.1 is not in --proxy-allow "
                     r"\(10\.0\.0\.0/8\); closing$", lines[0]), lines[0]
    assert code == 0 and "192.0.2.10" not in err and "Traceback" not in err


def test_closing_before_the_header_and_the_handshake_timeout(serve):
    server = peer_server(serve, "--handshake-timeout", "0.3")
    with server.connect() as quitter:
        quitter.sendall(b"PROXY TCP4 1.")
    with server.connect() as silent:
        assert recv_until_eof(silent) == b""  # closed by the server after 0.3 s
    code, err = server.stop()
    assert "closed before its PROXY protocol header" in err
    assert "no PROXY protocol header within 0.3s (--handshake-timeout)" in err


def test_logs_and_trace_name_the_original_client(serve):
    server = serve("--handler", "lenprefix", "--proxy-protocol", "--trace")
    with server.connect() as sock:
        sock.sendall(encode_v2(CLIENT, FRONT) + b"003abc")
        assert recv_exactly(sock, 6) == b"003abc"
        sock.sendall(b"bad header")  # a protocol error: logged with the client's address
        assert recv_until_eof(sock) == b""
    code, err = server.stop()
    assert "PROXY v2 header: the original client is 192.0.2.10:40000" in err
    assert "PROXY_HEADER -> OPEN (header)" in err
    assert "192.0.2.10:40000: protocol error: bad length header" in err


def test_without_the_option_a_header_is_just_data(serve):
    server = serve("--handler", "echo")
    with server.connect() as sock:
        header = encode_v1(CLIENT, FRONT)
        sock.sendall(header)
        assert recv_exactly(sock, len(header)) == header


def test_shutdown_while_a_header_is_awaited(serve):
    server = peer_server(serve, "--trace")
    with server.connect() as waiting:
        waiting.sendall(b"PROXY ")
        server.wait_stderr(r"accepted by fd \d+ listener")  # held, awaiting the rest
        code, err = server.stop()
        assert recv_until_eof(waiting) == b""
    assert code == 0 and "Traceback" not in err


def test_udp_is_not_affected(serve):
    server = serve("--handler", "echo", "--udp", "--proxy-protocol")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"plain datagram", server.address)
        assert udp.recvfrom(100)[0] == b"plain datagram"
