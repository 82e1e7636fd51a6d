"""evloop.aio.EventLoop: every call of asyncio's loop that makes a transport.

The loop is three classes, as asyncio's own is (BaseEventLoop,
BaseSelectorEventLoop, _UnixSelectorEventLoop), each a level of what a
method does, over one evloop Loop:

1. evloop.aio.base.BaseEventLoop: the scheduler and its life (callbacks,
   timers, futures, tasks, running, closing, errors, debug mode);
2. evloop.aio.descriptors.DescriptorEventLoop: the kernel outside
   transports (readers, writers, signals, the `sock_*` calls, names, the
   default executor);
3. this module's EventLoop, the class users make: connections, servers,
   TLS, sendfile, datagrams, pipes and subprocesses.

A method here keeps asyncio's signature and argument rules, and hands the
work (and the rules that belong to it) to the module named for it, none of
which imports a loop class:
evloop.aio.connecting (resolving, connecting, binding), .stream and .tls
(the transports, TLS as asyncio's SSLProtocol over the stream transport,
as BaseEventLoop and uvloop do), .servers, .sendfile, .datagram, .pipes
and .subprocesses.  Each call waits for its protocol's connection_made
before it returns, and closes the transport if that fails or the caller
is cancelled (`transports.wait_made`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl as ssl_module
import sys
from asyncio import constants
from typing import Any

from evloop.aio.connecting import bind_all
from evloop.aio.connecting import bind_unix
from evloop.aio.connecting import check_stream
from evloop.aio.connecting import check_tls_arguments
from evloop.aio.connecting import connect_any
from evloop.aio.connecting import connect_unix
from evloop.aio.datagram import DatagramTransport
from evloop.aio.datagram import UNSET
from evloop.aio.datagram import endpoint_socket
from evloop.aio.descriptors import DescriptorEventLoop
from evloop.aio.pipes import ReadPipeTransport
from evloop.aio.pipes import WritePipeTransport
from evloop.aio.sendfile import by_writing
from evloop.aio.sendfile import check_range
from evloop.aio.sendfile import from_transport
from evloop.aio.servers import AsyncioServer
from evloop.aio.stream import SocketTransport
from evloop.aio.subprocesses import ChildWatcher
from evloop.aio.subprocesses import PIPE
from evloop.aio.subprocesses import SubprocessTransport
from evloop.aio.subprocesses import check_popen_arguments
from evloop.aio.subprocesses import spawn
from evloop.aio.tls import tls_transport
from evloop.aio.tls import upgrade
from evloop.aio.transports import ProtocolFactory
from evloop.aio.transports import wait_made
from evloop.loop.base import BaseLoop

__all__ = ["EventLoop"]

# Python 3.13 removes a Unix server's socket file when the server closes (cleanup_socket);
# older Pythons leave it, and so does evloop.aio on them, unless asked.
CLEANS_UP = sys.version_info >= (3, 13)


class EventLoop(DescriptorEventLoop):
    """An asyncio event loop on evloop's Loop.  Make one with
    `evloop.aio.new_event_loop()`, or run a coroutine with `evloop.aio.run()`."""

    def __init__(self, selector: str | BaseLoop = "auto") -> None:
        self._children = ChildWatcher(self)
        super().__init__(selector)

    def _release(self) -> None:
        super()._release()
        self._children.close()

    # -- streams: connections and servers ------------------------------------------------

    async def create_connection(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, host: Any = None, port: Any = None, *,
            ssl: Any = None, family: int = 0, proto: int = 0, flags: int = 0,
            sock: socket.socket | None = None, local_addr: Any = None,
            server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None, happy_eyeballs_delay: float | None = None,
            interleave: int | None = None, all_errors: bool = False
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        check_tls_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        if server_hostname is None and ssl:
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        if sock is not None:
            if host is not None or port is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            check_stream(sock)
        else:
            if host is None and port is None:
                raise ValueError("host and port was not specified and no sock specified")
            sock = await connect_any(self, host, port, family, proto, flags,
                                                local_addr, all_errors)
        return await self._connection_transport(sock, protocol_factory, ssl, server_hostname,
                                                ssl_handshake_timeout, ssl_shutdown_timeout)

    async def _connection_transport(self, sock: socket.socket, protocol_factory: ProtocolFactory,
                                    ssl: Any, server_hostname: str | None,
                                    handshake_timeout: float | None,
                                    shutdown_timeout: float | None, server_side: bool = False
                                    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        sock.setblocking(False)
        protocol = protocol_factory()
        waiter = self.create_future()
        if ssl:
            context = ssl if isinstance(ssl, ssl_module.SSLContext) else \
                ssl_module.create_default_context()
            transport = tls_transport(self, sock, protocol, context, waiter, server_side,
                                      server_hostname, {}, None, handshake_timeout,
                                      shutdown_timeout)
        else:
            transport = SocketTransport(self, sock, protocol, waiter)
        await wait_made(transport, waiter)
        return transport, protocol

    async def create_server(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, host: Any = None, port: Any = None, *,
            family: int = socket.AF_UNSPEC, flags: int = socket.AI_PASSIVE,
            sock: socket.socket | None = None, backlog: int = 100, ssl: Any = None,
            reuse_address: bool | None = None, reuse_port: bool | None = None,
            keep_alive: bool | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None, start_serving: bool = True) -> AsyncioServer:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_tls_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            sockets = await bind_all(self, host, port, family, flags, reuse_address,
                                                reuse_port, keep_alive)
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            check_stream(sock)
            sockets = [sock]
        for listener in sockets:
            listener.setblocking(False)
        server = AsyncioServer(self, sockets, protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout)
        if start_serving:
            await server.start_serving()  # the listeners are watched before it returns
        return server

    async def create_unix_connection(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, path: str | None = None, *, ssl: Any = None,
            sock: socket.socket | None = None, server_hostname: str | None = None,
            ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            check_tls_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            sock = await connect_unix(self, os.fspath(path))
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            check_stream(sock, socket.AF_UNIX)
        return await self._connection_transport(sock, protocol_factory, ssl, server_hostname,
                                                ssl_handshake_timeout, ssl_shutdown_timeout)

    async def create_unix_server(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, path: str | None = None, *,
            sock: socket.socket | None = None, backlog: int = 100, ssl: Any = None,
            ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True, cleanup_socket: bool = CLEANS_UP) -> AsyncioServer:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_tls_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            sock = bind_unix(os.fspath(path))
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            check_stream(sock, socket.AF_UNIX)
        sock.setblocking(False)
        server = AsyncioServer(self, [sock], protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout, cleanup_socket)
        if start_serving:
            await server.start_serving()
        return server

    async def connect_accepted_socket(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, sock: socket.socket, *, ssl: Any = None,
            ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        check_stream(sock)
        check_tls_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        return await self._connection_transport(sock, protocol_factory, ssl, None,
                                                ssl_handshake_timeout, ssl_shutdown_timeout,
                                                server_side=True)

    # -- what a connected transport can be handed: TLS, or a file ------------------------------

    async def start_tls(
            self, transport: asyncio.BaseTransport, protocol: asyncio.BaseProtocol,
            sslcontext: ssl_module.SSLContext, *, server_side: bool = False,
            server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None) -> asyncio.Transport:
        return await upgrade(self, transport, protocol, sslcontext, server_side,
                                 server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)

    async def sendfile(self, transport: asyncio.WriteTransport, file: Any, offset: int = 0,
                       count: int | None = None, *, fallback: bool = True) -> int:
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", None)
        if mode is None or mode == constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        check_range(offset, count)
        if isinstance(transport, SocketTransport):
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except asyncio.SendfileNotAvailableError:
                if not fallback:
                    raise
        elif not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not supported "
                               f"for transport {transport!r}")
        return await by_writing(self, transport, file, offset, count)

    async def _sendfile_native(self, transport: SocketTransport, file: Any, offset: int,
                               count: int | None) -> int:
        # BaseEventLoop's name and arguments for this step: CPython's tests replace it
        # with one that raises SendfileNotAvailableError, to drive the fallback.
        return await from_transport(self, transport, file, offset, count)

    # -- datagrams, pipes, subprocesses ----------------------------------------------------------

    async def create_datagram_endpoint(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, local_addr: Any = None,
            remote_addr: Any = None, *, family: int = 0, proto: int = 0, flags: int = 0,
            reuse_address: Any = UNSET, reuse_port: bool | None = None,
            allow_broadcast: bool | None = None, sock: socket.socket | None = None
    ) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
        sock, r_addr = await endpoint_socket(
            self, sock, local_addr, remote_addr, family=family, proto=proto, flags=flags,
            reuse_address=reuse_address, reuse_port=reuse_port, allow_broadcast=allow_broadcast)
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = DatagramTransport(self, sock, protocol, r_addr, waiter)
        await wait_made(transport, waiter)
        return transport, protocol

    async def connect_read_pipe(self, protocol_factory: ProtocolFactory, pipe: Any  # type: ignore[override]
                                ) -> tuple[asyncio.ReadTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(ReadPipeTransport, protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory: ProtocolFactory, pipe: Any  # type: ignore[override]
                                 ) -> tuple[asyncio.WriteTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(WritePipeTransport, protocol_factory, pipe)

    async def _connect_pipe(self, kind: type[Any], protocol_factory: ProtocolFactory,
                            pipe: Any) -> tuple[Any, asyncio.BaseProtocol]:
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = kind(self, pipe, protocol, waiter)
        await wait_made(transport, waiter)
        return transport, protocol

    async def subprocess_shell(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, cmd: str | bytes, *,
            stdin: Any = PIPE, stdout: Any = PIPE, stderr: Any = PIPE,
            universal_newlines: bool = False, shell: bool = True, bufsize: int = 0,
            encoding: str | None = None, errors: str | None = None, text: bool | None = None,
            **kwargs: Any) -> tuple[asyncio.SubprocessTransport, asyncio.BaseProtocol]:
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        check_popen_arguments(True, universal_newlines, shell, bufsize, text,
                                           encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(protocol, cmd, True, stdin, stdout,
                                                          stderr, bufsize, **kwargs)
        return transport, protocol

    async def subprocess_exec(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, program: Any,
            *args: Any, stdin: Any = PIPE, stdout: Any = PIPE, stderr: Any = PIPE,
            universal_newlines: bool = False, shell: bool = False, bufsize: int = 0,
            encoding: str | None = None, errors: str | None = None, text: bool | None = None,
            **kwargs: Any) -> tuple[asyncio.SubprocessTransport, asyncio.BaseProtocol]:
        check_popen_arguments(False, universal_newlines, shell, bufsize, text,
                                           encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(protocol, (program, *args), False,
                                                          stdin, stdout, stderr, bufsize,
                                                          **kwargs)
        return transport, protocol

    async def _make_subprocess_transport(  # asyncio's name: CPython's tests call it
            self, protocol: Any, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any,
            bufsize: int, extra: Any = None, **kwargs: Any) -> SubprocessTransport:
        return await spawn(self, self._children, protocol, args, shell, stdin,
                                        stdout, stderr, bufsize, extra, **kwargs)
