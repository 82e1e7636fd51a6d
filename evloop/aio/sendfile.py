"""Sending a file: by the kernel from its page cache, or read and written by the program.

`loop.sendfile(transport, file)` and `loop.sock_sendfile(sock, file)`
(evloop.aio.loop, evloop.aio.descriptors) have three ways to send, and
these functions are them, over the loop's public calls:

* `by_kernel`: os.sendfile() from the file's descriptor straight into the
  socket, no byte passing through Python; on EAGAIN it waits for the
  socket to be writable.  Only a regular file with a descriptor can
  (`regular_fileno`), and for a transport (`from_transport`) only once its
  buffer has drained, with reading paused, so that no other bytes
  interleave;
* `by_reading`: for a bare socket, blocks read in the default executor
  and sent with `sock_sendall`;
* `by_writing`: for any transport (TLS included), blocks read in the
  executor and given to `transport.write()`, waiting whenever the
  transport tells its protocol pause_writing.  A stand-in protocol
  (`FlowWatcher`) takes the program's protocol's place meanwhile, to
  hear it, and gives it back at the end.

Each leaves the file's position after the last byte sent, as asyncio
does, and `check_range` has asyncio's rules for `offset` and `count`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

__all__ = ["FlowWatcher", "by_kernel", "by_reading", "by_writing", "check_range",
           "from_transport", "regular_fileno"]

WRITE_BLOCK = 16 * 1024  # by_writing: each write, as asyncio's
READ_BLOCK = 256 * 1024  # by_reading: each sock_sendall, as asyncio's


class FlowWatcher(asyncio.Protocol):
    """Stands in for a transport's protocol during `by_writing`, to follow pause/resume."""

    def __init__(self, loop: Any, transport: Any) -> None:
        self.loop = loop
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
            self.writable = self.loop.create_future()

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


def check_range(offset: int, count: int | None) -> None:
    if count is not None and (not isinstance(count, int) or count <= 0):
        raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


def regular_fileno(file: Any) -> int | None:
    """`file`'s descriptor if os.sendfile() can send from it, else None."""
    try:
        fileno = file.fileno()
        os.fstat(fileno)
    except (AttributeError, OSError, ValueError):
        return None
    return fileno if hasattr(os, "sendfile") else None


async def from_transport(loop: Any, transport: Any, file: Any, offset: int,
                         count: int | None) -> int:
    """`by_kernel` on a stream transport's socket, once its buffer has drained, with
    reading paused meanwhile (asyncio's `_sendfile_native`)."""
    fileno = regular_fileno(file)
    if fileno is None:
        raise asyncio.SendfileNotAvailableError("not a regular file")
    sock = transport._sock
    if sock is None:
        raise RuntimeError("Transport is closing")
    resume = transport.is_reading()
    transport.pause_reading()
    await transport._make_empty_waiter()
    try:
        return await by_kernel(loop, sock, file, fileno, offset, count)
    finally:
        transport._reset_empty_waiter()
        if resume:
            transport.resume_reading()


async def by_kernel(loop: Any, sock: Any, file: Any, fileno: int, offset: int,
                    count: int | None) -> int:
    size = os.fstat(fileno).st_size
    end = size if count is None else min(size, offset + count)
    sent = 0
    try:
        while offset + sent < end:
            try:
                done = os.sendfile(sock.fileno(), fileno, offset + sent, end - offset - sent)
            except (BlockingIOError, InterruptedError):
                await _writable(loop, sock)
                continue
            if done == 0:
                break  # the file ended early
            sent += done
    finally:
        if sent:
            file.seek(offset + sent)
    return sent


async def _writable(loop: Any, sock: Any) -> None:
    ready = loop.create_future()
    loop.add_writer(sock, _resolve, ready)
    try:
        await ready
    finally:
        loop.remove_writer(sock)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def by_reading(loop: Any, sock: socket.socket, file: Any, offset: int,
                     count: int | None) -> int:
    if offset:
        file.seek(offset)
    sent = 0
    while count is None or sent < count:
        block = READ_BLOCK if count is None else min(READ_BLOCK, count - sent)
        data = await loop.run_in_executor(None, file.read, block)
        if not data:
            break
        await loop.sock_sendall(sock, data)
        sent += len(data)
    return sent


async def by_writing(loop: Any, transport: Any, file: Any, offset: int,
                     count: int | None) -> int:
    if offset:
        file.seek(offset)
    watcher = FlowWatcher(loop, transport)
    sent = 0
    try:
        while count is None or sent < count:
            await watcher.drain()
            block = WRITE_BLOCK if count is None else min(WRITE_BLOCK, count - sent)
            data = await loop.run_in_executor(None, file.read, block)
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
