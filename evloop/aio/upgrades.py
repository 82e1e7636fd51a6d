"""What a connected transport can be handed: TLS under it, or a file to send.

* `start_tls` puts asyncio's SSLProtocol between a running transport and
  its protocol: reading pauses, the protocol is swapped, the handshake runs
  on the same socket, and the TLS transport comes back;
* `sendfile` sends with os.sendfile() from the kernel's page cache when the
  transport is a plain socket (after its buffer drains, with reading
  paused), else reads the file and writes it, waiting whenever the
  transport says pause_writing (a stand-in protocol hears it);
  `sock_sendfile` does the same on a bare socket.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl as ssl_module
from asyncio import constants
from typing import Any

from evloop.aio.network import Network
from evloop.aio.stream import SocketTransport
from evloop.aio.tls import tls_protocol


class _FlowWatcher(asyncio.Protocol):
    """Stands in for a protocol during a sendfile fallback, to follow pause/resume."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.protocol = transport.get_protocol()
        self.should_resume_reading = transport.is_reading()
        self.should_resume_writing = getattr(transport, "_protocol_paused", False)
        transport.pause_reading()
        transport.set_protocol(self)
        self.writable: asyncio.Future[None] | None = None

    async def drain(self) -> None:
        if self.transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self.writable is not None:
            await self.writable

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = self.transport._loop.create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_exception(exc or ConnectionError("Connection is closed by peer"))
        self.protocol.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("Invalid state: connection should have been paused")

    def eof_received(self) -> bool | None:
        raise RuntimeError("Invalid state: connection should have been paused")

    def restore(self) -> None:
        self.transport.set_protocol(self.protocol)
        if self.should_resume_reading:
            self.transport.resume_reading()
        if self.should_resume_writing:
            self.protocol.resume_writing()


class Upgrades(Network):
    """asyncio's start_tls and sendfile."""

    async def start_tls(
            self, transport: asyncio.BaseTransport, protocol: asyncio.BaseProtocol,
            sslcontext: ssl_module.SSLContext, *, server_side: bool = False,
            server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None) -> asyncio.Transport:
        if not isinstance(sslcontext, ssl_module.SSLContext):
            raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, "
                            f"got {sslcontext!r}")
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        waiter = self.create_future()
        tls = tls_protocol(self, protocol, sslcontext, waiter, server_side, server_hostname,
                           ssl_handshake_timeout, ssl_shutdown_timeout,
                           call_connection_made=False)
        transport.pause_reading()  # type: ignore[attr-defined]
        transport.set_protocol(tls)
        made = self.call_soon(tls.connection_made, transport)
        resumed = self.call_soon(transport.resume_reading)  # type: ignore[attr-defined]
        try:
            await waiter
        except BaseException:
            transport.close()
            made.cancel()
            resumed.cancel()
            raise
        return tls._app_transport

    async def sendfile(self, transport: asyncio.WriteTransport, file: Any, offset: int = 0,
                       count: int | None = None, *, fallback: bool = True) -> int:
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", None)
        if mode is None or mode == constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if count is not None and (not isinstance(count, int) or count <= 0):
            raise ValueError(f"count must be a positive integer (got {count!r})")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
        if isinstance(transport, SocketTransport):
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except asyncio.SendfileNotAvailableError:
                if not fallback:
                    raise
        elif not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not supported "
                               f"for transport {transport!r}")
        return await self._sendfile_writing(transport, file, offset, count)

    async def _sendfile_native(self, transport: SocketTransport, file: Any, offset: int,
                            count: int | None) -> int:
        # BaseEventLoop's name and arguments for this step: CPython's tests replace it
        # with one that raises SendfileNotAvailableError, to drive the fallback.
        try:
            fileno = file.fileno()
            os.fstat(fileno)
        except (AttributeError, OSError, ValueError) as exc:
            raise asyncio.SendfileNotAvailableError("not a regular file") from exc
        sock = transport._sock
        if sock is None:
            raise RuntimeError("Transport is closing")
        resume = transport.is_reading()
        transport.pause_reading()
        await transport._flushed()
        try:
            return await self._sendfile_by_kernel(sock, file, fileno, offset, count)
        finally:
            transport._flushed_done()
            if resume:
                transport.resume_reading()

    async def _sendfile_writing(self, transport: Any, file: Any, offset: int,
                                count: int | None) -> int:
        if offset:
            file.seek(offset)
        watcher = _FlowWatcher(transport)
        sent = 0
        try:
            while count is None or sent < count:
                await watcher.drain()
                block = 16 * 1024 if count is None else min(16 * 1024, count - sent)
                data = await self.run_in_executor(None, file.read, block)
                if not data:
                    break
                transport.write(data)
                sent += len(data)
            await watcher.drain()
            return sent
        finally:
            if sent:
                file.seek(offset + sent)
            watcher.restore()

    async def sock_sendfile(self, sock: socket.socket, file: Any, offset: int = 0,
                            count: int | None = None, *, fallback: bool | None = True) -> int:
        self._check_socket(sock)
        if sock.type != socket.SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if count is not None and (not isinstance(count, int) or count <= 0):
            raise ValueError(f"count must be a positive integer (got {count!r})")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
        try:
            fileno = file.fileno()
            os.fstat(fileno)
        except (AttributeError, OSError, ValueError):
            fileno = None
        if fileno is None or not hasattr(os, "sendfile"):
            if not fallback:
                raise asyncio.SendfileNotAvailableError("os.sendfile() is not available "
                                                        "for this file")
            return await self._sendfile_by_reading(sock, file, offset, count)
        return await self._sendfile_by_kernel(sock, file, fileno, offset, count)

    async def _sendfile_by_kernel(self, sock: socket.socket, file: Any, fileno: int,
                                  offset: int, count: int | None) -> int:
        size = os.fstat(fileno).st_size
        end = size if count is None else min(size, offset + count)
        sent = 0
        try:
            while offset + sent < end:
                try:
                    done = os.sendfile(sock.fileno(), fileno, offset + sent, end - offset - sent)
                except (BlockingIOError, InterruptedError):
                    future = self.create_future()
                    self._wait(sock, True, lambda f, s: None if f.done() else f.set_result(None),
                               future)
                    await future
                    continue
                if done == 0:
                    break  # the file ended early
                sent += done
        finally:
            if sent:
                file.seek(offset + sent)
        return sent

    async def _sendfile_by_reading(self, sock: socket.socket, file: Any, offset: int,
                                   count: int | None) -> int:
        if offset:
            file.seek(offset)
        sent = 0
        while count is None or sent < count:
            block = 256 * 1024 if count is None else min(256 * 1024, count - sent)
            data = await self.run_in_executor(None, file.read, block)
            if not data:
                break
            await self.sock_sendall(sock, data)
            sent += len(data)
        return sent
