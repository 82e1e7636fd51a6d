"""evloop.trace.connections: ConnectionTracer narrates each connection on a lane of its
own: its system calls, each handler call with its answer, its state changes, our FIN,
its pauses and what the loop watches for it; an outbound one is renamed once connected."""

import re
import socket

import pytest

from evloop import Config
from evloop.connection.outbound import Loop
from evloop.connection.proxy_protocol import encode_v1
from evloop.connection.states import CLOSED
from evloop.handlers.echo import EchoHandler
from evloop.server.server import Server
from evloop.trace.connections import ConnectionTracer
from evloop.trace.connections import TracedHandler
from evloop.trace.steps import Steps
from tests.conftest import run_until
from tests.pairs import PairOwner
from tests.pairs import make_connection

LINE = re.compile(r"^trace: +\d+\.\d{3} ms  (.+?): (.*)$")


def said(capsys):
    return [LINE.match(line).groups() for line in capsys.readouterr().err.splitlines()]


@pytest.fixture
def traced(selector):
    """(loop, start): start(handler, **parts) is a traced connection and its peer's socket."""
    loop = Loop(selector)
    steps = Steps(text=True, file=None)
    loop.add_instrument(ConnectionTracer(steps))
    peers = []

    def start(handler=None, **parts):
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.settimeout(5)
        peers.append(peer)
        owner = PairOwner(loop, Config())
        return make_connection(loop, ours, handler or EchoHandler(), peer="127.0.0.1:5000",
                               owner=owner, **parts), peer

    yield loop, start
    for peer in peers:
        peer.close()
    loop.close()


def test_an_echo_told_step_by_step_on_its_lane(traced, capsys):
    loop, start = traced
    connection, peer = start()
    lane = f"fd {connection.fd} 127.0.0.1:5000"
    peer.sendall(b"ping")
    loop.run_once()
    assert peer.recv(10) == b"ping"
    peer.shutdown(socket.SHUT_WR)
    run_until(loop, lambda: connection.state is CLOSED)
    found = said(capsys)
    assert {name for name, _ in found} == {lane}
    texts = [re.sub(r" in \d+\.\d{3} ms$", "", text) for name, text in found]
    assert texts == ["accepted by listener", "watching R",
                     "handler EchoHandler.connection_made() -> no greeting",
                     "recv 4 B", "handler EchoHandler.data_received(4 B) -> 4 B reply",
                     "send 4 B, all sent", "recv 0 B (EOF: the peer closed its side)",
                     "handler EchoHandler.eof_received() -> nothing more to send",
                     "OPEN -> INPUT_CLOSED (peer_eof)", "watching nothing",
                     "INPUT_CLOSED -> CLOSED (flushed)",
                     "handler EchoHandler.connection_lost() -> done"]


def test_our_fin_and_a_queued_send_are_told(traced, capsys):
    loop, start = traced
    connection, peer = start()
    capsys.readouterr()
    connection.write(b"x" * 4_000_000)  # more than the socket takes at once
    connection.end("shutdown")
    texts = [text for _, text in said(capsys)]
    assert any(re.fullmatch(r"send \d+ B, \d+ B left queued", text) for text in texts)
    assert "watching RW" in texts  # the writer, while bytes wait
    assert "OPEN -> CLOSING (close)" in texts
    quiet, _ = start()
    capsys.readouterr()
    quiet.end("shutdown")  # nothing queued: the FIN goes at once
    texts = [text for _, text in said(capsys)]
    assert texts[texts.index("CLOSING -> LINGERING (flushed)") + 1] == "shutdown(SHUT_WR): FIN sent"


def test_a_handler_that_raises_and_a_pause_are_told(traced, capsys):
    class Broken(EchoHandler):
        def data_received(self, data):
            raise KeyError("broken")

    loop, start = traced
    loop.set_exception_handler(lambda lp, context: None)
    connection, peer = start(Broken())
    connection.context.pause_reading()
    connection.context.resume_reading()
    peer.sendall(b"x")
    run_until(loop, lambda: connection.state is CLOSED)
    texts = [text for _, text in said(capsys)]
    assert "handler pauses reading" in texts and "handler resumes reading" in texts
    assert any(re.match(r"handler Broken\.data_received\(1 B\) -> raised KeyError in ", text)
               for text in texts)


def test_the_proxy_header_names_the_original_client(traced, capsys):
    loop, start = traced
    connection, peer = start(proxy_header=True)
    peer.sendall(encode_v1(("192.0.2.10", 40000), ("198.51.100.1", 443)))
    run_until(loop, lambda: connection.peer == "192.0.2.10:40000")
    texts = [text for _, text in said(capsys)]
    assert "PROXY v1 header: the original client is 192.0.2.10:40000" in texts
    assert "PROXY_HEADER -> OPEN (header)" in texts


def test_an_outbound_connection_is_renamed_once_connected(selector, capsys):
    loop = Loop(selector)
    loop.add_instrument(ConnectionTracer(Steps(text=True, file=None)))
    server = Server(EchoHandler, Config(port=0), loop=loop)
    server.start()
    try:
        context = loop.connect(server.address, EchoHandler())
        port = server.address[1]
        run_until(loop, lambda: context.connection.fd >= 0)
        found = said(capsys)
        assert (f"out 127.0.0.1:{port}", "connecting") in found
        assert (f"out 127.0.0.1:{port}", f"now fd {context.connection.fd} 127.0.0.1:{port}") in found
        assert (f"fd {context.connection.fd} 127.0.0.1:{port}", "CONNECTING -> OPEN (connected)") \
            in found
    finally:
        server.close()
        loop.close()


def test_the_traced_handler_passes_everything_else_through():
    steps = Steps(text=False, file=None)
    inner = EchoHandler(max_message=77)
    handler = TracedHandler(inner, steps, steps.lane("fd 7 a", "client", 7))
    assert handler.max_message == 77 and handler.data_received(b"hi") == b"hi"


def test_a_traced_handler_keeps_the_handler_s_own_settings():
    """The proxy inherits Handler's class attributes; the handler's own (a relay that
    goes on reading under backpressure) must show through it, not Handler's defaults."""
    from evloop.handlers.relay import RelayHandler
    from evloop.trace.connections import TracedHandler
    from evloop.trace.steps import Steps

    relay = RelayHandler(("127.0.0.1", 9))
    assert relay.backpressure_stops_reading is False  # the relay's own rule
    traced = TracedHandler(relay, Steps(False, None), Steps(False, None).loop_lane)
    assert traced.backpressure_stops_reading is False
    assert traced.max_message == relay.max_message
