"""evloop.aio's second level (evloop/aio/descriptors.py): readers and writers,
signals, the sock_* calls and name lookups.

Each test holds the loop to asyncio's documented argument rules and behaviour
(CPython's asyncio/selector_events.py and unix_events.py where the documentation
is silent).  Loopback and socketpairs only."""

import asyncio
import os
import signal
import socket
import ssl
import threading

import pytest

import evloop.aio
from evloop.aio import EventLoop
from tests.aio.kit import free_port
from tests.aio.kit import run

pytestmark = pytest.mark.timeout(30)


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


def test_signal_handler_argument_rules(loop):
    assert loop.remove_signal_handler(signal.SIGUSR2) is False  # never added
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(0x10000, print)
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.remove_signal_handler(-1)
    with pytest.raises(TypeError, match="sig must be an int"):
        loop.add_signal_handler("SIGINT", print)

    async def coroutine_function():
        pass
    with pytest.raises(TypeError, match="coroutines cannot be used"):
        loop.add_signal_handler(signal.SIGUSR1, coroutine_function)
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, print)


def test_a_signal_runs_its_handler_and_close_removes_it():
    loop = EventLoop()
    before = signal.getsignal(signal.SIGUSR1)
    try:
        heard = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, lambda *a: heard.set_result(a), "arg")
        os.kill(os.getpid(), signal.SIGUSR1)
        assert loop.run_until_complete(asyncio.wait_for(heard, 10)) == ("arg",)
    finally:
        loop.close()  # removes the handler, as asyncio's unix loop does
    assert signal.getsignal(signal.SIGUSR1) == before


def test_add_signal_handler_from_another_thread_is_a_runtime_error(loop):
    errors = []

    def other():
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except RuntimeError as exc:
            errors.append(exc)
    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1


def test_getnameinfo_and_getaddrinfo():
    async def main():
        loop = asyncio.get_running_loop()
        name = await loop.getnameinfo(("127.0.0.1", 80),
                                      socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
        infos = await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        return name, infos
    name, infos = run(main())
    assert name == ("127.0.0.1", "80")
    assert infos == socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)


def test_the_sock_calls_wait_when_they_would_block():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            listener.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            client = socket.socket()
            client.setblocking(False)
            await loop.sock_connect(client, listener.getsockname())
            conn, address = await accepting
        with client, conn:
            assert address == client.getsockname() and conn.gettimeout() == 0
            receiving = asyncio.ensure_future(loop.sock_recv(conn, 5))
            into = bytearray(5)
            receiving_into = asyncio.ensure_future(loop.sock_recv_into(client, into))
            await asyncio.sleep(0)
            await loop.sock_sendall(client, b"hello")
            await loop.sock_sendall(conn, b"world")
            big = os.urandom(8 * 1024 * 1024)  # more than the kernel holds: sendall waits
            sending = asyncio.ensure_future(loop.sock_sendall(client, big))
            got = await receiving, await receiving_into, bytes(into)
            received = bytearray()
            while len(received) < len(big):
                received += await loop.sock_recv(conn, 1024 * 1024)
            await sending
        return got, received == big
    assert run(main()) == ((b"hello", 5, b"world"), True)


def test_udp_sock_calls():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket(type=socket.SOCK_DGRAM) as a, \
                socket.socket(type=socket.SOCK_DGRAM) as b:
            for sock in (a, b):
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            waiting = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0)
            assert await loop.sock_sendto(a, b"one", b.getsockname()) == 3
            first = await waiting
            buf = bytearray(10)
            waiting_into = asyncio.ensure_future(loop.sock_recvfrom_into(b, buf))
            await asyncio.sleep(0)
            await loop.sock_sendto(a, b"two", b.getsockname())
            second = await waiting_into
            sender = a.getsockname()
        return first, second, bytes(buf[:3]), sender
    first, second, data, sender = run(main())
    assert first == (b"one", sender) and second == (3, sender) and data == b"two"


def test_sock_call_errors():
    async def main():
        loop = asyncio.get_running_loop()
        client = socket.socket()
        client.setblocking(False)
        with client:
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(client, ("127.0.0.1", free_port()))
        a, b = socket.socketpair()
        a.setblocking(False)
        with a:
            receiving = asyncio.ensure_future(loop.sock_recv(a, 10))
            await asyncio.sleep(0)
            receiving.cancel()  # a cancelled recv leaves no reader behind
            await asyncio.wait([receiving])
            assert receiving.cancelled()
            left = loop.remove_reader(a), loop.remove_writer(a)  # was anything still watched?
            b.close()
            assert await loop.sock_recv(a, 10) == b""
            with pytest.raises(BrokenPipeError):
                await loop.sock_sendall(a, b"x" * (8 * 1024 * 1024))
        context = ssl.create_default_context()
        with context.wrap_socket(socket.socket(), do_handshake_on_connect=False,
                                 server_hostname="x") as wrapped:
            with pytest.raises(TypeError, match="SSLSocket"):
                await loop.sock_recv(wrapped, 1)
        return left
    assert run(main()) == (False, False)


def test_in_debug_mode_a_blocking_socket_is_refused():
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as blocking:
            with pytest.raises(ValueError, match="must be non-blocking"):
                await loop.sock_recv(blocking, 1)
    run(main(), debug=True)
