"""The stream transport: asyncio's Transport over a connected stream socket.

This is evloop's connection (evloop.connection) in asyncio's shape, with
asyncio's rules, because asyncio programs are written against them:

* the read path is the shared ladder (evloop.aio.transports) for a
  Protocol, and its twin for a BufferedProtocol, which reads into the
  buffer the protocol lends (get_buffer, buffer_updated); `b""` is the
  peer's EOF (eof_received returning true keeps the write side open); a
  protocol that raises ends its transport through the one error path, and
  only that one;
* the write path is chapter 2's, with uvloop's batching for tasks: a
  write from a protocol's data_received tries `send()` at once, as
  asyncio's does; a write from a task or a callback (while the Loop's
  phase is CALLBACKS, evloop.loop.base) is queued, and what the turn
  queued leaves in one send() at the turn's end (`BaseLoop.at_turn_end`),
  so that a response a task writes as headers, then body, costs one
  system call, not two (the figures with and without:
  bench/results/README.md, "asyncio programs on evloop.aio").
  That send runs in the context of the write that queued it, and a
  close() sends what is queued first, so that the callbacks a send leads
  to run in the contexts asyncio would give them.
  Only what the kernel does not take is watched for writable; a write past
  the high-water mark goes at once, so a bulk write does not pause the
  protocol before a byte has moved; `write_eof()` sends the FIN once the
  buffer is empty;
* writing to a transport whose connection is lost is counted, and logged
  after five, as asyncio does.

As evloop's own connections do (evloop.connection), the hot path reads and
writes with `os.read()`/`os.write()` on the descriptor, not the socket's
`recv()`/`send()`: the same system calls, without the socket methods'
argument parsing and timeout handling (`_sys_read`/`_sys_write`;
`route_system_calls` puts others in their place, as evloop.aio.tracing
does to narrate them).  The protocol's `data_received` is looked up once,
in `set_protocol`, as uvloop does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from asyncio import constants
from collections.abc import Callable
from typing import Any

from evloop.aio.transports import SocketTransportBase
from evloop.aio.transports import set_result_unless_cancelled
from evloop.loop.turns import CALLBACKS

log = logging.getLogger("asyncio")


def set_nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM \
            and sock.proto in (0, socket.IPPROTO_TCP):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SocketTransport(SocketTransportBase, asyncio.Transport):
    """A connected stream socket, for a Protocol or a BufferedProtocol."""

    _start_tls_compatible = True  # loop.start_tls may put TLS under it
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[Any] | None = None, extra: dict[str, Any] | None = None,
                 server: Any = None) -> None:
        self._eof = False  # write_eof() called
        self._empty_waiter: asyncio.Future[None] | None = None
        self._queued_in: contextvars.Context | None = None  # a send queued for the turn's end
        self._sys_write: Callable[[int, Any], int] = os.write
        super().__init__(loop, sock, protocol, extra, server)
        self._at_turn_end = self._evloop.at_turn_end  # the Loop's bound list.append
        set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def route_system_calls(self, wrap: Callable[[socket.socket], Any]) -> None:
        """Make every call on the socket through `wrap(socket)` from now on: an object
        with the socket's methods, and `read(fd, size)` and `write(fd, data)` in place
        of os.read and os.write (evloop.aio.tracing narrates each call this way)."""
        if self._sock is not None:
            through = wrap(self._sock)
            self._sock, self._sys_read, self._sys_write = through, through.read, through.write

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        super().set_protocol(protocol)
        self._read = (self._read_into  # type: ignore[method-assign]
                      if isinstance(protocol, asyncio.BufferedProtocol) else self._read_data)
        if self._sock is not None and not self._paused and not self._closing \
                and self._evloop.watching(self._fd) & 1:
            self._watch_reads(self._read_context)  # the new reader, in the same context

    # -- reading: the ladder (TransportBase._read_data for a Protocol) ---------------

    def _read_into(self) -> None:
        try:
            buf = self._protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buf)  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            return self._read_eof()
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_eof(self) -> None:
        if self._loop.get_debug():
            log.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # The peer will send nothing more: reading is over, writing goes on.
            self._evloop.remove_reader(self._fd)
        else:
            self.close()

    # -- writing ----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof or self._empty_waiter is not None or self._conn_lost or not data:
            return self._write_refused(data)  # one test on the hot path for four cases
        buffer = self._buffer
        if not buffer:
            if self._evloop.phase is CALLBACKS and len(data) <= self._high_water:
                # From a task or a callback: sent at the turn's end, with whatever
                # else this turn writes.
                self._queued_in = contextvars.copy_context()
                self._at_turn_end(self._send_queued)
                buffer += data
                return
            # From a protocol's data_received (usually a whole reply, which then
            # goes ahead of the other connections' reads), from outside the loop,
            # or past the high-water mark: sent now, as much as the kernel takes.
            # Written out here rather than through _send_buffer: this is a Protocol
            # server's hot path, and a call is what it would add.
            try:
                sent = self._sys_write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._watch_writes(self._send_buffer, True)
        buffer += data
        if len(buffer) > self._high_water:
            self._maybe_pause_protocol()

    def _write_refused(self, data: bytes | bytearray | memoryview) -> None:
        """write() after write_eof(), during sendfile, of nothing, or once lost: asyncio's order."""
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if data and self._conn_lost:
            if self._conn_lost >= 5:
                log.warning("socket.send() raised exception.")
            self._conn_lost += 1

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _send_queued(self) -> None:
        """Send what this turn's writes queued, in the context of the first of them:
        where asyncio's write() would have sent it, and so where what a send that
        falls short or fails leads to (the writer, connection_lost) runs."""
        context, self._queued_in = self._queued_in, None
        if context is not None:
            context.run(self._send_buffer)

    def close(self) -> None:
        # What this turn's writes queued goes now, as asyncio's write() would have
        # sent it before the close: what the close schedules is then the closer's.
        if self._queued_in is not None and not self._closing:
            self._send_queued()
        super().close()

    def _send_buffer(self, watching: bool = False) -> None:
        """Send from the buffer: at the turn's end, what this turn's writes queued, in
        one system call; or as the writer (`watching`), watched while the kernel took
        less than the buffer.  Then watch for writable while bytes are left, resume
        the protocol below low water, and once empty, finish what waited for that."""
        buffer = self._buffer
        if not buffer or self._conn_lost:
            return
        try:
            sent = self._sys_write(self._fd, buffer)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            return self._write_failed(exc)
        if sent == len(buffer) and not (watching or self._protocol_paused or self._closing
                                        or self._eof or self._empty_waiter is not None):
            buffer.clear()  # the common case: all of it, and nothing waits for it
            return
        if sent:
            del buffer[:sent]
            if self._protocol_paused:
                self._maybe_resume_protocol()
        if buffer:
            if not watching:
                self._watch_writes(self._send_buffer, True)
            return
        if watching:
            self._evloop.remove_writer(self._fd)
        if self._empty_waiter is not None:
            self._empty_waiter.set_result(None)
        if self._closing:
            self._call_soon_lost(None)
        elif self._eof:
            self._sock.shutdown(socket.SHUT_WR)  # type: ignore[union-attr]

    def _write_failed(self, exc: BaseException) -> None:
        self._evloop.remove_writer(self._fd)
        self._buffer.clear()
        self._fatal_error(exc, "Fatal write error on socket transport")
        if self._empty_waiter is not None:
            self._empty_waiter.set_exception(exc)

    def abort(self) -> None:
        # What write() gave this turn goes first, as asyncio's transport, which
        # sends at once, would have sent it; what waits for the kernel is dropped.
        if self._buffer and not self._conn_lost and self._evloop.callbacks(self._fd)[1] is None:
            try:
                self._sys_write(self._fd, self._buffer)
            except OSError:
                pass
        super().abort()

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)  # type: ignore[union-attr]

    def can_write_eof(self) -> bool:
        return True

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        """A future done once the buffer is empty (asyncio's name: loop.sendfile waits on it)."""
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None
