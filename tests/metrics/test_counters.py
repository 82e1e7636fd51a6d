"""evloop.metrics.counters: the counts, the kernel's bytes, the turn histogram, and what
they add up to in Server.stats() on a live server."""

import concurrent.futures
import contextlib
import socket
import ssl
import threading

import pytest

from evloop import Config
from evloop import Handler
from evloop import ProtocolError
from evloop import Server
from evloop.metrics.counters import Counters
from evloop.metrics.counters import TurnHistogram
from evloop.metrics.counters import kernel_bytes
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import wait_for
from tests.pairs import pair  # noqa: F401  (a fixture)

pytestmark = pytest.mark.timeout(60)


class Moody(Handler):
    """Echoes, except: b"crash" raises, b"bad" is a protocol error, b"str" answers a str."""

    def data_received(self, data):
        if data == b"crash":
            raise RuntimeError("a handler bug")
        if data == b"bad":
            raise ProtocolError("bad input", reply=b"no\n")
        if data == b"str":
            return "not bytes"
        return data


@contextlib.contextmanager
def live(config, handler=Moody):
    """A Server on port 0 serving in a thread; shut down and joined at the end."""
    server = Server(handler, config)
    server.loop.set_exception_handler(lambda loop, context: None)  # crashes are expected here
    server.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.loop.call_soon_threadsafe(server.shutdown)
        thread.join(15)
        assert not thread.is_alive()


def until_closed(sock):
    """What arrives until EOF; b"" if the server resets instead (it drops unread input)."""
    try:
        return recv_until_eof(sock)
    except ConnectionResetError:
        return b""


def stats_of(server):
    """server.stats(), taken in the loop's own thread."""
    result = concurrent.futures.Future()
    server.loop.call_soon_threadsafe(lambda: result.set_result(server.stats()))
    return result.result(timeout=10)


