"""A connection's clock: the idle timeout and the linger timeout.

A server must not wait forever on a client.  Two waits can last forever:

* idle (`--idle-timeout`, 300 s): a client that completes no message, whether
  it sends nothing or dribbles a byte at a time (a slowloris), is closed;
* linger (LINGER_TIMEOUT, 2 s): after our FIN the connection reads and drops
  input until the peer's EOF, so that the kernel does not answer unread
  input with an RST that could destroy replies still in flight; a peer that
  never closes its side is dropped when this runs out.

Theory of operation: each connection holds at most one timer on the loop's
heap (`self.timer`).  The idle timer is not pushed again for every message:
a message only stores the loop's clock in `last_progress`, and when the
timer fires it compares that time with the deadline and, if the client made
progress meanwhile, re-arms itself for the time that is left.  So a busy
connection costs one attribute store per message and one heap push per
idle period, and there is no periodic scan of all connections.

`ConnectionTimeouts` is a mixin of `evloop.connection.Connection`, kept in
its own module because it is the connection's clock, not its I/O.  It uses
the connection's `loop`, `state`, `peer`, `idle_timeout`, `last_progress`,
`close()` and `abort()`.
"""

import logging

from evloop.states import CLOSED
from evloop.states import LINGERING
from evloop.states import OPEN

log = logging.getLogger("evloop")

LINGER_TIMEOUT = 2.0  # how long a closing connection waits for EOF after our FIN


class ConnectionTimeouts:
    timer = None

    def _arm_timer(self, delay, callback, *args):
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(delay, callback, *args)

    def _cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _arm_idle_timer(self):
        if self.idle_timeout:
            self._arm_timer(self.idle_timeout, self._on_idle_timer)

    def _arm_linger_timer(self):
        self._arm_timer(LINGER_TIMEOUT, self._transition, "timeout")

    def _on_idle_timer(self):
        self.timer = None
        remaining = self.last_progress + self.idle_timeout - self.loop.now
        if remaining > 0:  # progress since the timer was armed
            return self._arm_timer(remaining, self._on_idle_timer)
        if self.state is OPEN:
            log.info("%s: no complete message for %gs (--idle-timeout): closing",
                     self.peer, self.idle_timeout)
            self.last_progress = self.loop.now
            self.close()
            if self.state is not CLOSED and self.state is not LINGERING:
                self._arm_idle_timer()  # flushing to a client that does not read
        elif self.state is not LINGERING:
            self.abort(f"no progress for {self.idle_timeout:g}s while {self.state.value} "
                       f"(--idle-timeout): dropping", level=logging.INFO)
