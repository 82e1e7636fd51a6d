"""Timers: a heap of deadlines, as in asyncio and libuv.

`call_later(delay, fn)` pushes a `Timer` onto a binary heap ordered by its
deadline (`time.monotonic()`), so the nearest one is always at the top: the
loop's wait gets `next_timeout()` as its timeout, then pops what is due.
(Redis's ae.c keeps its timers in an unsorted list and scans it for the
nearest, which is enough for its few timers; here every connection has an
idle timer, so finding the nearest must not cost a scan.)

The heap holds (deadline, sequence number, timer) tuples, not the timers:
tuples compare in C, where a Timer.__lt__ would be a Python call, and a heap
push or pop makes several comparisons.  Under connection churn every
connection arms and cancels an idle timer, so those comparisons run per
connection (bench/results/README.md, "Connection churn").  The
sequence number breaks ties in the order the timers were made.

Cancelling does not search the heap: it marks the timer, and a cancelled
timer is dropped when it reaches the top.  That alone would let a handler
that re-arms a timeout on every message grow the heap without bound, so
the heap is rebuilt without the cancelled ones once they are more than
MIN_CANCELLED_TO_COMPACT and more than half of it.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any
from typing import Protocol

# Rebuild the heap when more than this many cancelled timers sit in it and
# they are more than half of it.  (asyncio compacts at the same fraction, once
# its heap holds more than 100 handles, cancelled ones included.)
MIN_CANCELLED_TO_COMPACT = 100


class Timer:
    """A callback due at `when()` (time.monotonic()); `cancel()` to drop it.

    Its fields have asyncio's names (`_when`, `_callback`, `_args`,
    `_cancelled`, `_scheduled`) and it runs with `_run()`, as an
    asyncio.Handle does, so that the loop's one queue and one heap hold
    evloop's timers and asyncio's handles alike (evloop.aio).
    """

    __slots__ = ("_when", "_callback", "_args", "_cancelled", "_scheduled", "_heap")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...],
                 heap: TimerHeap | None = None) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._scheduled = heap is not None  # waiting on a heap
        self._heap = heap

    @property
    def callback(self) -> Callable[..., object]:
        return self._callback

    @property
    def args(self) -> tuple[Any, ...]:
        return self._args

    def when(self) -> float:
        return self._when

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            if self._scheduled and self._heap is not None:
                self._heap.cancelled_one()

    def _run(self) -> None:
        self._callback(*self._args)


class Scheduled(Protocol):
    """What the heap and the loop's queue hold: a Timer, or an asyncio.TimerHandle."""

    _when: float
    _callback: Callable[..., object]
    _cancelled: bool
    _scheduled: bool

    def _run(self) -> None: ...


class TimerHeap:
    """The pending timers, nearest first."""

    def __init__(self) -> None:
        # (when, sequence, timer), a heap: the nearest is timers[0][2]
        self.timers: list[tuple[float, int, Scheduled]] = []
        self.cancelled = 0  # cancelled timers still in `timers`
        self._sequence = itertools.count()

    def __len__(self) -> int:
        """How many timers are pending (not cancelled)."""
        return len(self.timers) - self.cancelled

    def push(self, delay: float, callback: Callable[..., object], args: tuple[Any, ...]) -> Timer:
        timer = Timer(time.monotonic() + delay, callback, args, self)
        heapq.heappush(self.timers, (timer._when, next(self._sequence), timer))
        return timer

    def push_at(self, handle: Scheduled) -> None:
        """Schedule a handle made elsewhere (an asyncio.TimerHandle), at its `_when`."""
        handle._scheduled = True
        heapq.heappush(self.timers, (handle._when, next(self._sequence), handle))

    def clear(self) -> None:
        """Drop every timer (the loop is closing: none of them will run)."""
        self.timers.clear()  # in place: the loop reads this list every turn
        self.cancelled = 0

    def cancelled_one(self) -> None:
        self.cancelled += 1
        if self.cancelled > MIN_CANCELLED_TO_COMPACT and self.cancelled * 2 > len(self.timers):
            live = []
            for entry in self.timers:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    live.append(entry)
            heapq.heapify(live)
            self.timers[:] = live
            self.cancelled = 0

    def next_timeout(self) -> float | None:
        """Seconds to the nearest deadline (0 if passed), or None if there is none."""
        timers = self.timers
        while timers and timers[0][2]._cancelled:
            heapq.heappop(timers)[2]._scheduled = False
            self.cancelled -= 1
        if not timers:
            return None
        timeout = timers[0][0] - time.monotonic()
        return timeout if timeout > 0 else 0

    def pop_due(self, now: float) -> list[Scheduled]:
        """Take every timer due at `now`, in deadline order, cancelled ones dropped."""
        timers = self.timers
        due = []
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)[2]
            timer._scheduled = False
            if timer._cancelled:
                self.cancelled -= 1
            else:
                due.append(timer)
        return due
