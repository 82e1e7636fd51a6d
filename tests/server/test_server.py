"""Server from Python code: a handler class and a Config, checked at once."""

import socket
import threading

import pytest

from evloop import Config
from evloop import Handler
from evloop import Server
from evloop.handlers.chat import ChatHandler
from evloop.handlers.slow import SlowHandler
from tests.conftest import recv_exactly
from tests.conftest import run_until


class Shout(Handler):
    def data_received(self, data):
        return data.upper()


def test_serve_forever_in_a_thread_and_shut_down_from_outside():
    server = Server(Shout, Config(port=0))
    server.start()
    thread = threading.Thread(target=server.serve_forever)  # no signals outside the main thread
    thread.start()
    try:
        with socket.create_connection(server.address[:2], timeout=5) as sock:
            sock.sendall(b"hello")
            assert recv_exactly(sock, 5) == b"HELLO"
    finally:
        server.loop.call_soon_threadsafe(server.shutdown)
        thread.join(10)
    assert not thread.is_alive() and server.loop.is_closed()


def test_a_server_is_a_context_manager_that_releases_everything():
    with Server(Shout, Config(port=0, udp=True)) as server:
        server.start()
        port = server.address[1]
    assert server.listener is None and server.loop.is_closed()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again


@pytest.mark.parametrize("handler, message", [
    (lambda: None, "is a function, not a Handler subclass"),
    (object, "is a class, but not a Handler subclass"),
    (Handler, "does not define data_received"),
])
def test_a_class_that_cannot_serve_is_a_type_error(handler, message):
    with pytest.raises(TypeError, match=message):
        Server(handler, Config(port=0))


@pytest.mark.parametrize("handler, config, message", [
    (SlowHandler, Config(handler_options={"work_ms": -1}), "handler option work_ms (-1) is not valid"),
    (SlowHandler, Config(handler_options={"work": "gpu"}), "must be one of: cpu, sleep"),
    (SlowHandler, Config(handler_options={"speed": 1}), "SlowHandler has no option 'speed' (it takes: work_ms, work)"),
    (Shout, Config(handler_options={"work": "cpu"}), "Shout has no option 'work' (it takes none)"),
    (ChatHandler, Config(udp=True), "the ChatHandler handler needs a connection"),
])
def test_bad_handler_options_are_value_errors(handler, config, message):
    with pytest.raises(ValueError) as caught:
        Server(handler, config)
    assert message in str(caught.value)


def test_readiness_says_whether_it_takes_clients_and_if_not_why():
    server = Server(Shout, Config(port=0))
    assert server.readiness == "starting"
    server.start()
    assert server.readiness == "ready"
    server.close()
    assert server.readiness == "stopped"
    server = Server(Shout, Config(port=0))
    server.start()
    with socket.create_connection(server.address[:2], timeout=5):
        run_until(server.loop, lambda: server.connections)
        server.retire(30)
        assert server.readiness == "retiring"
        server.shutdown()
        assert server.readiness == "draining"
    server.close()


def test_handler_options_reach_the_handler():
    server = Server(SlowHandler, Config(port=0, max_message=123,
                                        handler_options={"work_ms": "2.5", "work": "sleep"}))
    handler = server.factory()
    assert (handler.work_ms, handler.work, handler.max_message) == (2.5, "sleep", 123)
    server.close()


def test_the_public_api_is_importable_from_the_package():
    # The import is the test; which module each name lives in is tests/test_layering.py's.
    from evloop import Handler, LineHandler, ProtocolError, Config, Server, Loop, run  # noqa: F401
