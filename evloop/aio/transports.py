"""What evloop.aio's transports share: one descriptor, its protocol, flow control, closing.

A transport owns one non-blocking descriptor (a socket, or a pipe's end)
and tells one protocol what happens to it, in asyncio's order:
connection_made, then the protocol's own events, then connection_lost, the
last always through call_soon, never from inside another callback.
`TransportBase` holds what every kind shares (evloop.aio.stream,
evloop.aio.datagram, evloop.aio.pipes):

* the protocol, and reading paused and resumed by watching or not
  watching the descriptor;
* the read ladder of a byte stream (`_read_data`): would-block returns,
  b"" is the peer's EOF (`_read_eof`, each kind's own), otherwise the bytes
  go to the protocol's data_received.  Reads are sized by
  evloop.connection.read_sizes, as evloop's own connections' are (its
  essay says why); `max_size`, asyncio's 256 KiB, stays the most one read
  asks for;
* the write buffer and its limits: past the high-water mark (64 KiB by
  default, low water a quarter of it) the protocol is told
  pause_writing(), and resume_writing() once the buffer drains below low;
* one error path: `_fatal_error` reports anything but an expected loss (a
  connection error; `_expected`) to the loop's exception handler, then
  `_force_close` drops the buffer and ends the transport; `close()` lets
  the buffer drain first.

`SocketTransportBase` adds a socket's extra info (socket, sockname,
peername) and the Server that accepted it.  Readers and writers go to
evloop's Loop directly, so that the loop's hot path calls them with no
asyncio Handle in between (what that saves: bench/results/README.md,
"asyncio programs on evloop.aio").  Each still runs in the contextvars
context asyncio would give it: asyncio's add_reader and add_writer copy
the context current when they are called, so a protocol's reads run in a
copy of the context where reading started (or was last resumed), and what
the writer calls (resume_writing, the connection_lost a drained close
schedules) in a copy of the context of the write that left bytes behind
(`_watch_reads`, `_watch_writes`).

`wait_made` is how every call that makes a transport waits for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import socket
import warnings
from asyncio import trsock
from collections.abc import Callable
from typing import Any

from evloop.aio.handles import in_this_context
from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import after_large_read

__all__ = ["HIGH_WATER", "ProtocolFactory", "SocketTransportBase", "TransportBase",
           "set_result_unless_cancelled", "wait_made"]

log = logging.getLogger("asyncio")
HIGH_WATER = 64 * 1024
ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class TransportBase(asyncio.BaseTransport):
    """One descriptor and its protocol.  Subclasses give `_read` (the reader, if they
    read), `_read_eof` (if they read a stream), `_release` and the writes."""

    _extra: dict[str, Any]
    max_size = 256 * 1024  # asyncio's: the most one read asks for
    largest_read = min(LARGE_READ, max_size)
    kind = "socket"  # in the messages: "Fatal read error on socket transport"

    def __init__(self, loop: Any, fd: int, protocol: asyncio.BaseProtocol,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(extra)
        self._loop = loop
        # The evloop Loop under the asyncio loop (evloop.aio's own attribute).
        self._evloop = loop._evloop
        self._fd = fd
        self._sys_read: Callable[[int, int], bytes] = os.read
        self._read_size = SMALL_READ  # evloop.connection.read_sizes
        self._small_reads = 0
        self._buffer: Any = bytearray()
        self._conn_lost = 0  # connection_lost is on its way; then writes refused
        self._closing = False
        self._closed = False  # connection_lost has run: the descriptor is closed
        self._paused = False  # reading
        self._protocol_paused = False  # writing
        self.set_write_buffer_limits()
        self._protocol: Any = None
        self._protocol_connected = False
        self._read_context: contextvars.Context | None = None  # the reader's (_watch_reads)
        self.set_protocol(protocol)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return f"<{type(self).__name__} fd={self._fd} {state} buffer={len(self._buffer)}>"

    def _read(self) -> None:
        raise NotImplementedError

    def _read_eof(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Close the descriptor (connection_lost has been called)."""
        raise NotImplementedError

    # -- the protocol, and reading -------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._protocol_connected = True
        self._data_received = getattr(protocol, "data_received", None)  # looked up once

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
        self._evloop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._watch_reads()

    def _start_reading(self) -> None:
        if self.is_reading():
            self._watch_reads()

    def _watch_reads(self, context: contextvars.Context | None = None) -> None:
        """Watch for readable; the reader runs in `context`, by default a copy of the
        current one, as asyncio's add_reader would run it."""
        if context is None:
            context = contextvars.copy_context()
        self._read_context = context
        self._evloop.add_reader(self._fd, functools.partial(context.run, self._read))

    def _watch_writes(self, writer: Callable[..., Any], *args: Any) -> None:
        """Watch for writable; the writer runs in a copy of the current context."""
        self._evloop.add_writer(self._fd, in_this_context(writer, *args))

    def _read_data(self) -> None:
        """The reader of a byte stream, for a protocol's data_received: the ladder."""
        size = self._read_size
        try:
            data = self._sys_read(self._fd, size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, f"Fatal read error on {self.kind} transport")
            return
        if not data:
            return self._read_eof()
        if len(data) == size:
            self._read_size = self.largest_read
        elif size > SMALL_READ and (self._small_reads or len(data) <= SMALL_READ):
            self._read_size, self._small_reads = after_large_read(
                len(data), self._small_reads, self.largest_read)
        try:
            self._data_received(data)  # type: ignore[misc]  # a Protocol: it has one
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    # -- flow control --------------------------------------------------------------------

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
        self._tell_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            self._tell_protocol("resume_writing")

    def _tell_protocol(self, what: str) -> None:
        try:
            getattr(self._protocol, what)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{what}() failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    # -- closing: the one error path -------------------------------------------------------

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._evloop.remove_reader(self._fd)
        if not self._buffer:
            self._call_soon_lost(None)

    def abort(self) -> None:
        self._force_close(None)

    def _expected(self, exc: BaseException) -> bool:
        """An error that means the other end went away, not a bug to report."""
        return isinstance(exc, OSError)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if self._expected(exc):
            if self._loop.get_debug():
                log.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({"message": message, "exception": exc,
                                               "transport": self, "protocol": self._protocol})
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._buffer.clear()
        self._closing = True
        self._call_soon_lost(exc)

    def _call_soon_lost(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._conn_lost += 1
        self._evloop.remove_reader(self._fd)
        self._evloop.remove_writer(self._fd)
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._closed = True
            self._release()
            self._protocol = None


class SocketTransportBase(TransportBase):
    """One socket and its protocol; `server` is the Server that accepted it, if one did."""

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 extra: dict[str, Any] | None = None, server: Any = None) -> None:
        self._sock: socket.socket | None = sock  # asyncio's name (tests set it to None)
        self._server = server
        self.accepted = server is not None  # made by a Server, for a connection it accepted
        super().__init__(loop, sock.fileno(), protocol, extra)
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
        if server is not None:
            server._attach(self)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        server, self._server = self._server, None
        if server is not None:
            server._detach(self)


def set_result_unless_cancelled(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


async def wait_made(transport: asyncio.BaseTransport, waiter: asyncio.Future[Any]) -> None:
    """Wait for the protocol's connection_made; if that fails or the caller is
    cancelled, close the transport (asyncio's rule)."""
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
