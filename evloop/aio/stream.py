"""The stream transport: asyncio's Transport over a connected stream socket.

This is evloop's connection (evloop.connection) in asyncio's shape, with
asyncio's rules, because asyncio programs are written against them:

* the read path is a ladder: would-block returns, `b""` is the peer's EOF
  (eof_received returning true keeps the write side open), otherwise the
  bytes go to the protocol, or into the buffer a BufferedProtocol lends
  (get_buffer, buffer_updated); a protocol that raises ends its transport
  through the one error path (evloop.aio.transports), and only that one;
* the write path is chapter 3's: `write()` tries `send()` at once when
  nothing is queued, queues the rest in a bytearray, and watches for
  writable only while bytes are pending; `write_eof()` sends the FIN once
  the buffer is empty;
* writing to a transport whose connection is lost is counted, and logged
  after five, as asyncio does.
"""

from __future__ import annotations

import asyncio
import socket
from asyncio import constants
from typing import Any

from evloop.aio.transports import SocketTransportBase
from evloop.aio.transports import _set_result_unless_cancelled
from evloop.aio.transports import log


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
        super().__init__(loop, sock, protocol, extra, server)
        set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        super().set_protocol(protocol)
        self._read = (self._read_into  # type: ignore[method-assign]
                      if isinstance(protocol, asyncio.BufferedProtocol) else self._read_data)
        if self._sock is not None and not self._paused and not self._closing \
                and self._evloop.watching(self._sock_fd) & 1:
            self._evloop.add_reader(self._sock_fd, self._read)

    # -- reading: the ladder --------------------------------------------------------

    def _read_data(self) -> None:
        try:
            data = self._sock.recv(self.max_size)  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            return self._read_eof()
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

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
            self._evloop.remove_reader(self._sock_fd)
        else:
            self.close()

    # -- writing ----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= 5:
                log.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                sent = self._sock.send(data)  # type: ignore[union-attr]
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
            self._evloop.add_writer(self._sock_fd, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _write_ready(self) -> None:
        if self._conn_lost:
            return
        try:
            sent = self._sock.send(self._buffer)  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._evloop.remove_writer(self._sock_fd)
            self._buffer.clear()
            self._fatal_error(exc, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
            return
        if sent:
            del self._buffer[:sent]
        self._maybe_resume_protocol()
        if not self._buffer:
            self._evloop.remove_writer(self._sock_fd)
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_soon_lost(None)
            elif self._eof:
                self._sock.shutdown(socket.SHUT_WR)  # type: ignore[union-attr]

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)  # type: ignore[union-attr]

    def can_write_eof(self) -> bool:
        return True

    def _flushed(self) -> asyncio.Future[None]:
        """A future done once the buffer is empty (loop.sendfile waits on it)."""
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _flushed_done(self) -> None:
        self._empty_waiter = None
