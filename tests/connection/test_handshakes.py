"""evloop.connection.handshakes: the steps before a connection opens (connect, PROXY
header, TLS), over a socketpair on a bare loop.  Each ends in exactly one of on_open or
on_fail, within its deadline, and lets go of the socket's reader and writer."""

import socket
import ssl

import pytest

from evloop import Config
from evloop import ProtocolError
from evloop.connection.handshakes import Handshakes
from evloop.connection.handshakes import ProxyHeaderReader
from evloop.connection.proxy_protocol import encode_v1
from evloop.connection.proxy_protocol import encode_v2
from evloop.connection.states import Event
from evloop.connection.tls import TLSSession
from evloop.connection.tls import make_context
from evloop.loop.base import BaseLoop
from evloop.settings.config import Networks

V1_TCP4 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"

pytestmark = pytest.mark.timeout(30)
CLIENT = ("192.0.2.10", 40000)
FRONT = ("198.51.100.1", 12000)


class Steps:
    """One Handshakes on `loop` over `sock`, everything it reports recorded in order."""

    def __init__(self, loop, sock, **options):
        self.loop = loop
        self.seen = []
        self.handshakes = Handshakes(loop, sock, "127.0.0.1:5000", on_step=self.seen.append,
                                     on_open=self.opened, on_fail=self.failed, **options)

    def opened(self, event, sock, peer, header):
        self.seen.append(("open", event, sock, peer, header))

    def failed(self, failure):
        self.seen.append(("fail", failure))

    def run(self, seconds=10.0):
        """Turn the loop until the steps end; the one end they came to."""
        deadline = self.loop.time() + seconds
        while not any(isinstance(step, tuple) for step in self.seen):
            assert self.loop.time() < deadline, f"not done: {self.seen}"
            self.loop.run_once(timeout=0.01)
        for _ in range(5):  # a second ending would come in the next turns
            self.loop.run_once()
        ends = [step for step in self.seen if isinstance(step, tuple)]
        assert len(ends) == 1, ends
        return ends[0]


@pytest.fixture
def pair(selector):
    """(loop, our end, the peer's end), both non-blocking on our side."""
    loop = BaseLoop(selector)
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(5)
    yield loop, ours, peer
    loop.close()
    ours.close()
    peer.close()


def released(loop):
    """Nothing of the steps is left on the loop: no reader or writer but the waker's, no timer."""
    stats = loop.statistics()
    return (stats.readers, stats.writers, stats.timers) == (1, 0, 0)


@pytest.mark.parametrize("header", [encode_v1(CLIENT, FRONT), encode_v2(CLIENT, FRONT)])
def test_a_proxy_header_is_taken_and_the_data_after_it_left(pair, header):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True)
    steps.handshakes.start()
    peer.sendall(header + b"first data")
    what, event, sock, name, taken = steps.run()
    assert (what, event, sock, name) == ("open", Event.HEADER, ours, "192.0.2.10:40000")
    assert taken.source == CLIENT and taken.length == len(header)
    assert ours.recv(100) == b"first data"  # the handler's, untouched
    assert released(loop)


def test_a_header_a_byte_at_a_time(pair):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True)
    steps.handshakes.start()
    header = encode_v2(("2001:db8::5", 7), ("2001:db8::6", 8))
    for byte in header[:-1]:
        peer.sendall(bytes([byte]))
        loop.run_once()
    assert steps.seen == []
    peer.sendall(header[-1:] + b"x")
    assert steps.run()[3] == "[2001:db8::5]:7"
    assert ours.recv(10) == b"x"


def test_a_local_header_keeps_the_real_peer(pair):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True)
    steps.handshakes.start()
    peer.sendall(encode_v2(None, None))
    what, event, sock, name, header = steps.run()
    assert name == "127.0.0.1:5000" and header.command == "LOCAL"


@pytest.mark.parametrize("send, reason", [
    (b"016Hello!! Server!!", "PROXY protocol: no PROXY protocol header"),
    (None, "PROXY protocol: the connection closed before its PROXY protocol header"),
])
def test_a_bad_or_missing_header_fails_as_proxy_rejected(pair, send, reason):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True)
    steps.handshakes.start()
    if send is None:
        peer.shutdown(socket.SHUT_WR)
    else:
        peer.sendall(send)
    what, failure = steps.run()
    assert what == "fail" and failure.why == "proxy_rejected"
    assert failure.reason.startswith(reason) and failure.reason.endswith("; closing")
    assert released(loop)


def test_no_header_within_the_timeout(pair):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True, handshake_timeout=0.05)
    steps.handshakes.start()
    peer.sendall(b"PROXY TCP4 1.")  # a start, never finished
    what, failure = steps.run()
    assert what == "fail" and failure.why == "handshake_timeout"
    assert failure.reason == "no PROXY protocol header within 0.05s (--handshake-timeout); closing"
    assert released(loop)


@pytest.fixture
def tcp_pair(selector):
    """(loop, our end, the peer's end) over TCP on loopback: a peer with an address."""
    loop = BaseLoop(selector)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname(), timeout=5)
        ours, _ = listener.accept()
    ours.setblocking(False)
    yield loop, ours, peer
    loop.close()
    ours.close()
    peer.close()


