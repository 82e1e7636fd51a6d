"""evloop.aio.EventLoop (evloop/aio/loop.py): the calls that make transports, held
to asyncio's argument rules and errors.

The work each call hands on has a test file of its own (test_connecting,
test_servers, test_tls, test_sendfile, test_datagram, test_pipes,
test_subprocesses); here are the rules of the calls themselves, and the shape
of the class."""

import asyncio
import os
import socket
import ssl
import sys

import pytest

import evloop.aio
from evloop.aio import EventLoop
from evloop.aio.base import BaseEventLoop
from evloop.aio.descriptors import DescriptorEventLoop
from tests.aio.kit import Echo
from tests.aio.kit import Tracker
from tests.aio.kit import run
from tests.aio.kit import upper

pytestmark = pytest.mark.timeout(30)


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


def test_create_connection_argument_rules():
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_connection(Tracker, "127.0.0.1", 1, server_hostname="x")
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful"):
            await loop.create_connection(Tracker, "127.0.0.1", 1, ssl_handshake_timeout=1)
        with pytest.raises(ValueError, match="ssl_shutdown_timeout is only meaningful"):
            await loop.create_connection(Tracker, "127.0.0.1", 1, ssl_shutdown_timeout=1)
        with pytest.raises(ValueError, match="You must set server_hostname"):
            await loop.create_connection(Tracker, ssl=True, sock=socket.socket())
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock"):
                await loop.create_connection(Tracker, "127.0.0.1", 1, sock=sock)
        with socket.socket(type=socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.create_connection(Tracker, sock=sock)
        with pytest.raises(ValueError, match="host and port was not specified"):
            await loop.create_connection(Tracker)
    run(main())


def test_unix_argument_rules(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
            with pytest.raises(ValueError, match="path and sock"):
                await loop.create_unix_server(Echo, str(tmp_path / "x"), sock=unix)
            with pytest.raises(ValueError, match="path was not specified"):
                await loop.create_unix_server(Echo)
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_server(Echo, sock=tcp)
            with pytest.raises(TypeError, match="ssl argument"):
                await loop.create_unix_server(Echo, str(tmp_path / "x"), ssl=True)
            with pytest.raises(ValueError, match="path and sock"):
                await loop.create_unix_connection(Tracker, str(tmp_path / "x"), sock=unix)
            with pytest.raises(ValueError, match="no path and sock"):
                await loop.create_unix_connection(Tracker)
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_connection(Tracker, sock=tcp)
            with pytest.raises(ValueError, match="you have to pass server_hostname"):
                await loop.create_unix_connection(Tracker, str(tmp_path / "x"),
                                                  ssl=ssl.create_default_context())
            with pytest.raises(ValueError, match="server_hostname is only meaningful"):
                await loop.create_unix_connection(Tracker, str(tmp_path / "x"),
                                                  server_hostname="x")
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(Tracker, str(tmp_path / "nobody"))
    run(main())


def test_a_unix_server_on_a_given_socket_and_an_accepted_socket(tmp_path):
    path = str(tmp_path / "given.sock")

    async def main():
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        async with await loop.create_unix_server(Echo, sock=sock):
            client = socket.socket(socket.AF_UNIX)
            client.connect(path)
            transport, protocol = await loop.create_unix_connection(Tracker, sock=client)
            transport.write(b"abc")
            while len(protocol.data) < 3:
                await asyncio.sleep(0.01)
            transport.close()
            await protocol.lost
            upper = bytes(protocol.data)
        ours, theirs = socket.socketpair()
        with theirs:
            transport, protocol = await loop.connect_accepted_socket(Echo, ours)
            theirs.sendall(b"xyz")
            theirs.setblocking(False)
            echoed = await loop.sock_recv(theirs, 3)
            transport.close()
        return upper, echoed
    assert run(main()) == (b"ABC", b"XYZ")


def test_create_unix_server_cleans_up_by_default_where_python_does(tmp_path):
    path = str(tmp_path / "s.sock")

    async def main():
        server = await asyncio.get_running_loop().create_unix_server(Echo, path)
        server.close()
        await server.wait_closed()
    run(main())
    assert os.path.exists(path) == (sys.version_info < (3, 13))


def test_the_loop_is_three_classes_deep_and_each_level_is_its_own_module():
    ours = [kind for kind in EventLoop.__mro__ if kind.__module__.startswith("evloop.")]
    assert ours == [EventLoop, DescriptorEventLoop, BaseEventLoop]
    assert [kind.__module__ for kind in ours] == [
        "evloop.aio.loop", "evloop.aio.descriptors", "evloop.aio.base"]
    assert BaseEventLoop.__bases__ == (asyncio.AbstractEventLoop,)
