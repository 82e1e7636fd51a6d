"""What evloop.aio queues: asyncio's Handles, made cheaply.

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

Debug mode's other parts are evloop.aio.debug's.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any


__all__ = ["Handle", "TimerHandle", "in_this_context"]

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


def in_this_context(callback: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """`callback(*args)`, to be called later in a copy of the current contextvars
    context, as an asyncio Handle made now would call it (call_soon, add_reader and
    add_writer make theirs so): for the readers and writers evloop.aio gives the
    evloop Loop directly, without a Handle."""
    return functools.partial(contextvars.copy_context().run, callback, *args)
