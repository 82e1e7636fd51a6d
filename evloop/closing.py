"""The connection's clock and how it ends on its own: idle timeout and lingering close.

A server must not wait forever on a client, and must not lose the replies
it owes one.  Two things end a connection on the server's own initiative:

* idle (`--idle-timeout`, 300 s): a client that completes no message, whether
  it sends nothing or dribbles a byte at a time (a slowloris), is closed;
* the lingering close: once the replies due are flushed, the connection
  sends FIN (`shutdown(SHUT_WR)`), then reads and drops input until the
  peer's EOF (state LINGERING).  Closing a socket with unread input makes
  the kernel send RST, and an RST can destroy replies still in flight to
  the client.  A peer that never closes its side is dropped after
  LINGER_TIMEOUT (2 s).

Theory of operation: each connection holds at most one timer of its own on
the loop's heap (`self.timer`).  The idle timer is not pushed again for
every message: a message only stores the loop's clock in `last_progress`,
and when the timer fires it compares that time with the deadline and, if the
client made progress meanwhile, re-arms itself for the time that is left.
So a busy connection costs one attribute store per message and one heap
push per idle period, and there is no periodic scan of all connections.

A handler's own timers (`context.call_later`) are another matter: see
evloop.handling.

`ConnectionClosing` is a mixin of `evloop.connection.Connection`, kept in
its own module because it is the connection's clock and its ending, not its
hot path.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from evloop.timers import Timer
from evloop.states import CLOSED
from evloop.states import LINGERING
from evloop.states import OPEN

if TYPE_CHECKING:
    from evloop.config import Config
    from evloop.loop import Loop
    from evloop.states import State

log = logging.getLogger("evloop")

LINGER_TIMEOUT = 2.0  # how long a closing connection waits for EOF after our FIN
DISCARD_READ = 65536  # bytes dropped per read while lingering


class ConnectionClosing:
    # The clock's own attributes; Connection declares the rest.
    __slots__ = ("timer", "last_progress", "ended_by")
    timer: Timer | None  # the one timer on the loop's heap
    last_progress: float  # the loop's clock at the last complete message
    ended_by: str | None  # why it ends, the first reason given (evloop.metrics.CLOSE_REASONS)

    if TYPE_CHECKING:  # what this mixin uses of Connection
        loop: Loop
        sock: socket.socket
        fd: int
        sys_read: Callable[[int, int], bytes]
        state: State
        peer: str
        config: Config

        def _lost(self, exc: OSError, call: str) -> None: ...
        def _update_interest(self) -> None: ...
        def _transition(self, event: str) -> None: ...

    def abort(self, reason: str = "aborted by its handler", level: int = logging.DEBUG,
              reset: bool = False, why: str = "handler_abort") -> None:
        """Drop the connection now, with whatever is queued; `reset` sends RST;
        `why` is the reason metrics count (evloop.metrics.CLOSE_REASONS)."""
        if self.state is CLOSED:
            return
        self._ending(why)
        log.log(level, "%s: %s", self.peer, reason)
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST: the peer
            # sees an error, never a clean EOF after a torn reply.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transition("abort")

    def begin_close(self, why: str = "handler_close") -> None:
        """Stop reading, deliver the replies due, send FIN, then close: now.
        `why` is the reason metrics count (evloop.metrics.CLOSE_REASONS)."""
        if self.state is not CLOSED:
            self._ending(why)
            self._transition("close")

    def _ending(self, why: str) -> None:
        """Record why the connection ends, unless a reason came first."""
        if self.ended_by is None:
            self.ended_by = why

    # -- the lingering close ---------------------------------------------------

    def _send_fin(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            return self._lost(exc, "shutdown")
        self._update_interest()  # the LINGERING reader: _discard_input
        self._arm_linger_timer()

    def _discard_input(self) -> None:
        """The reader while LINGERING: drop what the peer still sends, until its EOF."""
        try:
            data = self.sys_read(self.fd, DISCARD_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not data:
            self._transition("peer_eof")

    # -- the one timer ---------------------------------------------------------

    def _arm_timer(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(delay, callback, *args)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _arm_idle_timer(self) -> None:
        if self.config.idle_timeout:
            self._arm_timer(self.config.idle_timeout, self._on_idle_timer)

    def _arm_linger_timer(self) -> None:
        self._arm_timer(LINGER_TIMEOUT, self._transition, "timeout")

    def _on_idle_timer(self) -> None:
        self.timer = None
        idle_timeout = self.config.idle_timeout
        remaining = self.last_progress + idle_timeout - self.loop.now
        if remaining > 0:  # progress since the timer was armed
            return self._arm_timer(remaining, self._on_idle_timer)
        if self.state is OPEN:
            log.info("%s: no complete message for %gs (--idle-timeout): closing",
                     self.peer, idle_timeout)
            self.last_progress = self.loop.now
            self.begin_close("idle_timeout")
            if self.state is not CLOSED and self.state is not LINGERING:
                self._arm_idle_timer()  # flushing to a client that does not read
        elif self.state is not LINGERING:
            self.abort(f"no progress for {idle_timeout:g}s while {self.state.value} "
                       f"(--idle-timeout): dropping", level=logging.INFO, why="idle_timeout")
