"""evloop.server.server_context: work that belongs to the whole server (server_started,
server_stopping, the server-wide context's timers, connections and connect)."""

import logging
import signal
import socket
import time

import pytest

import evloop
from evloop import Config
from evloop.handlers.echo import EchoHandler
from tests.conftest import recv_until_eof
from tests.conftest import run_until

pytestmark = pytest.mark.timeout(30)


def read_lines(sock, count):
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(1024)
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data.split(b"\n")[:count]


def test_a_clock_ticks_to_every_client_and_goes_on_when_the_first_leaves(serve):
    server = serve("--handler", "userhandlers.clock:Clock", "--tick", "0.05",
                   "--idle-timeout", "0.2")
    first, second = server.connect(), server.connect()
    assert read_lines(first, 3)[0] == b"welcome"
    assert read_lines(second, 3)[0] == b"welcome"
    first.close()  # the clock rode on nobody's connection: it keeps going
    start = time.monotonic()
    ticks = read_lines(second, 10)
    assert len(ticks) == 10 and all(len(tick) == 8 and tick[2:3] == b":" for tick in ticks)
    assert time.monotonic() - start < 2  # no gap when a member leaves
    time.sleep(0.4)  # twice --idle-timeout: a listener is not cut off
    server.proc.send_signal(signal.SIGTERM)
    rest = recv_until_eof(second)
    assert rest.endswith(b"bye\n")  # server_stopping spoke before the close
    second.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


class Ticking(EchoHandler):
    fired = []

    @classmethod
    def server_started(cls, server):
        server.shared["started"] = True
        server.call_later(0, lambda: 1 / 0)  # a bug: logged, and nothing else lost
        server.call_later(0.01, cls.fired.append, "after the bug")

    @classmethod
    def server_stopping(cls, server):
        cls.fired.append(("stopping", len(server.connections)))


def test_server_wide_timers_run_and_a_raising_one_costs_only_itself(caplog):
    Ticking.fired = []
    with evloop.Server(Ticking, Config(port=0)) as server:
        with caplog.at_level(logging.ERROR, logger="evloop"):
            server.start()
            assert server.server_context.shared == {"started": True}
            run_until(server.loop, lambda: Ticking.fired)
        assert "Ticking: server-wide a call_later callback raised" in caplog.text
        assert Ticking.fired == ["after the bug"]
        server.call_later_after_stop = server.server_context.call_later(60, Ticking.fired.append,
                                                                        "never")
        server.shutdown()
        run_until(server.loop, lambda: len(Ticking.fired) == 2)
        assert Ticking.fired == ["after the bug", ("stopping", 0)]
        assert server.call_later_after_stop.cancelled()  # the server's timers stop with it


def test_the_server_wide_context_connects_and_sees_its_clients():
    with evloop.Server(EchoHandler, Config(port=0)) as server:
        server.start()
        got = bytearray()

        class Collect(evloop.Handler):
            def data_received(self, data):
                got.extend(data)
                return None

        context = server.server_context.connect(server.address, Collect())
        context.push(b"from the server itself")
        run_until(server.loop, lambda: bytes(got) == b"from the server itself")
        assert len(server.outbound) == 1 and len(server.connections) == 1
        assert [c.peer for c in server.server_context.connections] == [
            next(iter(server.connections)).peer]
        stats = server.stats()
        assert stats.outbound.open == 1 and stats.outbound.attempted == 1
        assert stats.connections_open == 1


def test_the_handler_s_options_reach_the_server_wide_context():
    from tests.userhandlers.clock import Clock
    with evloop.Server(Clock, Config(port=0, handler_options={"tick": 0.25})) as server:
        assert server.server_context.options == {"tick": 0.25}
    with evloop.Server(Clock, Config(port=0)) as server:
        assert server.server_context.options == {"tick": 1.0}  # the default


@pytest.mark.parametrize("offload", ["none", "thread"])
def test_server_wide_offload_gives_the_result_or_the_error(offload, caplog):
    with evloop.Server(EchoHandler, Config(port=0, offload=offload)) as server:
        server.start()
        wide, seen = server.server_context, []
        wide.offload(sum, [1, 2, 3], then=seen.append)
        wide.offload(int, "x", then=seen.append, error=lambda exc: seen.append(type(exc).__name__))
        run_until(server.loop, lambda: len(seen) == 2)
        assert sorted(map(str, seen)) == ["6", "ValueError"]
        if offload == "thread":  # without error=: reported, and nothing else lost
            with caplog.at_level(logging.ERROR, logger="evloop"):
                wide.offload(int, "x", then=seen.append)
                run_until(server.loop, lambda: "server-wide offloaded work raised" in caplog.text)
        else:
            with pytest.raises(ValueError):  # inline, the caller's own exception
                wide.offload(int, "x", then=seen.append)


class Told(EchoHandler):
    said = []

    @classmethod
    def server_started(cls, server):
        server.shared["beat"] = server.call_every(60, print)

    @classmethod
    def server_stopping(cls, server):
        cls.said.append((server.stopping, server.shared["beat"].cancelled()))


@pytest.mark.parametrize("how", ["shutdown", "retire"])
def test_server_stopping_is_told_once_whether_the_server_retires_or_shuts_down(how):
    Told.said = []
    with evloop.Server(Told, Config(port=0)) as server:
        server.start()
        wide = server.server_context
        assert wide.stopping is None
        client = socket.create_connection(server.address, timeout=10)
        run_until(server.loop, lambda: server.connections)
        server.retire(30) if how == "retire" else server.shutdown()
        assert Told.said == [(how, False)]  # told first, its timers still set
        assert wide.shared["beat"].cancelled() == (how == "shutdown")  # a retiree's run on
        client.close()  # the last client gone, a retiring server shuts down
        run_until(server.loop, lambda: wide.shared["beat"].cancelled())
        assert Told.said == [(how, False)] and wide.stopping == how
