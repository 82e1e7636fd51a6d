"""evloop.aio's debug mode: what `set_debug(True)` (PYTHONASYNCIODEBUG, -X dev) adds, asyncio's way.

asyncio's debug mode finds the mistakes an event loop hides: a callback
that blocks the loop, a coroutine never awaited, a handle whose error is
reported far from where it was made.  evloop.aio does what asyncio's loop
does, in asyncio's words, because programs and tests read them:

* `SlowCallbacks`, an instrument (evloop.loop.instruments) installed only
  in debug mode, names the handle running (asyncio's `_current_handle`,
  which the default exception handler reads) and logs every callback
  slower than the loop's `slow_callback_duration`, a descriptor's reader
  or writer included (asyncio runs those as Handles too), as "Executing
  <Handle ...> took 0.150 seconds"; a task's step is named by its task,
  "Executing <Task finished name='Task-1' coro=...>";
* `made_by_caller` drops the loop's own frame from the traceback recorded
  where a handle or task was made, as asyncio's call_soon, call_later,
  call_at and create_task do, so that its last frame is the program's;
* `CoroutineOrigins` makes coroutines record where they were made while
  the loop runs in debug mode (`sys.set_coroutine_origin_tracking_depth`),
  and puts the program's own depth back when it stops or leaves debug mode.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from asyncio.constants import DEBUG_STACK_DEPTH
from collections.abc import Callable
from typing import Any

from evloop.aio.handles import Handle
from evloop.loop.instruments import Instrument

__all__ = ["CoroutineOrigins", "SlowCallbacks", "format_handle", "io_handle", "made_by_caller"]

log = logging.getLogger("asyncio")


class SlowCallbacks(Instrument):
    """Debug mode's instrument, for one evloop.aio loop (see the module's essay)."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop

    def before_callback(self, handle: Any) -> None:
        self.loop._current_handle = handle

    def after_callback(self, handle: Any, seconds: float) -> None:
        self.loop._current_handle = None
        if seconds >= self.loop.slow_callback_duration:
            log.warning("Executing %s took %.3f seconds", format_handle(handle), seconds)

    def after_io(self, fd: int, callback: Callable[[], Any], seconds: float) -> None:
        # asyncio runs a transport's reads and writes as Handles, and times them too.
        if seconds >= self.loop.slow_callback_duration:
            log.warning("Executing %s took %.3f seconds",
                        format_handle(io_handle(callback, self.loop)), seconds)


def format_handle(handle: Any) -> str:
    """A handle as asyncio's slow-callback warning names it: a task's step as the
    task ("<Task finished name='Task-1' coro=<main() done, ...>"), else the handle."""
    owner = getattr(handle._callback, "__self__", None)
    return repr(owner) if isinstance(owner, asyncio.Task) else str(handle)


def io_handle(callback: Callable[[], Any], loop: Any) -> asyncio.Handle:
    """The Handle asyncio would have run for a descriptor's callback, to name it:
    the callback itself, not the context's run that in_this_context wraps it in."""
    args: tuple[Any, ...] = ()
    wrapped: Any = callback
    if isinstance(wrapped, functools.partial) and \
            getattr(wrapped.func, "__name__", None) == "run" and \
            isinstance(getattr(wrapped.func, "__self__", None), contextvars.Context):
        callback, args = wrapped.args[0], wrapped.args[1:]
    return Handle(callback, args, loop)


def made_by_caller(made: Any) -> None:
    """Where a handle or task was made, without the loop's own method that made it."""
    if made._source_traceback:
        del made._source_traceback[-1]


class CoroutineOrigins:
    """Coroutine origin tracking for one loop: on while it runs in debug mode."""

    def __init__(self) -> None:
        self.on = False
        self.saved_depth = 0

    def track(self, enabled: bool) -> None:
        if bool(enabled) == self.on:
            return
        if enabled:
            self.saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self.saved_depth)
        self.on = bool(enabled)
