"""A clock the test moves by hand, for timers without a loop and without waiting.

A handler's timers (`context.call_later`, `context.call_every`) are set
against the loop's clock.  In a test, waiting for real seconds is slow and,
on a busy machine, flaky; so the fake contexts of evloop.testing set them
on a `ManualClock` instead, whose time stands still until the test says
`clock.advance(seconds)`.  Then every call that falls due within those
seconds runs, in deadline order (ties in the order they were set), with
`time()` reading each call's own deadline while it runs, as Twisted's
`task.Clock` does.  So a periodic timer that re-arms itself from its
callback re-arms against the right time, and `advance(10)` on a one-second
ticker runs ten beats, not one.

The clock has the two methods handler timers need of a loop, `time()` and
`call_later()` (evloop.connection.handler_timers.Clock), so the fakes run
the same timer code as a server.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class ManualTimer:
    """What `ManualClock.call_later` returns: `cancel()` drops the call."""

    __slots__ = ("deadline", "callback", "args", "done")

    def __init__(self, deadline: float, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.args = args
        self.done = False  # ran, or cancelled

    def when(self) -> float:
        return self.deadline

    def cancel(self) -> None:
        self.done = True

    def cancelled(self) -> bool:
        return self.done


class ManualClock:
    """A clock at `start` seconds that moves only when `advance()` is called."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)
        self._heap: list[tuple[float, int, ManualTimer]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"<ManualClock at {self.now:g} s, {len(self.pending())} call(s) pending>"

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> ManualTimer:
        timer = ManualTimer(self.now + max(0.0, delay), callback, args)
        heapq.heappush(self._heap, (timer.deadline, next(self._order), timer))
        return timer

    def pending(self) -> list[float]:
        """The deadlines of the calls still to run, soonest first."""
        return sorted(timer.deadline for _, _, timer in self._heap if not timer.done)

    def advance(self, seconds: float) -> int:
        """Move the clock on by `seconds`, running every call due by then, and
        return how many ran.  A callback that raises stops here, with the
        clock at its deadline: the exception is the test's to see."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        until = self.now + seconds
        ran = 0
        while self._heap and self._heap[0][0] <= until:
            deadline, _, timer = heapq.heappop(self._heap)
            if timer.done:
                continue
            timer.done = True
            self.now = max(self.now, deadline)
            ran += 1
            timer.callback(*timer.args)
        self.now = until
        return ran
