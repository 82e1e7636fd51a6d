"""The listening Server (evloop/aio/servers.py): accepting, serving, closing,
its clients, and a Unix server's socket file.

Loopback and Unix sockets in tmp_path only; every server made is closed before
its test ends."""

import asyncio
import errno
import os
import socket
import sys

import pytest

import evloop.aio
import evloop.aio.servers
from tests.aio.kit import Echo
from tests.aio.kit import Tracker
from tests.aio.kit import echo_once
from tests.aio.kit import run
from tests.aio.kit import upper

pytestmark = pytest.mark.timeout(30)


def test_a_server_on_a_given_socket_started_later():
    async def main():
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await loop.create_server(Echo, sock=sock, start_serving=False)
        assert not server.is_serving() and server.get_loop() is loop
        assert "sockets=" in repr(server)
        await server.start_serving()
        await server.start_serving()  # serving already: nothing
        assert server.is_serving()
        reply = await echo_once(sock.getsockname())
        server.close()
        server.close()  # twice is once
        await server.wait_closed()
        await server.wait_closed()
        return reply, server.sockets, server.is_serving()
    assert run(main()) == (b"PING", (), False)


def test_serve_forever_cancelled_closes_the_server():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        address = server.sockets[0].getsockname()
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already being awaited on serve_forever"):
            await server.serve_forever()
        reply = await echo_once(address)
        serving.cancel()
        await asyncio.wait([serving])  # (not awaited itself: a timeout's cancel would hide)
        assert serving.cancelled()
        closed = not server.is_serving() and server.sockets == ()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*address)
        return reply, closed
    assert run(main()) == (b"PING", True)


def test_closing_a_server_ends_serve_forever_and_wait_closed_waits_for_its_clients():
    async def main():
        loop = asyncio.get_running_loop()
        made = []
        server = await loop.create_server(lambda: made.append(Tracker()) or made[-1],
                                          "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        serving = asyncio.ensure_future(server.serve_forever())
        clients = [await asyncio.open_connection(*address) for _ in range(2)]
        while len(made) < 2:
            await asyncio.sleep(0.01)
        await asyncio.gather(*(p.made for p in made))
        server.close()  # serve_forever ends, waiting (as wait_closed does) for the clients
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        still_waiting = not waiting.done() and not serving.done()  # two clients still open
        server.close_clients()
        await waiting
        assert serving.cancelled()
        lost = [await p.lost for p in made]
        for _, writer in clients:
            writer.close()
            await writer.wait_closed()
        return still_waiting, lost
    still_waiting, lost = run(main())
    # From 3.12.1 wait_closed waits for the clients, before it returns as soon as closed.
    assert still_waiting == (evloop.aio.servers.WAIT_CLOSED == "both") and lost == [None, None]


def wait_closed_once_a_client_came_and_went(new_loop):
    """The program the issue found hanging: a streams server whose handler returns
    without closing its writer, a client that connects and leaves, then close()
    and wait_closed().  'returned', or 'waits' (still waiting after half a second)."""
    kept = []  # the writers: from 3.13 a StreamWriter closes its transport when collected

    async def main():
        async def handle(reader, writer):
            kept.append(writer)  # returns, and leaves its writer open

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), 0.5)
            return "returned"
        except asyncio.TimeoutError:
            return "waits"

    loop = new_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_wait_closed_does_what_the_running_python_s_asyncio_does():
    on_asyncio = wait_closed_once_a_client_came_and_went(asyncio.SelectorEventLoop)
    on_evloop = wait_closed_once_a_client_came_and_went(evloop.aio.new_event_loop)
    assert on_evloop == on_asyncio
    assert on_asyncio == ("waits" if sys.version_info >= (3, 12, 1) else "returned")


def test_abort_clients_aborts_each_connection():
    async def main():
        loop = asyncio.get_running_loop()
        made = []
        async with await loop.create_server(lambda: made.append(Tracker()) or made[-1],
                                            "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            while not made:
                await asyncio.sleep(0.01)
            await made[0].made
            server.abort_clients()
            lost = await made[0].lost
            eof = await reader.read()
            writer.close()
            await writer.wait_closed()
        return lost, eof, server.is_serving()
    assert run(main()) == (None, b"", False)  # async with closed it


def test_a_protocol_factory_that_raises_is_reported_and_the_server_goes_on():
    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda _, context: contexts.append(context))
        factories = iter([lambda: 1 / 0, Echo])
        server = await loop.create_server(lambda: next(factories)(), "127.0.0.1", 0)
        async with server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address)
            refused = await reader.read()
            writer.close()
            await writer.wait_closed()
            reply = await echo_once(address)
        return contexts, refused, reply
    contexts, refused, reply = run(main())
    assert [c["message"] for c in contexts] == [
        "Error on transport creation for incoming connection"]
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)
    assert refused == b"" and reply == b"PING"


class OutOfDescriptorsOnce(socket.socket):
    """A listener whose first accept() fails as a process out of descriptors does."""

    failed = False

    def accept(self):
        if not type(self).failed:
            type(self).failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_accept_out_of_descriptors_is_reported_and_retried(monkeypatch):
    monkeypatch.setattr(evloop.aio.servers, "ACCEPT_RETRY_DELAY", 0.01)

    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda _, context: contexts.append(context))
        listener = OutOfDescriptorsOnce()
        listener.bind(("127.0.0.1", 0))
        async with await loop.create_server(Echo, sock=listener) as server:
            reply = await echo_once(server.sockets[0].getsockname())
        return contexts, reply
    contexts, reply = run(main())
    assert [c["message"] for c in contexts] == ["socket.accept() out of system resource"]
    assert contexts[0]["exception"].errno == errno.EMFILE
    assert reply == b"PING"  # accepted after the pause


def test_a_unix_servers_socket_file_is_removed_at_close_unless_replaced(tmp_path):
    """cleanup_socket (Python 3.13's, by default there; asked for here on every Python)."""
    removed, replaced, kept = (str(tmp_path / name) for name in ("a.sock", "b.sock", "c.sock"))

    async def main():
        loop = asyncio.get_running_loop()
        first = await loop.create_unix_server(Echo, removed, cleanup_socket=True)
        second = await loop.create_unix_server(Echo, replaced, cleanup_socket=True)
        third = await loop.create_unix_server(Echo, kept, cleanup_socket=False)
        os.unlink(replaced)
        with open(replaced, "w") as other:  # another file took the path since
            other.write("not ours")
        assert os.path.exists(removed)
        for server in (first, second, third):
            server.close()
            await server.wait_closed()
    run(main())
    assert not os.path.exists(removed)
    assert open(replaced).read() == "not ours"  # the inode differs: left alone
    assert os.path.exists(kept)


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