def test_a_peer_not_in_proxy_allow_fails_before_a_byte_is_read(tcp_pair):
    loop, ours, peer = tcp_pair
    header = encode_v1(CLIENT, FRONT)
    peer.sendall(header)
    steps = Steps(loop, ours, proxy_header=True, proxy_allow=Networks(["10.0.0.0/8", "::1"]))
    steps.handshakes.start()
    what, failure = steps.run()
    assert what == "fail" and failure.why == "proxy_rejected"
    assert failure.reason == ("PROXY protocol: 127.0.0.1 is not in --proxy-allow "
                              "(10.0.0.0/8, ::1); closing")
    ours.settimeout(5)
    assert ours.recv(100, socket.MSG_PEEK) == header  # not read, let alone believed
    assert released(loop)


@pytest.mark.parametrize("allow", [None, ["10.0.0.0/8", "127.0.0.1"]])
def test_a_peer_in_proxy_allow_is_believed(tcp_pair, allow):
    """None: Handshakes' default, Config's (this machine)."""
    loop, ours, peer = tcp_pair
    options = {} if allow is None else {"proxy_allow": Networks(allow)}
    steps = Steps(loop, ours, proxy_header=True, **options)
    steps.handshakes.start()
    peer.sendall(encode_v2(CLIENT, FRONT))
    assert steps.run()[:4] == ("open", Event.HEADER, ours, "192.0.2.10:40000")


def dual_stack_loopback():
    """An IPv6 listener that IPv4 clients reach, on 127.0.0.1 only; a skip without one."""
    try:
        listener = socket.socket(socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 here: {exc}")
    try:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::ffff:127.0.0.1", 0))
    except OSError as exc:
        listener.close()
        pytest.skip(f"no dual-stack IPv6 socket here: {exc}")
    listener.listen()
    return listener


def test_an_ipv4_client_of_a_dual_stack_listener_is_in_its_ipv4_network(selector):
    """The listener sees ::ffff:127.0.0.1, which 127.0.0.0/8 holds."""
    listener = dual_stack_loopback()
    loop = BaseLoop(selector)
    peer = socket.create_connection(("127.0.0.1", listener.getsockname()[1]), timeout=5)
    ours, address = listener.accept()
    try:
        assert address[0] == "::ffff:127.0.0.1"
        ours.setblocking(False)
        steps = Steps(loop, ours, proxy_header=True, proxy_allow=Networks(["127.0.0.0/8"]))
        steps.handshakes.start()
        peer.sendall(encode_v1(CLIENT, FRONT))
        assert steps.run()[3] == "192.0.2.10:40000"
    finally:
        for sock in (ours, peer, listener):
            sock.close()
        loop.close()


def test_a_unix_socket_peer_is_believed_whatever_proxy_allow_says(pair):
    """It has no address; only the processes the socket file lets in can connect."""
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True, proxy_allow=Networks(["10.0.0.0/8"]))
    steps.handshakes.start()
    peer.sendall(encode_v1(CLIENT, FRONT))
    assert steps.run()[3] == "192.0.2.10:40000"


def tls_pair(loop, ours, peer, tls_files, **options):
    """Our end as a TLS server's Steps, the peer's a blocking TLS client."""
    config = Config(tls_cert=tls_files["server"], tls_key=tls_files["server"])
    session = TLSSession(make_context(config), server_side=True)
    client = ssl.create_default_context(cafile=tls_files["ca"])
    return Steps(loop, ours, tls=session, **options), client


def test_tls_after_a_proxy_header_says_start_tls_then_opens(pair, tls_files):
    loop, ours, peer = pair
    steps, client = tls_pair(loop, ours, peer, tls_files, proxy_header=True)
    steps.handshakes.start()
    peer.sendall(encode_v1(CLIENT, FRONT))
    peer.setblocking(False)
    tls_peer = client.wrap_socket(peer, server_hostname="localhost", do_handshake_on_connect=False)
    deadline = loop.time() + 10
    while True:  # both ends in this thread: the client's steps between the loop's turns
        try:
            tls_peer.do_handshake()
            break
        except ssl.SSLWantReadError:
            assert loop.time() < deadline
            loop.run_once(timeout=0.01)
    what, event, sock, name, header = steps.run()
    assert steps.seen[0] is Event.START_TLS  # once the header was in, before the open
    assert (what, event, name) == ("open", Event.HANDSHAKE_DONE, "192.0.2.10:40000")
    assert isinstance(sock, ssl.SSLSocket) and sock.version() == "TLSv1.3"
    assert released(loop)


