"""Connections and servers: create_connection, create_server, their Unix twins, TLS.

These are asyncio's argument rules (the same errors for the same mistakes,
because programs and CPython's tests depend on them) over evloop's own
parts: `sock_connect` for the non-blocking connect, SocketTransport for the
bytes, Server for the listeners.

* create_connection resolves (numbers without a thread), then tries every
  address getaddrinfo gave, in order, each with its own socket; when all
  fail, the one error, or all of them in one OSError;
* create_server binds every address of every host it is given, with
  SO_REUSEADDR (and SO_REUSEPORT when asked), IPv6 sockets IPv6-only;
* TLS is asyncio's SSLProtocol over the plain transport (evloop.aio.tls),
  as BaseEventLoop and uvloop do; start_tls swaps it in
  under a running connection (evloop.aio.upgrades).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl as ssl_module
import stat
import sys
from collections.abc import Callable
from typing import Any

from evloop.aio.servers import Server
from evloop.aio.socks import Sockets
from evloop.aio.stream import SocketTransport
from evloop.aio.tls import tls_transport
from evloop.aio.transports import ProtocolFactory
from evloop.aio.transports import wait_made

# Python 3.13 removes a Unix server's socket file when the server closes (cleanup_socket);
# older Pythons leave it, and so does evloop.aio on them, unless asked.
CLEANS_UP = sys.version_info >= (3, 13)


def check_tls_arguments(ssl: Any, server_hostname: Any, handshake: Any, shutdown: Any) -> None:
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if handshake is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if shutdown is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def check_stream(sock: socket.socket, family: int | None = None) -> None:
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    if family is not None and sock.family != family:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


def one_error(exceptions: list[OSError]) -> OSError:
    """The error to raise when every address failed: asyncio's rule."""
    if len(exceptions) == 1:
        return exceptions[0]
    model = str(exceptions[0])
    if all(str(exc) == model for exc in exceptions):
        return exceptions[0]
    return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in exceptions)))


class Network(Sockets):
    """asyncio's connection, server and TLS methods."""

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
            sock = await self._connect_any(host, port, family, proto, flags, local_addr,
                                           all_errors)
        return await self._connection_transport(sock, protocol_factory, ssl, server_hostname,
                                                ssl_handshake_timeout, ssl_shutdown_timeout)

    async def _connect_any(self, host: Any, port: Any, family: int, proto: int, flags: int,
                           local_addr: Any, all_errors: bool) -> socket.socket:
        infos = await self._resolved((host, port), family=family, type=socket.SOCK_STREAM,
                                     proto=proto, flags=flags)
        local = None if local_addr is None else await self._resolved(
            local_addr, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags)
        exceptions: list[OSError] = []
        for family_, type_, proto_, _, address in infos:
            sock = socket.socket(family_, type_, proto_)
            try:
                sock.setblocking(False)
                if local is not None:
                    self._bind_local(sock, family_, local)
                await self.sock_connect(sock, address)
                return sock
            except OSError as exc:
                sock.close()
                exceptions.append(exc)
            except BaseException:
                sock.close()
                raise
        if all_errors and sys.version_info >= (3, 11):  # Python 3.12's argument
            raise ExceptionGroup("create_connection failed", exceptions)
        raise one_error(exceptions)

    def _bind_local(self, sock: socket.socket, family: int, local: list[Any]) -> None:
        errors = []
        for local_family, _, _, _, local_address in local:
            if local_family != family:
                continue
            try:
                sock.bind(local_address)
                return
            except OSError as exc:
                errors.append(OSError(exc.errno, f"error while attempting to bind on address "
                                                 f"{local_address!r}: {(exc.strerror or '').lower()}"))
        raise errors[0] if errors else OSError(f"no matching local address with family={family} found")

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

    def _serve_tls(self, conn: socket.socket, protocol: asyncio.BaseProtocol,
                   context: ssl_module.SSLContext, extra: dict[str, Any], server: Server) -> None:
        tls_transport(self, conn, protocol, context, None, True, None, extra, server,
                      server._ssl_handshake_timeout, server._ssl_shutdown_timeout)

    async def create_server(  # type: ignore[override]
            self, protocol_factory: ProtocolFactory, host: Any = None, port: Any = None, *,
            family: int = socket.AF_UNSPEC, flags: int = socket.AI_PASSIVE,
            sock: socket.socket | None = None, backlog: int = 100, ssl: Any = None,
            reuse_address: bool | None = None, reuse_port: bool | None = None,
            keep_alive: bool | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None, start_serving: bool = True) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_tls_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            sockets = await self._bind_all(host, port, family, flags, reuse_address, reuse_port,
                                           keep_alive)
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            check_stream(sock)
            sockets = [sock]
        for listener in sockets:
            listener.setblocking(False)
        server = Server(self, sockets, protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)  # let the listeners be watched before returning
        return server

    async def _bind_all(self, host: Any, port: Any, family: int, flags: int,
                        reuse_address: bool | None, reuse_port: bool | None,
                        keep_alive: bool | None) -> list[socket.socket]:
        if reuse_address is None:
            reuse_address = os.name == "posix"
        hosts = [None] if host == "" or host is None else (
            [host] if isinstance(host, str) or not hasattr(host, "__iter__") else list(host))
        infos: list[Any] = []
        for one in hosts:
            for info in await self._resolved((one, port), family=family,
                                             type=socket.SOCK_STREAM, flags=flags):
                if info not in infos:
                    infos.append(info)
        sockets: list[socket.socket] = []
        try:
            for family_, type_, proto, _, address in infos:
                try:
                    sock = socket.socket(family_, type_, proto)
                except OSError:
                    continue  # e.g. IPv6 compiled in but off here
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if keep_alive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                if family_ == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise OSError(exc.errno, f"error while attempting to bind on address "
                                             f"{address!r}: {(exc.strerror or '').lower()}"
                                  ) from None
            if not sockets:
                raise OSError(f"could not bind on any address out of {[i[4] for i in infos]!r}")
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return sockets

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
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
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
            start_serving: bool = True, cleanup_socket: bool = CLEANS_UP) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_tls_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if path[0] not in (0, "\x00"):  # not Linux's abstract namespace
                try:
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.remove(path)  # a stale socket file, as asyncio does
                except FileNotFoundError:
                    pass
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            check_stream(sock, socket.AF_UNIX)
        sock.setblocking(False)
        server = Server(self, [sock], protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout)
        if cleanup_socket:
            server._remove_at_close(sock)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
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
