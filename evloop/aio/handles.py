"""What evloop.aio queues: asyncio's Handles, made cheaply, and debug mode's instrument.

`call_soon` and `call_at` return asyncio's own Handle and TimerHandle,
because programs hold them (cancel, when, cancelled) and asyncio's Task
and Future schedule through them.  The evloop Loop queues and runs them as
it runs its own Timers: both have the fields that
evloop.loop.timers.Scheduled names (`_run`, `_cancelled`, `_callback`,
`_when`, `_scheduled`), on purpose, so that one queue and one heap hold
both.

asyncio's Handle asks its loop, as it is made, whether debug mode is on,
to record where it was made.  Outside debug mode `Handle` and
`TimerHandle` here fill asyncio's slots directly, without that question;
in debug mode the loop makes asyncio's own.

Debug mode's other part is `SlowCallbacks`, an instrument
(evloop.loop.instruments) that the loop installs only while debug mode is
on: it names the handle running (asyncio's `_current_handle`, which the
default exception handler reads), and logs every callback slower than the
loop's `slow_callback_duration`, in asyncio's words.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from evloop.loop.instruments import Instrument

__all__ = ["Handle", "SlowCallbacks", "TimerHandle"]

log = logging.getLogger("asyncio")


class Handle(asyncio.Handle):
    """asyncio's Handle, made without asking the loop for its debug mode."""

    __slots__ = ()

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...], loop: Any,
                 context: contextvars.Context | None = None) -> None:
        self._context = context if context is not None else contextvars.copy_context()
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


class TimerHandle(asyncio.TimerHandle):
    """asyncio's TimerHandle, made as Handle is."""

    __slots__ = ()

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...],
                 loop: Any, context: contextvars.Context | None = None) -> None:
        # asyncio.Handle's slots, filled as Handle fills them (both are asyncio.Handles).
        Handle.__init__(self, callback, args, loop, context)  # type: ignore[arg-type]
        self._when = when
        self._scheduled = False


class SlowCallbacks(Instrument):
    """Debug mode's instrument, for one evloop.aio loop (see the module's essay)."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop

    def before_callback(self, handle: Any) -> None:
        self.loop._current_handle = handle

    def after_callback(self, handle: Any, seconds: float) -> None:
        self.loop._current_handle = None
        if seconds >= self.loop.slow_callback_duration:
            log.warning("Executing %r took %.3f seconds", handle, seconds)
