"""What a handler leaves running: its timers, and the one error path they share.

A handler may ask for a call later (`context.call_later`) on its own
connection, or, in `server_started`, on the whole server's context.  Such a
call belongs to whoever asked: when the connection ends (or the server
stops), every call still pending is cancelled, so that no callback runs
for a client that is gone.  `HandlerTimers` is that set, a part of each
connection and of the server-wide context; it hands out `HandlerTimer`s,
whose `cancel()` drops one call, and it runs each callback through the
`run` function its owner gives it: the owner's one error path, where a
callback that raises is reported through the loop's exception handler and
costs only its connection (or, server-wide, only that call).

A handler that re-arms a timeout on every message cancels the old one; the
loop compacts its heap (evloop.loop.timers), so nothing piles up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer

#: How an owner runs a handler's callback: run(what, callback, args).
Runner = Callable[[str, Callable[..., object], tuple[Any, ...]], object]


class HandlerTimer:
    """What `context.call_later()` returns: `cancel()` drops the call."""

    __slots__ = ("owner", "callback", "args", "timer")

    def __init__(self, owner: HandlerTimers, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.owner = owner
        self.callback = callback
        self.args = args
        self.timer: Timer | None = None

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


class HandlerTimers:
    """The pending calls one owner (a connection, a server) asked for."""

    __slots__ = ("loop", "run", "pending")

    def __init__(self, loop: BaseLoop, run: Runner) -> None:
        self.loop = loop
        self.run = run
        self.pending: set[HandlerTimer] = set()

    def add(self, delay: float, callback: Callable[..., object],
            args: tuple[Any, ...]) -> HandlerTimer:
        if not callable(callback):
            raise TypeError(f"call_later needs a callable, not {type(callback).__name__}")
        handle = HandlerTimer(self, callback, args)
        handle.timer = self.loop.call_later(delay, handle.fire)
        self.pending.add(handle)
        return handle

    def cancel_all(self) -> None:
        pending, self.pending = self.pending, set()
        for handle in pending:
            handle.cancel()

    def __len__(self) -> int:
        return len(self.pending)
