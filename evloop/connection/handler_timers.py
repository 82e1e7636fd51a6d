"""What a handler leaves running: its timers, and the one error path they share.

A handler may ask for a call later (`context.call_later`), or a call every
so often (`context.call_every`), on its own connection, or, in
`server_started`, on the whole server's context.  Such a call belongs to
whoever asked: when the connection ends (or the server stops), every call
still pending is cancelled, so that no callback runs for a client that is
gone.  `HandlerTimers` is that set, a part of each connection and of the
server-wide context; it hands out `HandlerTimer`s and `HandlerPeriodic`s,
whose `cancel()` drops them, and it runs each callback through the `run`
function its owner gives it: the owner's one error path, where a callback
that raises is reported through the loop's exception handler and costs
only its connection (or, server-wide, only that call).

A periodic call keeps its own grid, as Twisted's LoopingCall does: beat n is
due at start + n * interval on the loop's clock (time.monotonic()), not an
interval after the last one ran, so the time a callback takes does not add
up.  A beat that comes too late for the next ones (the loop was busy, the
machine asleep) is followed by the next beat still ahead on the grid, not by
a burst of the missed ones; `skipped` counts them.  The clock is anything
with the loop's `time()` and `call_later()`: evloop.testing's hand-moved
clock drives these same classes.

A handler that re-arms a timeout on every message cancels the old one; the
loop compacts its heap (evloop.loop.timers), so nothing piles up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from typing import Protocol

#: How an owner runs a handler's callback: run(what, callback, args).
Runner = Callable[[str, Callable[..., object], tuple[Any, ...]], object]


class Scheduled(Protocol):
    """What a clock's call_later returns (evloop.loop.timers.Timer)."""

    def cancel(self) -> None: ...

    def when(self) -> float: ...


class Clock(Protocol):
    """What handler timers need of a loop: its clock, and calls set against it."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Scheduled: ...


class HandlerTimer:
    """What `context.call_later()` returns: `cancel()` drops the call."""

    __slots__ = ("owner", "callback", "args", "timer")

    def __init__(self, owner: HandlerTimers, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.owner = owner
        self.callback = callback
        self.args = args
        self.timer: Scheduled | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.owner.pending.discard(self)

    def cancelled(self) -> bool:
        return self.timer is None

    def when(self) -> float | None:
        """When it is due (time.monotonic()); None once it ran or was cancelled."""
        return None if self.timer is None else self.timer.when()

    def fire(self) -> None:
        self.timer = None
        self.owner.pending.discard(self)
        self.owner.run("a call_later callback", self.callback, self.args)


class HandlerPeriodic(HandlerTimer):
    """What `context.call_every()` returns: `cancel()` stops the beats."""

    __slots__ = ("interval", "due", "beats", "skipped")

    def __init__(self, owner: HandlerTimers, interval: float, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        super().__init__(owner, callback, args)
        self.interval = interval
        self.due = owner.loop.time() + interval  # the grid's next point
        self.beats = 0  # how many times the callback was called
        self.skipped = 0  # beats missed because the loop came too late for them

    def when(self) -> float | None:
        """When the next beat is due (time.monotonic()); None once cancelled."""
        return None if self.timer is None else self.due

    def arm(self) -> None:
        self.timer = self.owner.loop.call_later(self.due - self.owner.loop.time(), self.fire)

    def fire(self) -> None:
        now = self.owner.loop.time()
        self.due += self.interval
        if self.due <= now:  # late by a beat or more: on to the next point ahead
            missed = math.floor((now - self.due) / self.interval) + 1
            self.skipped += missed
            self.due += missed * self.interval
        self.arm()  # before the call, so that the callback may cancel it
        self.beats += 1
        self.owner.run("a call_every callback", self.callback, self.args)


class HandlerTimers:
    """The pending calls one owner (a connection, a server) asked for."""

    __slots__ = ("loop", "run", "pending")

    def __init__(self, loop: Clock, run: Runner) -> None:
        self.loop = loop
        self.run = run
        self.pending: set[HandlerTimer] = set()  # call_every's HandlerPeriodic among them

    def add(self, delay: float, callback: Callable[..., object],
            args: tuple[Any, ...]) -> HandlerTimer:
        if not callable(callback):
            raise TypeError(f"call_later needs a callable, not {type(callback).__name__}")
        handle = HandlerTimer(self, callback, args)
        handle.timer = self.loop.call_later(delay, handle.fire)
        self.pending.add(handle)
        return handle

    def every(self, interval: float, callback: Callable[..., object],
              args: tuple[Any, ...]) -> HandlerPeriodic:
        if not callable(callback):
            raise TypeError(f"call_every needs a callable, not {type(callback).__name__}")
        if (isinstance(interval, bool) or not isinstance(interval, (int, float))
                or not 0 < interval < math.inf):
            raise ValueError(f"call_every needs an interval of more than 0 seconds, "
                             f"not {interval!r}")
        handle = HandlerPeriodic(self, float(interval), callback, args)
        handle.arm()
        self.pending.add(handle)
        return handle

    def cancel_all(self) -> None:
        pending, self.pending = self.pending, set()
        for handle in pending:
            handle.cancel()

    def __len__(self) -> int:
        return len(self.pending)
