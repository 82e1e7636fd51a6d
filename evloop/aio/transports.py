"""What evloop.aio's transports share: the socket, the protocol, flow control, closing.

A transport owns one non-blocking socket and tells one protocol what
happens to it, in asyncio's order: connection_made, then the protocol's
own events, then connection_lost, the last always through call_soon, never
from inside another callback.  This base holds what every kind shares
(evloop.aio.stream for stream sockets, evloop.aio.datagram for datagram
ones):

* the socket's extra info: socket, sockname, peername;
* reading paused and resumed by watching or not watching the socket;
* the write buffer and its limits: past the high-water mark (64 KiB by
  default, low water a quarter of it) the protocol is told
  pause_writing(), and resume_writing() once the buffer drains below low;
* one error path: `_fatal_error` reports anything but a connection error
  to the loop's exception handler, then `_force_close` drops the buffer
  and ends the connection; `close()` lets the buffer drain first.

Readers and writers go to evloop's Loop directly, as bound methods: the
loop's hot path calls them with no asyncio Handle in between, which is
where most of the speed over asyncio's own loop comes from.

Reads are sized by evloop.connection.read_sizes, as evloop's own
connections' are (its essay says why); `max_size`, asyncio's 256 KiB,
stays the most one read asks for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import warnings
from asyncio import trsock
from typing import Any

__all__ = ["HIGH_WATER", "SocketTransportBase"]

log = logging.getLogger("asyncio")
HIGH_WATER = 64 * 1024


class SocketTransportBase(asyncio.BaseTransport):
    """One socket and its protocol.  Subclasses give `_read` (the reader) and the writes."""

    _extra: dict[str, Any]
    max_size = 256 * 1024  # asyncio's: the most one recv() asks for

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 extra: dict[str, Any] | None = None, server: Any = None) -> None:
        super().__init__(extra)
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._loop = loop
        self._evloop = loop._evloop
        self._sock: socket.socket | None = sock
        self._sock_fd = sock.fileno()
        self._server = server
        self.accepted = server is not None  # made by a Server, for a connection it accepted
        self._buffer: Any = bytearray()
        self._conn_lost = 0
        self._closing = False
        self._paused = False  # reading
        self._protocol_paused = False  # writing
        self.set_write_buffer_limits()
        self._protocol: Any = None
        self._protocol_connected = False
        self.set_protocol(protocol)
        if server is not None:
            server._attach(self)

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else "closing" if self._closing else "open"
        return f"<{type(self).__name__} fd={self._sock_fd} {state} buffer={len(self._buffer)}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    def _read(self) -> None:
        raise NotImplementedError

    # -- the protocol, and reading paused -----------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._paused:
            return
        self._paused = True
        self._evloop.remove_reader(self._sock_fd)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._evloop.add_reader(self._sock_fd, self._read)

    def _start_reading(self) -> None:
        if not self._paused and not self._closing and self._sock is not None:
            self._evloop.add_reader(self._sock_fd, self._read)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low_water, self._high_water

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self.get_write_buffer_size() <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": "protocol.pause_writing() failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            try:
                self._protocol.resume_writing()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler({
                    "message": "protocol.resume_writing() failed", "exception": exc,
                    "transport": self, "protocol": self._protocol})

    # -- closing: the one error path ---------------------------------------------------

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._evloop.remove_reader(self._sock_fd)
        if not self._buffer:
            self._call_soon_lost(None)

    def abort(self) -> None:
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                log.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({"message": message, "exception": exc,
                                               "transport": self, "protocol": self._protocol})
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._evloop.remove_writer(self._sock_fd)
        if not self._closing:
            self._closing = True
            self._evloop.remove_reader(self._sock_fd)
        self._call_soon_lost(exc)

    def _call_soon_lost(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._conn_lost += 1
        self._evloop.remove_writer(self._sock_fd)
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            if self._sock is not None:
                self._sock.close()
            self._sock = None
            self._protocol = None
            server, self._server = self._server, None
            if server is not None:
                server._detach(self)


def _set_result_unless_cancelled(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)
