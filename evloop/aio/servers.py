"""The listening server that `create_server` returns: asyncio's AbstractServer.

asyncio's own Server calls private methods of BaseEventLoop, so evloop.aio
has its own.  It owns the listening sockets; each accepts through the
evloop Loop's reader (up to `backlog` connections per wake-up, as asyncio
does), and every accepted socket becomes a SocketTransport with a new
protocol, under asyncio's SSLProtocol if the server has a TLS context
(evloop.aio.tls).  The transports tell it of each connection they keep
and lose (`_attach`, `_detach`: asyncio's names for the same calls).

Its states: made (not serving unless `start_serving` was true), serving
(the listeners are watched), closed (the listeners are closed; the
connections it made go on).  `wait_closed()` returns once it is closed and
its last connection is gone.  `close_clients()` and `abort_clients()` (as
in Python 3.13) close or abort those connections.  A Unix server's socket
file is removed when it closes (`cleanup_socket`, Python 3.13's default),
unless another file has taken its path since: the inode is compared first.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from evloop.aio.stream import SocketTransport
from evloop.aio.tls import tls_transport

log = logging.getLogger("asyncio")
# Out of descriptors: stop accepting for a second rather than spin (asyncio's answer).
ACCEPT_RETRY_DELAY = 1.0
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


# What Server.wait_closed waits for, as asyncio's own did on each Python (its
# docstring tells the history): up to 3.11 it returns at once once the server is
# closed, whatever connections remain ("closed"); 3.12.0 returned at once while no
# connection was active, even on an open server ("idle"); from 3.12.1 it waits
# until the server is closed and its last connection gone ("both").
WAIT_CLOSED = ("closed" if sys.version_info < (3, 12)
               else "idle" if sys.version_info < (3, 12, 1) else "both")


class AsyncioServer(asyncio.AbstractServer):
    """Listening sockets serving `protocol_factory()` protocols on one loop."""

    def __init__(self, loop: Any, sockets: list[socket.socket],
                 protocol_factory: Callable[[], asyncio.BaseProtocol], ssl_context: Any,
                 backlog: int, ssl_handshake_timeout: float | None,
                 ssl_shutdown_timeout: float | None, cleanup_socket: bool = False) -> None:
        self._loop = loop
        # The evloop Loop under the asyncio loop (evloop.aio's own attribute): the
        # listeners' readers go to it directly, as the transports' do.
        self._evloop = loop._evloop
        self._sockets: list[socket.socket] | None = sockets
        self._protocol_factory = protocol_factory
        self._ssl_context = ssl_context
        self._backlog = backlog
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._context = contextvars.Context()  # where connections are served (_start_serving)
        self._active_count = 0
        self._clients: set[Any] = set()
        self._waiters: list[asyncio.Future[None]] | None = []
        self._serving_forever: asyncio.Future[None] | None = None
        # (path, inode) of each Unix socket file, removed at close if still that socket's
        self._socket_files = [file for file in map(socket_file, sockets) if file] \
            if cleanup_socket else []

    def __repr__(self) -> str:
        return f"<Server sockets={self.sockets!r}>"  # asyncio's words

    def get_loop(self) -> Any:
        return self._loop

    @property
    def sockets(self) -> tuple[Any, ...]:
        if self._sockets is None:
            return ()
        return tuple(asyncio.trsock.TransportSocket(s) for s in self._sockets)

    def is_serving(self) -> bool:
        return self._serving

    # -- accepting --------------------------------------------------------------

    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        # asyncio's accept reader runs in a copy of this context, and each connection
        # in a task of its own, so in a copy of that: the protocol factory and the
        # transport's callbacks see the variables set where serving started.
        self._context = contextvars.copy_context()
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._evloop.add_reader(sock.fileno(), self._accepting(sock))

    def _accepting(self, sock: socket.socket) -> Callable[[], None]:
        def on_readable() -> None:
            for _ in range(self._backlog):
                try:
                    conn, address = sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    return
                except OSError as exc:
                    if exc.errno in OUT_OF_DESCRIPTORS:
                        self._loop.call_exception_handler({
                            "message": "socket.accept() out of system resource",
                            "exception": exc, "socket": asyncio.trsock.TransportSocket(sock)})
                        self._evloop.remove_reader(sock.fileno())
                        self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume, sock)
                        return
                    raise
                conn.setblocking(False)
                self._context.copy().run(self._serve, conn, address)
        return on_readable

    def _resume(self, sock: socket.socket) -> None:
        if self._serving and self._sockets is not None and sock in self._sockets:
            self._evloop.add_reader(sock.fileno(), self._accepting(sock))

    def _serve(self, conn: socket.socket, address: Any) -> None:
        try:
            protocol = self._protocol_factory()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            self._loop.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc, "socket": asyncio.trsock.TransportSocket(conn)})
            return
        extra = {"peername": address}
        if self._ssl_context is None:
            SocketTransport(self._loop, conn, protocol, extra=extra, server=self)
        else:
            tls_transport(self._loop, conn, protocol, self._ssl_context, None, True, None,
                          extra, self, self._ssl_handshake_timeout, self._ssl_shutdown_timeout)

    def _attach(self, transport: Any) -> None:
        self._active_count += 1
        self._clients.add(transport)

    def _detach(self, transport: Any) -> None:
        self._active_count -= 1
        self._clients.discard(transport)
        if self._active_count == 0 and self._sockets is None:
            self._wake_up()

    def _wake_up(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- the public interface ---------------------------------------------------------

    def close(self) -> None:
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        for sock in sockets:
            if self._serving:
                self._evloop.remove_reader(sock.fileno())
            sock.close()
        for path, inode in self._socket_files:
            try:
                if os.stat(path).st_ino == inode:
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("Unable to clean up listening UNIX socket %r: %r", path, exc)
        self._socket_files.clear()
        self._serving = False
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
            self._serving_forever = None
        if self._active_count == 0:
            self._wake_up()

    def close_clients(self) -> None:
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self) -> None:
        self._start_serving()
        await asyncio.sleep(0)  # asyncio's: let the listeners be watched first

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def wait_closed(self) -> None:
        """As the running Python's asyncio (see WAIT_CLOSED): from 3.12.1, until the
        server is closed and its last connection gone."""
        if self._waiters is None:
            return
        if WAIT_CLOSED == "closed" and self._sockets is None:
            return
        if WAIT_CLOSED == "idle" and self._active_count == 0:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


def socket_file(sock: socket.socket) -> tuple[str, int] | None:
    """(path, inode) of a Unix socket's file, None if it has none (or is not Unix)."""
    if sock.family != getattr(socket, "AF_UNIX", None):
        return None
    path = sock.getsockname()
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or path[0] == "\x00":  # Linux's abstract namespace has no file
        return None
    try:
        return path, os.stat(path).st_ino
    except FileNotFoundError:
        return None
