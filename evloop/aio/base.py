"""The first level of evloop.aio's loop: asyncio's scheduler and its life, over one evloop Loop.

asyncio's loop is a scheduler (call_soon, call_later, futures and tasks
resolved by callbacks) and a reactor (descriptors).  evloop's Loop
(evloop.loop.base.BaseLoop) is already both, so `BaseEventLoop` holds one
and speaks asyncio's language over it, adding no second queue, heap or
selector.  It has what every asyncio loop has, whatever its I/O:

* callbacks and timers: `call_soon` hands an asyncio Handle to the Loop
  (`enqueue`), `call_at` pushes a TimerHandle on its heap (`push_timer`);
  the Loop runs both with `_run()`, as it runs its own Timers
  (evloop.aio.handles), and a Handle reports its own exception;
* running: `run_forever` makes the loop the running one (through
  asyncio.events._set_running_loop, as uvloop does: the C Task refuses to
  step on a loop that is not the running one) and turns the Loop until
  `stop()`.  Each turn takes asyncio's order (`run_once_queue_first`):
  the wait, then what was queued before it, then the ready descriptors,
  then the timers due.  So a task started before the loop runs takes its
  first step before a datagram already waiting reaches its protocol, and
  a callback a task queues runs before the next event a descriptor
  reports, as programs written against asyncio expect.  While it runs,
  the async generators it starts are followed (evloop.aio.asyncgens);
* one error path: the Loop's exception handler is this loop's
  `call_exception_handler`, so a reader that raises is reported through
  whatever handler the program set, or logged in asyncio's words
  (evloop.aio.errors);
* debug mode (`set_debug`, PYTHONASYNCIODEBUG, -X dev): the argument and
  thread checks, asyncio's own Handles (recording where each was made), a
  SlowCallbacks instrument on the Loop and coroutine origins tracked while
  it runs (evloop.aio.debug); without debug mode none is installed and
  nothing is timed;
* instruments: `add_instrument` puts one on the Loop
  (evloop.loop.instruments), and `statistics()` says what it holds.

`close()` is written once, here: the levels above release what they hold
in `_release()` (evloop.aio.descriptors, evloop.aio.loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import time
import warnings
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Generator
from typing import Any
from typing import TypeVar

from evloop.aio.asyncgens import AsyncGenerators
from evloop.aio.debug import CoroutineOrigins
from evloop.aio.debug import SlowCallbacks
from evloop.aio.debug import made_by_caller
from evloop.aio.errors import ExceptionHandler
from evloop.aio.errors import call_exception_handler
from evloop.aio.errors import log_context
from evloop.aio.handles import Handle
from evloop.aio.handles import TimerHandle
from evloop.loop.base import BaseLoop
from evloop.loop.base import LoopStatistics
from evloop.loop.instruments import Instrument

__all__ = ["BaseEventLoop"]

log = logging.getLogger("asyncio")
T = TypeVar("T")
TaskFactory = Callable[..., "asyncio.Future[Any]"]


class BaseEventLoop(asyncio.AbstractEventLoop):
    """asyncio's scheduler, running and error methods over one evloop Loop (`selector`:
    a backend's name, or a BaseLoop to run on, with its instruments)."""

    def __init__(self, selector: str | BaseLoop = "auto") -> None:
        self._evloop = selector if isinstance(selector, BaseLoop) else BaseLoop(selector)
        self._evloop.set_exception_handler(lambda _, context: self.call_exception_handler(context))
        # The Loop's bound appends: a call costs what deque.append and a heap push cost.
        # (asyncio's Handles have the fields evloop.loop.timers.Scheduled names, which
        # typeshed does not declare: hence Any.)
        self._enqueue: Callable[[Any], None] = self._evloop.enqueue
        self._push_timer: Callable[[Any], None] = self._evloop.push_timer
        self._closed = False
        self._stopping = False
        self._thread_id: int | None = None
        self._exception_handler: ExceptionHandler | None = None
        self._task_factory: TaskFactory | None = None
        self._asyncgens = AsyncGenerators(self)
        self._current_handle: asyncio.Handle | None = None
        self.slow_callback_duration = 0.1
        self._slow_callbacks = SlowCallbacks(self)  # installed in debug mode only
        self._coroutine_origins = CoroutineOrigins()
        self._debug = False
        # -X dev or PYTHONASYNCIODEBUG, read where asyncio reads them
        self.set_debug(asyncio.coroutines._is_debug_mode())  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # -- callbacks and timers ---------------------------------------------------

    def time(self) -> float:
        return time.monotonic()

    def call_soon(self, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle = asyncio.Handle(callback, args, self, context)
            made_by_caller(handle)
        else:
            handle = Handle(callback, args, self, context)
        self._enqueue(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                   context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        timer = self.call_at(self.time() + delay, callback, *args, context=context)
        made_by_caller(timer)
        return timer

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            handle = asyncio.TimerHandle(when, callback, args, self, context)
            made_by_caller(handle)
        else:
            handle = TimerHandle(when, callback, args, self, context)
        self._push_timer(handle)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if handle._scheduled:  # type: ignore[attr-defined]  # not one that already ran
            self._evloop.timer_cancelled()

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                             context: contextvars.Context | None = None) -> asyncio.Handle:
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle = asyncio.Handle(callback, args, self, context)
        made_by_caller(handle)
        self._enqueue(handle)  # deque.append is atomic
        self._evloop.wake()
        return handle

    def _check_callback(self, callback: object, method: str) -> None:
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self) -> None:
        if self._thread_id is not None and self._thread_id != threading.get_ident():
            raise RuntimeError("Non-thread-safe operation invoked on an event loop other "
                               "than the current one")

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    # -- futures and tasks ------------------------------------------------------

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Coroutine[Any, Any, T] | Generator[Any, None, T], *,
                    name: str | None = None, context: contextvars.Context | None = None,
                    **kwargs: Any) -> asyncio.Task[T]:
        self._check_closed()
        if self._task_factory is None:
            if context is not None:  # Python 3.11+
                kwargs["context"] = context
            task = asyncio.Task(coro, loop=self, name=name, **kwargs)
            made_by_caller(task)
        else:
            extra = {"context": context} if context is not None else {}
            task = self._task_factory(self, coro, **extra, **kwargs)  # type: ignore[assignment]
            if name is not None:
                task.set_name(name)
        return task

    def set_task_factory(self, factory: TaskFactory | None) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> TaskFactory | None:
        return self._task_factory

    # -- running ------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._thread_id is not None

    def is_closed(self) -> bool:
        return self._closed

    def run_forever(self) -> None:
        self._check_closed()
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if asyncio.events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")
        self._thread_id = threading.get_ident()
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgens.firstiter,
                               finalizer=self._asyncgens.finalizer)
        asyncio.events._set_running_loop(self)
        self._coroutine_origins.track(self._debug)
        try:
            turn = self._evloop.run_once
            while True:
                turn(None, True)  # asyncio's order in a turn (evloop.loop.turns)
                if self._stopping:  # as asyncio's: a stop asked for before still turns once
                    break
        finally:
            self._stopping = False
            self._current_handle = None  # a KeyboardInterrupt may have left a callback
            self._thread_id = None
            self._coroutine_origins.track(False)
            asyncio.events._set_running_loop(None)
            sys.set_asyncgen_hooks(*old_hooks)

    def run_until_complete(self, future: Generator[Any, None, T] | Awaitable[T]) -> T:
        self._check_closed()
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        new_task = not asyncio.isfuture(future)
        task = asyncio.ensure_future(future, loop=self)  # type: ignore[arg-type]
        if new_task:
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        task.add_done_callback(self._stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and task.done() and not task.cancelled():
                task.exception()  # retrieved: the error is the one propagating
            raise
        finally:
            task.remove_done_callback(self._stop_when_done)
        if not task.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return task.result()

    def _stop_when_done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), (SystemExit, KeyboardInterrupt)):
            return  # it propagates out of run_forever by itself
        self.stop()

    def stop(self) -> None:
        self._stopping = True
        # A turn does not wait while something asked for its end, so a stop asked
        # for before run_forever turns once without waiting, as asyncio's does.
        self._evloop.at_turn_end(_nothing)

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        self._closed = True
        self._evloop.discard_pending()  # as asyncio's close: none of it will run
        self._release()
        self._evloop.close()

    def _release(self) -> None:
        """What the levels above hold, let go of as the loop closes."""

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)

    async def shutdown_asyncgens(self) -> None:
        await self._asyncgens.shutdown()

    # -- errors, debug mode and instruments -------------------------------------------------

    def get_exception_handler(self) -> ExceptionHandler | None:
        return self._exception_handler

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log the message and the context, with the exception's traceback (evloop.aio.errors)."""
        log_context(context, self._current_handle)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        call_exception_handler(self, self._exception_handler, context)

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        was, self._debug = self._debug, bool(enabled)
        if self._debug and not was:
            self._evloop.add_instrument(self._slow_callbacks)
        elif was and not self._debug:
            self._evloop.remove_instrument(self._slow_callbacks)
        if self.is_running():
            self.call_soon_threadsafe(self._coroutine_origins.track, self._debug)

    def add_instrument(self, instrument: Instrument) -> None:
        """Call `instrument`'s hooks at the Loop's named points (evloop.loop.instruments)."""
        self._evloop.add_instrument(instrument)

    def remove_instrument(self, instrument: Instrument) -> None:
        """Stop calling `instrument`'s hooks; KeyError if it was not added."""
        self._evloop.remove_instrument(instrument)

    def statistics(self) -> LoopStatistics:
        """What the Loop underneath watches and holds (evloop.loop.base.LoopStatistics)."""
        return self._evloop.statistics()


def _nothing() -> None:
    pass

