"""evloop.testing.server_context: a handler class's server-wide work driven from a test:
options as a server holds them, clients made by the class's one factory, timers on the
shared clock, and the two ends of a server (shutdown, retire)."""

import inspect

import pytest

import evloop
from evloop.handlers.context import ServerContext
from evloop.testing import FakeServerContext

pytestmark = pytest.mark.timeout(10)


def test_the_fake_has_every_power_of_a_server_context():
    powers = {name for name, _ in inspect.getmembers(ServerContext) if not name.startswith("_")}
    server = FakeServerContext()
    assert powers <= set(dir(server)), powers - set(dir(server))


class Ticker(evloop.LineHandler):
    options = {"every": evloop.Option("seconds between ticks", type=float, default="0.5")}

    def __init__(self, max_message=65536, every=0.5):
        super().__init__(max_message)
        self.every = every

    @classmethod
    def server_started(cls, server):
        server.shared["beat"] = server.call_every(server.options["every"], cls.tick, server)

    @classmethod
    def tick(cls, server):
        for client in server.connections:
            client.push(b"tick\n")

    @classmethod
    def server_stopping(cls, server):
        for client in server.connections:
            client.push(b"bye\n")

    def line_received(self, line):
        return b"every %g\n" % self.every


def test_a_server_context_makes_clients_as_the_server_does_and_ticks_to_them():
    server = FakeServerContext(Ticker)
    assert server.options == {"every": 0.5}  # the default through its type
    server.start()
    handler, client = server.client()
    assert client.feed(b"how often?\n") == b"every 0.5\n"
    server.clock.advance(1.0)
    assert client.take() == b"every 0.5\ntick\ntick\n"
    client.lose()
    assert server.connections == []
    server.stop()
    assert server.shared["beat"].cancelled() and server.clock.pending() == []


def test_a_server_context_checks_options_as_the_server_does():
    assert FakeServerContext(Ticker, every="2").options == {"every": 2.0}
    _, client = FakeServerContext(Ticker, every=0.25, max_message=8).client()
    assert client.feed(b"?\n") == b"every 0.25\n"
    with pytest.raises(evloop.ProtocolError, match="max-message 8"):
        client.feed(b"123456789")
    with pytest.raises(ValueError, match="handler option every"):
        FakeServerContext(Ticker, every="often")
    with pytest.raises(TypeError, match="Ticker declares no option tick"):
        FakeServerContext(Ticker, tick=1)


def test_a_server_context_says_why_it_stops_and_keeps_its_timers_while_it_retires():
    said = []

    class Farewell(Ticker):
        @classmethod
        def server_stopping(cls, server):
            said.append(server.stopping)

    server = FakeServerContext(Farewell)
    server.start()
    _, client = server.client()
    server.stop("retire")
    server.clock.advance(0.5)
    assert said == ["retire"] and client.take().endswith(b"tick\n")  # still ticking
    server.stop()  # the retiring worker's end: server_stopping is not told twice
    assert said == ["retire"] and server.clock.pending() == []
    with pytest.raises(ValueError, match="not 'reload'"):
        FakeServerContext(Farewell).stop("reload")
