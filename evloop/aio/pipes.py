"""Pipes: asyncio's read and write pipe transports, and the loop calls that make them.

A pipe is a descriptor with one direction.  `connect_read_pipe` and
`connect_write_pipe` take a file object (a pipe's end, a socket, a
character device such as a terminal; asyncio refuses anything else, since a
regular file is always "ready" and would spin the loop), make it
non-blocking, and give it a transport, watched through the loop's readers
and writers as sockets are:

* the read end: one os.read() per wake-up, its bytes to data_received;
  b"" is the writer's EOF: the protocol hears eof_received(), then
  connection_lost(None), and the pipe is closed.  pause_reading and
  resume_reading stop and restart the watch;
* the write end: chapter 3's write path again (write at once, queue the
  rest in a bytearray, watch for writable while bytes wait), with
  pause_writing/resume_writing at the same marks as a socket (64 KiB high,
  a quarter of it low).  A write end has nothing to read, yet it is watched
  for readable: when the reader closes its end, the kernel reports the write
  end readable (an error or hang-up event), which is how the transport learns
  the peer has gone before it writes (BrokenPipeError when bytes were still
  queued, else a plain close).  `close()` and `write_eof()` are the same
  thing for a pipe: send what is queued, then close.

Both ends take the one error path: `_fatal_error` reports what is not an
expected loss (EIO on a terminal's read end; any OSError on a write end)
to the loop's exception handler, then `_close` ends the transport;
connection_lost always comes through call_soon.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import warnings
from asyncio import constants
from asyncio import transports
from collections.abc import Callable
from typing import Any

from evloop.aio.datagram import Datagrams
from evloop.aio.transports import _set_result_unless_cancelled
from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import after_large_read

log = logging.getLogger("asyncio")
ProtocolFactory = Callable[[], asyncio.BaseProtocol]


def is_pipe_like(mode: int) -> bool:
    """A pipe, a socket or a character device: what the loop can watch for readiness."""
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class PipeTransportBase(asyncio.BaseTransport):
    """What both ends share: the checked pipe, the protocol, closing, the one error path."""

    _extra: dict[str, Any]
    _pipe: Any = None  # until the pipe passes its check: __del__ has nothing to close
    _fileno = -1

    def _attach(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                allowed: Callable[[int], bool], refusal: str) -> int:
        """Take `pipe` if its kind is `allowed`; returns its st_mode."""
        fileno = pipe.fileno()
        mode = os.fstat(fileno).st_mode
        if not allowed(mode):
            raise ValueError(refusal)
        self._extra["pipe"] = pipe
        self._loop = loop
        self._evloop = loop._evloop
        self._pipe = pipe
        self._fileno = fileno
        self._protocol: Any = protocol
        self._closing = False
        self._lost = False  # connection_lost scheduled
        os.set_blocking(fileno, False)
        loop.call_soon(protocol.connection_made, self)
        return mode

    def __repr__(self) -> str:
        state = "closed" if self._pipe is None else "closing" if self._closing else "open"
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def _expected(self, exc: BaseException) -> bool:
        """An error that means the other end went away, not a bug to report."""
        raise NotImplementedError

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if self._expected(exc):
            if self._loop.get_debug():
                log.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({"message": message, "exception": exc,
                                               "transport": self, "protocol": self._protocol})
        self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._evloop.remove_reader(self._fileno)
        self._evloop.remove_writer(self._fileno)
        if not self._lost:
            self._lost = True
            self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None


class ReadPipeTransport(PipeTransportBase, asyncio.ReadTransport):
    """The read end of a pipe (or a socket, or a terminal), for a Protocol; reads
    are sized as a socket transport's are (evloop.connection.read_sizes)."""

    max_size = 256 * 1024  # asyncio's: the most one read() asks for
    largest_read = min(LARGE_READ, max_size)

    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(extra)
        self._paused = False
        self._read_size, self._small_reads = SMALL_READ, 0
        self._attach(loop, pipe, protocol,
                     is_pipe_like, "Pipe transport is for pipes/sockets only.")
        loop.call_soon(self._start_reading)  # after connection_made
        if waiter is not None:
            loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def _start_reading(self) -> None:
        if self.is_reading():
            self._evloop.add_reader(self._fileno, self._read)

    def _read(self) -> None:
        size = self._read_size
        try:
            data = os.read(self._fileno, size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if not data:
            if self._loop.get_debug():
                log.info("%r was closed by peer", self)
            self._closing = True
            self._evloop.remove_reader(self._fileno)
            self._loop.call_soon(self._protocol.eof_received)
            self._lost = True
            self._loop.call_soon(self._call_connection_lost, None)
            return
        if len(data) == size:
            self._read_size = self.largest_read
        elif size > SMALL_READ:
            self._read_size, self._small_reads = after_large_read(
                len(data), self._small_reads, self.largest_read)
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _expected(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError) and exc.errno == errno.EIO  # a terminal hung up

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._evloop.remove_reader(self._fileno)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._evloop.add_reader(self._fileno, self._read)

    def close(self) -> None:
        if not self._closing:
            self._close(None)


class WritePipeTransport(PipeTransportBase, transports._FlowControlMixin, asyncio.WriteTransport):
    """The write end of a pipe (or a socket, or a terminal), for a Protocol."""

    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(extra, loop)  # asyncio's flow control: 64 KiB high, 16 KiB low
        self._buffer = bytearray()
        self._conn_lost = 0  # writes after the end, counted as asyncio does
        mode = self._attach(loop, pipe, protocol, is_pipe_like,
                            "Pipe transport is only for pipes, sockets and character devices")
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # the kernel says when the reader goes
            loop.call_soon(self._watch_peer)  # after connection_made
        if waiter is not None:
            loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def _expected(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError)  # EPIPE and its kind: the reader is gone

    def _watch_peer(self) -> None:
        if not self._lost:  # not closed before its first turn
            self._evloop.add_reader(self._fileno, self._peer_closed)

    def _peer_closed(self) -> None:
        if self._loop.get_debug():
            log.info("%r was closed by peer", self)
        self._close(BrokenPipeError() if self._buffer else None)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                log.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                written = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                written = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if written == len(data):
                return
            data = memoryview(data)[written:]
            self._evloop.add_writer(self._fileno, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()  # type: ignore[attr-defined]

    def _write_ready(self) -> None:
        try:
            written = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._conn_lost += 1
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        del self._buffer[:written]
        if self._buffer:
            return
        self._evloop.remove_writer(self._fileno)
        self._maybe_resume_protocol()  # type: ignore[attr-defined]  # may write more
        if self._closing and not self._buffer:
            self._close(None)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._close(None)

    def close(self) -> None:
        if self._pipe is not None and not self._closing:
            self.write_eof()  # a pipe's EOF is its close

    def abort(self) -> None:
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        self._buffer.clear()  # nobody will read it now
        super()._close(exc)


class Pipes(Datagrams):
    """asyncio's connect_read_pipe and connect_write_pipe."""

    async def connect_read_pipe(self, protocol_factory: ProtocolFactory, pipe: Any  # type: ignore[override]
                                ) -> tuple[asyncio.ReadTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(ReadPipeTransport, protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory: ProtocolFactory, pipe: Any  # type: ignore[override]
                                 ) -> tuple[asyncio.WriteTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(WritePipeTransport, protocol_factory, pipe)

    async def _connect_pipe(self, kind: Callable[..., PipeTransportBase],
                            protocol_factory: ProtocolFactory, pipe: Any
                            ) -> tuple[Any, asyncio.BaseProtocol]:
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = kind(self, pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol
