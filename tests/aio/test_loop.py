"""evloop.aio: asyncio programs on evloop's loop (the package's public face).

CPython's own asyncio suites run against the loop in tests/features/test_conformance.py;
these tests check what a program meets first, on loopback only."""

import asyncio
import contextvars
import os
import signal
import socket
import sys

import pytest

import evloop.aio
from evloop.aio import EventLoop

pytestmark = pytest.mark.timeout(30)


async def upper(reader, writer):
    while data := await reader.read(100):
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_a_streams_server_and_client_run_on_it():
    async def main():
        loop = asyncio.get_running_loop()
        assert type(loop) is EventLoop
        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        await writer.drain()
        got = await reader.readexactly(5)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return got
    assert evloop.aio.run(main()) == b"HELLO"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is Python 3.11's")
def test_asyncio_runner_takes_it_as_its_loop_factory():
    async def which():
        return type(asyncio.get_running_loop())
    with asyncio.Runner(loop_factory=evloop.aio.new_event_loop) as runner:
        assert runner.run(which()) is EventLoop


def test_the_policy_makes_its_loops():
    policy = evloop.aio.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, EventLoop)
    finally:
        loop.close()


def test_callbacks_run_in_their_context_and_timers_cancel():
    loop = evloop.aio.new_event_loop()
    var = contextvars.ContextVar("var", default="outside")
    seen = []
    try:
        context = contextvars.copy_context()
        context.run(var.set, "inside")
        loop.call_soon(lambda: seen.append(var.get()), context=context)
        dropped = loop.call_later(0.01, seen.append, "cancelled")
        dropped.cancel()
        loop.call_later(0.02, seen.append, "timer")
        loop.call_later(0.03, loop.stop)
        loop.run_forever()
        assert seen == ["inside", "timer"]
        assert dropped.cancelled()
    finally:
        loop.close()
    assert loop.is_closed()


def test_a_raising_callback_reaches_the_exception_handler_and_the_loop_goes_on():
    loop = evloop.aio.new_event_loop()
    reports = []
    loop.set_exception_handler(lambda lp, context: reports.append((lp, context)))
    try:
        loop.call_soon(lambda: 1 / 0)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert len(reports) == 1
        reported_loop, context = reports[0]
        assert reported_loop is loop
        assert isinstance(context["exception"], ZeroDivisionError)
        assert context["message"].startswith("Exception in callback")
    finally:
        loop.close()


def test_readers_take_arguments_and_report_removal():
    loop = evloop.aio.new_event_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    got = loop.create_future()
    try:
        loop.add_reader(a, lambda sock, tag: got.set_result((tag, sock.recv(10))), a, "r")
        b.send(b"x")
        assert loop.run_until_complete(got) == ("r", b"x")
        assert loop.remove_reader(a) is True
        assert loop.remove_reader(a) is False
    finally:
        a.close(), b.close(), loop.close()


@pytest.mark.parametrize("new_loop", [evloop.aio.new_event_loop, asyncio.SelectorEventLoop])
def test_callbacks_queued_before_the_loop_runs_go_ahead_of_its_first_poll(new_loop):
    # asyncio's order, which programs rely on: a task started before run_until_complete
    # takes its first step before a datagram already waiting is handed to a protocol.
    loop = new_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    order = []
    try:
        loop.add_reader(a, lambda: order.append(("reader", a.recv(10))))
        b.send(b"x")  # readable before the loop first polls
        loop.call_soon(order.append, "queued")
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert order == ["queued", ("reader", b"x")]
    finally:
        a.close(), b.close(), loop.close()


def test_a_signal_handler_runs_in_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        os.kill(os.getpid(), signal.SIGUSR1)
        result = await asyncio.wait_for(got, 5)
        assert loop.remove_signal_handler(signal.SIGUSR1)
        return result
    assert evloop.aio.run(main()) == "usr1"
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_a_refused_connection_raises_as_asyncio_does():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
    evloop.aio.run(main())


def test_bad_arguments_get_asyncio_s_errors():
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, server_hostname="x")
        with pytest.raises(ValueError, match="host and port was not specified"):
            await loop.create_connection(asyncio.Protocol)
        with pytest.raises(TypeError, match="ssl argument must be an SSLContext"):
            await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=True)
        with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
            loop.set_debug(True)
            loop.call_soon(upper)
    evloop.aio.run(main())


def test_close_clients_ends_the_server_s_connections():
    async def main():
        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"a")
        assert await reader.readexactly(1) == b"A"
        server.close()
        server.close_clients()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await asyncio.wait_for(server.wait_closed(), 5)
        writer.close()
    evloop.aio.run(main())


def test_a_protocol_that_raises_costs_its_connection_only():
    class Broken(asyncio.Protocol):
        def data_received(self, data):
            raise RuntimeError("handler bug")

    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda lp, context: reports.append(context))
        broken = await loop.create_server(Broken, "127.0.0.1", 0)
        fine = await asyncio.start_server(upper, "127.0.0.1", 0)
        r1, w1 = await asyncio.open_connection(*broken.sockets[0].getsockname())
        w1.write(b"boom")
        assert await asyncio.wait_for(r1.read(), 5) == b""  # that one is closed
        r2, w2 = await asyncio.open_connection(*fine.sockets[0].getsockname())
        w2.write(b"ok")
        assert await r2.readexactly(2) == b"OK"  # the loop serves on
        assert [c["message"] for c in reports] == [
            "Fatal error: protocol.data_received() call failed."]
        for w in (w1, w2):
            w.close()
        for s in (broken, fine):
            s.close()
    evloop.aio.run(main())