def test_the_turn_histogram_counts_each_turn_in_its_bucket():
    turns = TurnHistogram((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.005, 2.0):
        turns.after_turn(seconds)
    snapshot = turns.snapshot()
    assert snapshot.buckets == ((0.001, 2), (0.01, 3), (float("inf"), 4))
    assert snapshot.count == 4 and snapshot.sum == pytest.approx(2.0065)


def test_the_kernel_counts_the_bytes_of_a_tcp_socket():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
        with client, server:
            client.sendall(b"x" * 1000)
            assert recv_exactly(server, 1000)
            server.sendall(b"y" * 300)
            assert recv_exactly(client, 300)
            assert wait_for(lambda: kernel_bytes(server) == (1000, 300))
    left, right = socket.socketpair()  # a Unix socket keeps no such count
    with left, right:
        assert kernel_bytes(left) == (0, 0)


def test_a_connection_without_a_reason_counts_as_an_error():
    counters = Counters()
    left, right = socket.socketpair()
    with left, right:
        counters.connection_ended(left, 3, 2, "peer_eof")
        counters.connection_ended(right, 1, 0, None)  # no reason given: a socket error
    assert (counters.messages_received, counters.messages_sent) == (4, 2)
    assert counters.closed["peer_eof"] == 1 and counters.closed["error"] == 1


def test_a_connection_ended_again_adds_its_figures_once(pair):
    p = pair()
    p.client.sendall(b"hello")
    p.turn()
    assert recv_exactly(p.client, 5) == b"hello"
    p.conn.end("shutdown", now=True)
    p.conn.end("handler_abort", now=True)  # ended again: by the server, by its handler
    p.context.abort()
    p.context.close()
    assert (p.counters.messages_received, p.counters.messages_sent) == (1, 1)
    assert p.counters.closed["shutdown"] == 1 and sum(p.counters.closed.values()) == 1


def test_stats_count_traffic_errors_and_reasons_on_a_live_server():
    with live(Config(port=0, udp=True, max_connections=3)) as server:
        address = server.address[:2]
        with socket.create_connection(address, timeout=5) as sock:
            for _ in range(3):
                sock.sendall(b"hello")
                assert recv_exactly(sock, 5) == b"hello"
        for poison, answer in ((b"crash", b""), (b"bad", b"no\n"), (b"str", b"")):
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(poison)
                assert recv_until_eof(sock) == answer
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.sendto(b"ping", address)
            assert udp.recv(100) == b"ping"
            udp.sendto(b"crash", address)
        held = [socket.create_connection(address, timeout=5) for _ in range(4)]
        try:
            assert recv_until_eof(held[3]) == b""  # the fourth: --max-connections 3
            assert wait_for(lambda: stats_of(server).connections_closed["peer_eof"] == 1)
            stats = stats_of(server)
        finally:
            for sock in held:
                sock.close()
    assert stats.transport == "tcp" and stats.handler == "Moody"
    assert stats.connections_open == 3 and stats.connections_accepted == 7
    assert stats.connections_refused == {"full": 1, "fd_limit": 0, "select_limit": 0}
    closed = {reason: n for reason, n in stats.connections_closed.items() if n}
    assert closed == {"peer_eof": 1, "handler_error": 2, "protocol_error": 1}
    assert stats.connections_accepted - sum(stats.connections_closed.values()) == 3
    # Three echoes, then the poisons' bytes; one reply each way per echo, plus "no\n".
    assert stats.stream.bytes_received == 15 + len(b"crashbadstr")
    assert stats.stream.bytes_sent == 15 + 3
    assert stats.stream.messages_received == 6 and stats.stream.messages_sent == 4
    assert stats.datagram is not None
    assert (stats.datagram.messages_received, stats.datagram.bytes_received) == (2, 9)
    assert (stats.datagram.messages_sent, stats.datagram.bytes_sent) == (1, 4)
    assert stats.handler_crashes == 3 and stats.protocol_errors == 1  # two TCP, one UDP crash
    assert stats.turn_seconds is None  # measured only while metrics are served


class Hog(Moody):
    """Moody, whose client never times out once it has sent something."""

    def data_received(self, data):
        self.context.set_idle_timeout(None)
        return super().data_received(data)


def test_idle_timeout_backpressure_and_shutdown_are_reasons_too():
    config = Config(port=0, idle_timeout=0.3, high_water=4096, low_water=1024, drain_timeout=0.5)
    with contextlib.ExitStack() as clients:  # closed after the server: the hog is there at its end
        with live(config, handler=Hog) as server:
            idle = clients.enter_context(socket.create_connection(server.address[:2], timeout=5))
            hog = clients.enter_context(socket.create_connection(server.address[:2], timeout=5))
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.setblocking(False)

            def hog_sends():  # echoes pile up in a client that never reads
                with contextlib.suppress(BlockingIOError):
                    hog.send(b"z" * 65536)
                return stats_of(server).backpressure_pauses >= 1
            assert wait_for(hog_sends, timeout=20)
            assert recv_until_eof(idle) == b""
            assert wait_for(lambda: stats_of(server).connections_closed["idle_timeout"] >= 1)
    stats = server.stats()
    # The silent client timed out; the hog, paused but exempt, was ended by the shutdown.
    assert stats.connections_closed["idle_timeout"] == 1
    assert stats.connections_closed["shutdown"] == 1, stats.connections_closed
    assert stats.connections_open == 0


def test_tls_handshakes_and_failures_are_counted(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with live(Config(port=0, tls_cert=str(pem), tls_key=str(pem))) as server:
        raw = socket.create_connection(server.address[:2], timeout=5)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"secret")
            assert recv_exactly(sock, 6) == b"secret"
        with socket.create_connection(server.address[:2], timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not a ClientHello
            until_closed(sock)
        assert wait_for(lambda: stats_of(server).tls_failures == 1)
        stats = stats_of(server)
    assert stats.tls_handshakes == 1
    assert stats.connections_closed["tls_failed"] == 1


def test_bad_proxy_headers_are_counted():
    with live(Config(port=0, proxy_protocol=True)) as server:
        with socket.create_connection(server.address[:2], timeout=5) as sock:
            sock.sendall(b"hello, no header here\r\n")
            assert until_closed(sock) == b""
        assert wait_for(lambda: stats_of(server).proxy_rejected == 1)
        assert stats_of(server).connections_closed["proxy_rejected"] == 1
