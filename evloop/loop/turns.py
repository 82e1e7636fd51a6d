"""One turn of the loop: its phases, its two orders, and the hot path over the ready descriptors.

A turn (`run_once(timeout)`) has three phases, as libuv's, and `phase`
says which one is running.  IO: wait for events, at most `timeout` seconds
and never past the next timer, then call the ready descriptors' callbacks,
the reader then the writer if it is still there, as ae.c does.  CALLBACKS:
run the due timers and the call_soon queue.  TURN_END: call what asked for
the turn's end, where a transport sends what callbacks wrote during the
turn in one system call, as uvloop's "check" phase does.  Between turns
the phase is IO: only the two later phases are marked, since they are
entered only when there is something to run, and a mark costs a store.

That is libuv's order, and so uvloop's: the wake-up a reader schedules
runs in the turn its bytes arrived.  asyncio's is another, and programs
written for asyncio can tell them apart, so evloop.aio turns the loop in
asyncio's (`run_once(timeout, asyncio_order=True)`, BaseEventLoop._run_once): the wait,
then what was queued before it, then the ready descriptors, then the
timers due; what any of them queues waits for the next wait.

The hot path is the loop over ready descriptors: a descriptor readable and
nothing else, by far the most common event, costs one comparison, one dict
lookup, one attribute and the call; anything else goes through
`_dispatch_other` (bench/results/README.md, "Where the time goes").
While an instrument watches the descriptors' callbacks (before_io,
after_io), every event takes `_dispatch_other`'s path instead, timed: the
choice is made once a turn, not once an event.

`Turns` is the part of `evloop.loop.base.BaseLoop` that turns; the loop's
state (its queue, heap, descriptors and instruments) is BaseLoop's.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.backends import READABLE
from evloop.loop.backends import event_mask
from evloop.loop.descriptors import Record
from evloop.loop.instruments import Instruments
from evloop.loop.timers import Scheduled
from evloop.loop.timers import TimerHeap

__all__ = ["CALLBACKS", "IO", "TURN_END", "Turns"]

# The phases of a turn (see the module docstring), the values of `BaseLoop.phase`.
IO = "io"  # the wait, the ready descriptors' readers and writers; also between turns
CALLBACKS = "callbacks"  # the due timers and the call_soon queue
TURN_END = "turn end"  # what asked for the turn's end (at_turn_end)

Hooks = tuple[tuple[Callable[..., Any], ...], tuple[Callable[..., Any], ...]]


class Turns:
    """How BaseLoop turns: `run_once` in its own order, `run_once_queue_first` in asyncio's."""

    # BaseLoop's state, which a turn reads (set in BaseLoop.__init__).
    now: float
    phase: str
    instruments: Instruments
    _poll: Callable[[float | None], list[tuple[int, int]]]
    _fds: dict[int, Record]
    _ready: collections.deque[Scheduled]
    _timers: TimerHeap
    _heap: list[Any]
    _turn_end: list[Callable[[], object]]
    _callback_hooks: Hooks | None
    _io_hooks: Hooks | None
    _turn_hooks: tuple[Callable[[float], object], ...]
    _callback_raised: Callable[[Exception, Callable[..., object], str], None]  # the error path

    def run_once(self, timeout: float | None = 0, asyncio_order: bool = False) -> None:
        """One turn: wait for events at most `timeout` seconds (0, the default:
        only look; None: as long as it takes), never past the next timer, then
        call the ready descriptors' callbacks, the due timers and the call_soon
        queue.  With `asyncio_order`, asyncio's turn instead (BaseEventLoop.
        _run_once): what was queued before the wait runs first, then the ready
        descriptors' callbacks, then the timers due, and what any of them queues
        waits for the next turn, after the next wait."""
        heap, ready = self._heap, self._ready
        if heap and not heap[0][2]._cancelled and not ready and not self._turn_end:
            # _next_timeout's common case, inlined: it runs every turn.
            wait = heap[0][0] - time.monotonic()
            if wait < 0:
                wait = 0
            if timeout is None or wait < timeout:
                timeout = wait
        else:
            timeout = self._next_timeout(timeout)
        events = self._poll(timeout)
        self.now = now = time.monotonic()
        if asyncio_order:
            # asyncio's pass: what was queued before the wait, then the descriptors,
            # then the timers due now, taken off the heap before anything runs (so a
            # timer a callback sets this turn waits for the next, however soon it is due).
            queued, due = len(ready), 0
            if heap and heap[0][0] <= now:
                ready.extend(self._timers.pop_due(now))
                due = len(ready) - queued
            if queued:
                self._run_callbacks(queued)
        if self._io_hooks is None:  # tested once a turn, not once an event
            fds = self._fds
            for fd, event in events:
                if event == READABLE:  # readable, nothing else: most events by far
                    # A subscript in a try: the cheapest lookup of a key nearly always there.
                    try:
                        reader = fds[fd].reader
                    except KeyError:  # removed by an earlier callback this turn
                        continue
                    try:
                        reader()
                    except Exception as exc:  # free in CPython 3.11+ until one is raised
                        self._callback_raised(exc, reader, f"the reader of fd {fd}")
                else:
                    self._dispatch_other(fd, event)
        else:
            for fd, event in events:
                self._dispatch_other(fd, event, self._call_observed)
        if asyncio_order:
            if due:  # at the queue's head now, ahead of what this turn queued
                self._run_callbacks(due)
        else:
            if heap and heap[0][0] <= now:
                ready.extend(self._timers.pop_due(now))
            if ready:  # _run_callbacks, inlined: evloop's own turn runs it every turn
                self.phase = CALLBACKS
                try:
                    self._run_ready(len(ready))
                finally:
                    self.phase = IO
        if self._turn_end:
            self.phase = TURN_END
            try:
                self._run_turn_end()
            finally:
                self.phase = IO
        if self._turn_hooks:
            self.instruments.notify(self._turn_hooks, time.monotonic() - now)

    def run_once_queue_first(self, timeout: float | None = 0) -> None:
        """One turn in asyncio's order, for evloop.aio: `run_once(timeout, asyncio_order=True)`."""
        self.run_once(timeout, True)

    def _run_callbacks(self, count: int) -> None:
        """The first `count` queued callbacks, in the CALLBACKS phase."""
        self.phase = CALLBACKS
        try:
            self._run_ready(count)
        finally:
            self.phase = IO

    def _dispatch_other(self, fd: int, event: int,
                        call: Callable[[int, str, Callable[[], Any]], None] | None = None
                        ) -> None:
        """Writable, both, or an error/hang-up (which wakes whichever is watching);
        any event, through `call`, while an instrument watches the descriptors' callbacks."""
        mask = event_mask(event)
        for role, wanted in (("reader", EVENT_READ), ("writer", EVENT_WRITE)):
            record = self._fds.get(fd)  # looked up again: the reader may have removed it
            if record is None or not mask & wanted:
                continue
            callback = record.reader if wanted == EVENT_READ else record.writer
            if call is not None:
                call(fd, role, callback)
                continue
            try:
                callback()
            except Exception as exc:
                self._callback_raised(exc, callback, f"the {role} of fd {fd}")

    def _call_observed(self, fd: int, role: str, callback: Callable[[], Any]) -> None:
        """One descriptor's callback, timed for the instruments' before_io and after_io."""
        assert self._io_hooks is not None
        befores, afters = self._io_hooks
        notify = self.instruments.notify
        notify(befores, fd, callback)
        start = time.monotonic()
        try:
            callback()
        except Exception as exc:
            self._callback_raised(exc, callback, f"the {role} of fd {fd}")
        notify(afters, fd, callback, time.monotonic() - start)

    def _next_timeout(self, limit: float | None) -> float | None:
        """How long the next wait may be: 0 with callbacks queued (at the turn's end
        too: asked for outside a turn), else until the next timer, and never more
        than `limit` (None: no limit)."""
        if self._ready or self._turn_end:
            return 0
        wait = self._timers.next_timeout()  # drops cancelled timers from the top
        if wait is None:
            return limit
        return wait if limit is None or wait < limit else limit

    def _run_ready(self, count: int) -> None:
        """The one runner of the call_soon queue (and of the timers due, moved into it).

        Only the first `count`, queued before this pass, run now; callbacks
        that queue more wait for the next turn, so the selector is never starved."""
        ready, hooks = self._ready, self._callback_hooks
        for _ in range(count):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            if hooks is not None:
                self._run_observed(handle, *hooks)
                continue
            try:
                handle._run()  # an asyncio.Handle reports its own errors
            except Exception as exc:
                self._callback_raised(exc, handle._callback, "the callback")

    def _run_observed(self, handle: Scheduled, befores: tuple[Callable[..., Any], ...],
                      afters: tuple[Callable[..., Any], ...]) -> None:
        """One queued callback, timed for the instruments.  The plain path above
        runs it with no call of its own: most turns have no instrument."""
        notify = self.instruments.notify
        notify(befores, handle)
        start = time.monotonic()
        try:
            handle._run()
        except Exception as exc:
            self._callback_raised(exc, handle._callback, "the callback")
        notify(afters, handle, time.monotonic() - start)

    def _run_turn_end(self) -> None:
        # Cleared in place (`at_turn_end` is its bound append); what these
        # callbacks ask for runs at the next turn's end.
        callbacks = self._turn_end.copy()
        self._turn_end.clear()
        for index, callback in enumerate(callbacks):
            try:
                callback()
            except Exception as exc:
                self._callback_raised(exc, callback, "the turn-end callback")
            except BaseException:  # Ctrl-C: what did not run yet runs at the next turn's end
                self._turn_end[:0] = callbacks[index + 1:]
                raise
