"""After the last reply: the lingering close.

Closing a TCP connection well takes more than `close()`.  If the socket
still holds input nobody read when it is closed, the kernel answers with
RST instead of FIN, and an RST can destroy replies that are still in
flight to the client: it would see "connection reset" instead of its last
answers.  So a server that closes first (an idle client, a protocol error,
a shutdown) does it in three steps, as nginx's lingering close does:

1. send what is due, then FIN (`shutdown(SHUT_WR)`; over TLS, close_notify
   first): "I will send no more";
2. read, and drop, whatever the peer still sends, until its EOF;
3. close.  A peer that never closes its side is dropped after
   LINGER_TIMEOUT (2 s).

Step 1 is the connection's (evloop.connection.connection), since its
output must drain first.  Steps 2 and 3 are a `Lingerer`'s: once FIN is
sent, the connection (in LINGERING) hands it the socket's reader; the
lingerer drops input and, at the peer's EOF, its timeout or a socket
error, calls `on_done(event, error)` once, with PEER_EOF, TIMEOUT or
ABORT, and the connection closes.  It knows nothing else of the
connection, as `Handshakes` (evloop.connection.handshakes) knows nothing
of what comes after it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from evloop.connection.states import Event
from evloop.connection.tls import TLSSession
from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer

LINGER_TIMEOUT = 2.0  # how long a closing connection waits for EOF after our FIN
DISCARD_READ = 65536  # bytes dropped per read while lingering


def shut_output(sock: socket.socket, tls: TLSSession | None) -> None:
    """Our end of output: close_notify over TLS, then FIN; OSError if the socket is gone.

    `socket.socket.shutdown`, not the SSL socket's own method, which would
    also forget its SSL object: TLS goes on reading after its close_notify.
    """
    if tls is not None:
        tls.close_notify()
    socket.socket.shutdown(sock, socket.SHUT_WR)


class Lingerer:
    """Drops a socket's input until the peer's EOF, for at most LINGER_TIMEOUT."""

    __slots__ = ("loop", "fd", "read", "on_done", "timer")

    def __init__(self, loop: BaseLoop, fd: int, read: Callable[[int, int], bytes],
                 on_done: Callable[[Event, OSError | None], object]) -> None:
        self.loop = loop
        self.fd = fd
        self.read = read
        self.on_done = on_done
        self.timer: Timer | None = None

    def start(self) -> None:
        self.loop.add_reader(self.fd, self.on_readable)
        self.timer = self.loop.call_later(LINGER_TIMEOUT, self._done, Event.TIMEOUT, None)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.loop.remove_reader(self.fd)

    def on_readable(self) -> None:
        """The reader while lingering: drop what the peer still sends, until its EOF."""
        try:
            data = self.read(self.fd, DISCARD_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._done(Event.ABORT, exc)
        if not data:
            self._done(Event.PEER_EOF, None)

    def _done(self, event: Event, error: OSError | None) -> None:
        self.cancel()
        self.on_done(event, error)
