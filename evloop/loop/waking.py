"""Waking a sleeping loop: from another thread, and on a signal.

A loop blocked in epoll_wait() (or poll, or select) wakes only when a
descriptor it watches is ready.  So the waker is a socket pair whose
reading end the loop watches:

* `call_soon_threadsafe` queues its callback, then writes one byte (0) into
  the other end; a full socket means a wake-up is pending already;
* signals: `signal.set_wakeup_fd()` makes the C-level signal handler write
  the signal number itself into the same socket, so SIGINT or SIGTERM wakes
  the loop at once instead of at its next timeout.  The Python-level handler
  does nothing: the loop reads the numbers and runs each signal's callback
  as an ordinary callback (`call_soon`), outside the signal handler.

The waker is made with the loop, not on first use: poll() and select() do
not notice a descriptor registered by another thread while they are blocked.
`close(ignore)` puts the previous signal handlers back, except that the
signals in `ignore` are ignored from then on.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from collections.abc import Collection
from typing import Any


class Waker:
    """The loop's waker socket and the signals it carries."""

    def __init__(self, call_soon: Callable[..., object]) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self.call_soon = call_soon
        self.callbacks: dict[int, Callable[[int], object]] = {}
        self.old_handlers: dict[int, Any] = {}
        self.old_wakeup_fd: int | None = None
        self.closed = False

    def wake(self) -> None:
        """From any thread: make the loop's wait return."""
        if self.closed:
            return  # nothing will run the callback anyway
        try:
            self.writer.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the socket is full of wake-ups already: the loop will wake
        except OSError:
            pass  # closed by close() in the loop's thread meanwhile

    def add_signal_handler(self, signum: int, callback: Callable[[int], object]) -> None:
        """Run `callback(signum)` in the loop when `signum` arrives (main thread only)."""
        if self.closed:
            raise RuntimeError("the loop is closed")
        if self.old_wakeup_fd is None:
            self.old_wakeup_fd = signal.set_wakeup_fd(self.writer.fileno(),
                                                      warn_on_full_buffer=False)
        self.callbacks[signum] = callback
        old = signal.signal(signum, _ignore_signal)
        self.old_handlers.setdefault(signum, old)

    def remove_signal_handler(self, signum: int) -> None:
        """Stop carrying `signum`: its handler from before add_signal_handler is back."""
        if self.callbacks.pop(signum, None) is None:
            return
        old = self.old_handlers.pop(signum, signal.SIG_DFL)
        signal.signal(signum, old if old is not None else signal.SIG_DFL)
        if not self.callbacks and self.old_wakeup_fd is not None:
            signal.set_wakeup_fd(self.old_wakeup_fd)
            self.old_wakeup_fd = None

    def on_readable(self) -> None:
        """The loop's reader for the waker: queue the callbacks of the signals read."""
        try:
            data = self.reader.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            callback = self.callbacks.get(signum)
            if callback is not None:  # 0 is a call_soon_threadsafe wake-up
                self.call_soon(callback, signum)

    def close(self, ignore: Collection[int] = ()) -> None:
        for signum, old in self.old_handlers.items():
            signal.signal(signum, signal.SIG_IGN if signum in ignore else old)
        self.old_handlers.clear()
        if self.old_wakeup_fd is not None:
            signal.set_wakeup_fd(self.old_wakeup_fd)
            self.old_wakeup_fd = None
        self.closed = True
        self.reader.close()
        self.writer.close()


def _ignore_signal(signum: int, frame: object) -> None:
    """Python-level handler: the wake-up fd already carries the signal."""