def test_tls_first_opens_with_no_step_event(pair, tls_files):
    loop, ours, peer = pair
    steps, client = tls_pair(loop, ours, peer, tls_files)
    steps.handshakes.start()
    peer.setblocking(False)
    tls_peer = client.wrap_socket(peer, server_hostname="localhost", do_handshake_on_connect=False)
    deadline = loop.time() + 10
    while True:
        try:
            tls_peer.do_handshake()
            break
        except ssl.SSLWantReadError:
            assert loop.time() < deadline
            loop.run_once(timeout=0.01)
    assert steps.run()[:2] == ("open", Event.HANDSHAKE_DONE)
    assert Event.START_TLS not in steps.seen  # the state was HANDSHAKING from the accept


def test_a_peer_that_does_not_speak_tls_fails_as_tls_failed(pair, tls_files):
    loop, ours, peer = pair
    steps, _ = tls_pair(loop, ours, peer, tls_files)
    steps.handshakes.start()
    peer.sendall(b"\x00\x01garbage\r\n\r\n")
    what, failure = steps.run()
    assert what == "fail" and failure.why == "tls_failed"
    assert failure.reason.startswith("TLS handshake failed: ")
    assert isinstance(failure.error, OSError)  # what connection_lost will hear
    assert released(loop)


def test_a_tls_handshake_not_done_in_time(pair, tls_files):
    loop, ours, peer = pair
    steps, _ = tls_pair(loop, ours, peer, tls_files, handshake_timeout=0.05)
    steps.handshakes.start()
    what, failure = steps.run()
    assert what == "fail" and failure.why == "handshake_timeout"
    assert failure.reason == "TLS handshake failed: not done within 0.05s (--handshake-timeout)"
    assert isinstance(failure.error, TimeoutError)


def test_cancel_ends_the_steps_with_no_callback(pair):
    loop, ours, peer = pair
    steps = Steps(loop, ours, proxy_header=True)
    steps.handshakes.start()
    assert loop.statistics().timers == 1 and loop.watching(ours) != 0
    steps.handshakes.cancel()
    assert released(loop)
    peer.sendall(encode_v1(CLIENT, FRONT))
    for _ in range(5):
        loop.run_once()
    assert steps.seen == []


class FakeDialer:
    """A dialer that reports as the test says, to the Handshakes that made it."""

    def __init__(self, handshakes):
        self.handshakes = handshakes
        self.started = self.cancelled = False

    def start(self):
        self.started = True

    def cancel(self):
        self.cancelled = True


def test_the_connect_step_opens_or_fails_through_its_dialer(selector):
    loop = BaseLoop(selector)
    dialers = []

    def dialer(handshakes):
        dialers.append(FakeDialer(handshakes))
        return dialers[-1]

    ours, peer = socket.socketpair()
    try:
        steps = Steps(loop, None, dialer=dialer)
        steps.handshakes.start()
        assert dialers[0].started and loop.statistics().timers == 0  # the dialer has its own deadline
        steps.handshakes.connected(ours)
        assert steps.seen == [("open", Event.CONNECTED, ours, "127.0.0.1:5000", None)]
        failing = Steps(loop, None, dialer=dialer)
        failing.handshakes.start()
        failing.handshakes.connect_failed(ConnectionRefusedError(111, "refused"))
        (what, failure), = failing.seen
        assert failure.why == "connect_failed" and isinstance(failure.error, ConnectionRefusedError)
        cancelled = Steps(loop, None, dialer=dialer)
        cancelled.handshakes.start()
        cancelled.handshakes.cancel()
        assert dialers[-1].cancelled and cancelled.seen == []
    finally:
        loop.close()
        ours.close()
        peer.close()


# -- ProxyHeaderReader: peek, then take exactly the header's bytes off the socket --

@pytest.fixture
def reader():
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    yield ProxyHeaderReader(ours), ours, peer
    ours.close()
    peer.close()


def test_the_reader_takes_the_header_and_leaves_the_data(reader):
    reader, ours, peer = reader
    peer.sendall(V1_TCP4 + b"first bytes of the client")
    header = reader.read()
    assert header.source == ("192.0.2.1", 56324)
    assert ours.recv(100) == b"first bytes of the client"


def test_a_header_in_pieces_is_taken_as_it_comes(reader):
    reader, ours, peer = reader
    header = encode_v2(("192.0.2.1", 5000), ("203.0.113.9", 12000))
    peer.sendall(header[:5])
    assert reader.read() is None
    peer.sendall(header[5:20])
    assert reader.read() is None
    peer.sendall(header[20:] + b"data")  # the peek sees more than the header: only it is taken
    assert reader.read().length == len(header)
    assert ours.recv(100) == b"data"


def test_nothing_to_read_is_the_callers_blocking_io_error(reader):
    reader, ours, peer = reader
    with pytest.raises(BlockingIOError):
        reader.read()


def test_a_close_before_the_header_or_a_bad_one_is_a_protocol_error(reader):
    reader, ours, peer = reader
    peer.sendall(b"PROXY TCP4 1.")
    assert reader.read() is None
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(ProtocolError, match="closed before its PROXY protocol header"):
        reader.read()
    ours2, peer2 = socket.socketpair()
    with ours2, peer2:
        peer2.sendall(b"016Hello!! Server!!")
        with pytest.raises(ProtocolError, match="no PROXY protocol header"):
            ProxyHeaderReader(ours2).read()
