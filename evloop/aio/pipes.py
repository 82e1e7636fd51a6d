"""Pipes: asyncio's read and write pipe transports.

A pipe is a descriptor with one direction.  `connect_read_pipe` and
`connect_write_pipe` (evloop.aio.loop) take a file object (a pipe's end, a socket, a
character device such as a terminal; asyncio refuses anything else, since a
regular file is always "ready" and would spin the loop), make it
non-blocking, and give it a transport, watched through the loop's readers
and writers as sockets are:

* the read end: one os.read() per wake-up, its bytes to data_received
  (the stream socket's read ladder, evloop.aio.transports); b"" is the
  writer's EOF: the protocol hears eof_received(), then
  connection_lost(None), and the pipe is closed.  pause_reading and
  resume_reading stop and restart the watch;
* the write end: chapter 2's write path again (write at once, queue the
  rest in a bytearray, watch for writable while bytes wait), with
  pause_writing/resume_writing at the same marks as a socket (64 KiB high,
  a quarter of it low).  A write end has nothing to read, yet it is watched
  for readable: when the reader closes its end, the kernel reports the write
  end readable (an error or hang-up event), which is how the transport learns
  the peer has gone before it writes (BrokenPipeError when bytes were still
  queued, else a plain close).  `close()` and `write_eof()` are the same
  thing for a pipe: send what is queued, then close.

Both ends are the shared transport (evloop.aio.transports.TransportBase)
over a pipe, and take its one error path: `_fatal_error` reports what is
not an expected loss (EIO on a terminal's read end; any OSError on a write
end) to the loop's exception handler, then `_force_close` ends the
transport; connection_lost always comes through call_soon.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import warnings
from asyncio import constants
from typing import Any

from evloop.aio.handles import in_this_context
from evloop.aio.transports import TransportBase
from evloop.aio.transports import set_result_unless_cancelled

log = logging.getLogger("asyncio")


def is_pipe_like(mode: int) -> bool:
    """A pipe, a socket or a character device: what the loop can watch for readiness."""
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def checked_pipe(pipe: Any, refusal: str) -> int:
    """`pipe`'s st_mode, if it is pipe-like; else ValueError(refusal)."""
    mode = os.fstat(pipe.fileno()).st_mode
    if not is_pipe_like(mode):
        raise ValueError(refusal)
    return mode


class PipeTransport(TransportBase):
    """What both ends add to the shared base: the pipe itself, made non-blocking."""

    _pipe: Any = None  # until the pipe passes its check: __del__ has nothing to close
    kind = "pipe"

    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 extra: dict[str, Any] | None) -> None:
        super().__init__(loop, pipe.fileno(), protocol, extra)
        self._extra["pipe"] = pipe
        self._pipe = pipe  # asyncio's name (CPython's tests set it to None)
        os.set_blocking(self._fd, False)
        loop.call_soon(protocol.connection_made, self)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _release(self) -> None:
        self._pipe.close()
        self._pipe = None


class ReadPipeTransport(PipeTransport, asyncio.ReadTransport):
    """The read end of a pipe (or a socket, or a terminal), for a Protocol; its reader
    is the shared ladder, sized as a socket's reads are."""

    _read = TransportBase._read_data

    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        checked_pipe(pipe, "Pipe transport is for pipes/sockets only.")
        super().__init__(loop, pipe, protocol, extra)
        loop.call_soon(self._start_reading)  # after connection_made
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _read_eof(self) -> None:
        if self._loop.get_debug():
            log.info("%r was closed by peer", self)
        self._closing = True
        self._evloop.remove_reader(self._fd)
        self._loop.call_soon(self._protocol.eof_received)
        self._call_soon_lost(None)

    def _expected(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError) and exc.errno == errno.EIO  # a terminal hung up


class WritePipeTransport(PipeTransport, asyncio.WriteTransport):
    """The write end of a pipe (or a socket, or a terminal), for a Protocol.

    Its write path is its own, not the stream socket's: it resumes the protocol
    only once the buffer is empty, and counts the writes refused after its end
    from 0 after a close and from 1 after a write error, as asyncio's pipe does."""

    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        mode = checked_pipe(pipe, "Pipe transport is only for pipes, sockets and character devices")
        self._writes_refused = 0
        super().__init__(loop, pipe, protocol, extra)
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # the kernel says when the reader goes
            loop.call_soon(self._watch_peer)  # after connection_made
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _watch_peer(self) -> None:
        if not self._conn_lost:  # not closed before its first turn
            self._evloop.add_reader(self._fd, in_this_context(self._peer_closed))

    def _peer_closed(self) -> None:
        if self._loop.get_debug():
            log.info("%r was closed by peer", self)
        self._force_close(BrokenPipeError() if self._buffer else None)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._writes_refused >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                log.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._writes_refused += 1
            return
        if not self._buffer:
            try:
                written = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                written = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._writes_refused += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if written == len(data):
                return
            data = memoryview(data)[written:]
            self._watch_writes(self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        try:
            written = os.write(self._fd, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._writes_refused += 1
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        del self._buffer[:written]
        if self._buffer:
            return
        self._evloop.remove_writer(self._fd)
        self._maybe_resume_protocol()  # may write more
        if self._closing and not self._buffer:
            self._call_soon_lost(None)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._call_soon_lost(None)

    def close(self) -> None:
        if self._pipe is not None and not self._closing:
            self.write_eof()  # a pipe's EOF is its close
