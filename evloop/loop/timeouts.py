"""Timeouts of one length: a queue in the order they were armed, one timer for all.

Every connection arms an idle timeout as it opens, and under connection
churn most of them are cancelled milliseconds later.  On the heap
(evloop.loop.timers) each one is a Timer, a push, a mark when cancelled and
a pop when the mark reaches the top.  Timeouts that all have the same length
fall due in the order they were armed, so they need no heap: a dict, which
keeps its keys in insertion order, is the queue (arming is a store,
disarming a delete, both O(1)), and one timer on the loop's heap waits for
the oldest entry.  When that timer fires it calls back every entry that is
due, oldest first, and waits again for the next.  Node.js keeps its timers
the same way, in one list per duration (lib/internal/timers.js).

Disarming the oldest entry leaves the timer where it is: it fires for
nothing at most once, then waits for the new oldest.  Cancelling it, and
arming it again, each time a queue of one connection empties and fills
would cost what the queue saves.

Each queue holds one length and one callback, `callback(key)`; the loop
keeps one queue per pair (`BaseLoop.timeouts`) and lets go of a queue that
its timer finds empty (`on_empty`).  So that a handler setting a new
length on every connection cannot pile up empty queues and their timers
meanwhile, the loop also drops the empty ones, timers and all, whenever
it holds twice as many queues as after the last such sweep.  A callback
that raises is reported through the loop's exception handler, and the
other entries due still run; an entry that a callback disarmed or armed
again before its turn is not called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Hashable
from typing import Protocol

from evloop.loop.timers import Timer


class TimerLoop(Protocol):
    """What a queue asks of its loop (evloop.loop.base.BaseLoop)."""

    def call_later(self, delay: float, callback: Callable[..., object]) -> Timer: ...
    def call_exception_handler(self, context: dict[str, object]) -> None: ...


class Timeouts:
    """Timeouts of `delay` seconds, each calling `callback(key)` unless disarmed first.

    Methods: `arm(key)` (again: the timeout starts over), `disarm(key)`,
    `deadline(key)`; `len()` is how many are armed."""

    __slots__ = ("loop", "delay", "callback", "on_empty", "entries", "timer")

    def __init__(self, loop: TimerLoop, delay: float, callback: Callable[[Hashable], object],
                 on_empty: Callable[[], object] | None = None) -> None:
        self.loop = loop
        self.delay = delay
        self.callback = callback
        self.on_empty = on_empty  # called when the timer fires and finds nothing left
        self.entries: dict[Hashable, float] = {}  # key: deadline, oldest first
        self.timer: Timer | None = None  # on the loop's heap, for the oldest

    def __len__(self) -> int:
        return len(self.entries)

    def arm(self, key: Hashable) -> None:
        entries = self.entries
        if key in entries:
            del entries[key]  # to the back of the queue
        entries[key] = time.monotonic() + self.delay
        if self.timer is None:
            self.timer = self.loop.call_later(self.delay, self._expire)

    def disarm(self, key: Hashable) -> None:
        self.entries.pop(key, None)

    def deadline(self, key: Hashable) -> float | None:
        """When `key`'s timeout falls due (time.monotonic()), or None if not armed."""
        return self.entries.get(key)

    def close(self) -> None:
        """Drop what is armed, and the timer: none of it will be called."""
        self.entries.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        entries = self.entries
        now = time.monotonic()
        due = []
        for key, deadline in entries.items():
            if deadline > now:
                break
            due.append((key, deadline))
        try:
            for key, deadline in due:
                if entries.get(key) != deadline:
                    continue  # disarmed, or armed again, by a callback that ran before it
                del entries[key]
                try:
                    self.callback(key)
                except Exception as exc:
                    self.loop.call_exception_handler({
                        "message": f"a timeout's callback {self.callback!r} raised",
                        "exception": exc})
        finally:  # even past a KeyboardInterrupt: what is still armed keeps a timer
            if self.timer is None:
                if entries:
                    oldest = next(iter(entries.values()))
                    self.timer = self.loop.call_later(max(oldest - time.monotonic(), 0),
                                                      self._expire)
                elif self.on_empty is not None:
                    self.on_empty()
