"""Splicing: a forwarded stream moved from socket to socket inside the kernel.

A connection that forwards (`Context.forward_to`, the relay) reads into a
bytes object and writes it to the other socket: each byte is copied twice
per hop, into Python and back out.  splice(2) moves it through a pipe
instead, and the pages never reach user space: a TCP socket's receive
queue hands its pages to the pipe, and the pipe hands them to the other
socket.  The system calls are the same two, one in and one out.

It pays only for large reads, where the copies are most of the cost, so a
forwarding connection splices exactly when its reads are large
(evloop.connection.read_sizes: after a read that filled its buffer), as
HAProxy's `splice-auto` does; small messages are read as before.  It
needs both sockets plain (no TLS, whose bytes must pass through OpenSSL,
and no instrument wrapping the reads and writes) and nothing queued on the
other side, which must keep its order.  A pipe holds what one read moved,
and is empty again before the read returns: what the other socket does not
take at once is read back out of the pipe and queued there like any other
write, so backpressure and `--max-output` hold as for copied bytes.  The
pipe, two descriptors, is made at a connection's first large read and
closed with it.  The cost, measured: docs/appendix-performance.md.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["PIPE_SIZE", "Pipe", "available"]

PIPE_SIZE = 256 * 1024  # more than a large read (126 KiB); unprivileged, up to fs.pipe-max-size
FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)


def available() -> bool:
    """Can this Python splice?  (Linux, Python 3.10+: os.splice.)"""
    return hasattr(os, "splice")


class Pipe:
    """One connection's pipe: `take` from its socket, `give` to the other one."""

    __slots__ = ("read_end", "write_end", "size")

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # over fs.pipe-max-size, or a pipe-size quota: the default then
            pass
        self.size = fcntl.fcntl(self.write_end, fcntl.F_GETPIPE_SZ)

    def take(self, fd: int, most: int) -> int:
        """Move up to `most` bytes from the socket `fd` into the (empty) pipe: how
        many, 0 at the peer's EOF; BlockingIOError when there are none."""
        return os.splice(fd, self.write_end, min(most, self.size), flags=FLAGS)

    def give(self, fd: int, count: int) -> bytes:
        """Move the pipe's `count` bytes to the socket `fd`, as many as it takes now;
        the rest comes back out of the pipe as bytes, which leaves it empty.  An
        OSError of the socket (a reset) empties the pipe too, then is raised."""
        sent = moved = 0
        try:
            while sent < count:
                moved = os.splice(self.read_end, fd, count - sent, flags=FLAGS)
                if not moved:
                    break
                sent += moved
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drain(count - sent)
            raise
        return self._drain(count - sent) if sent < count else b""

    def _drain(self, count: int) -> bytes:
        rest = b""
        while len(rest) < count:  # the pipe holds them all: no read can block
            rest += os.read(self.read_end, count - len(rest))
        return rest

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)
