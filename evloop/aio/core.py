"""The core of evloop's asyncio loop: callbacks, timers, futures, tasks, readers.

asyncio's loop is two things: a scheduler (call_soon, call_later, futures
and tasks resolved by callbacks) and a reactor (readers and writers on
descriptors).  evloop.Loop is already both, so this class holds one and
speaks asyncio's language over it; it adds no second queue, heap or
selector:

* `call_soon` makes an asyncio.Handle (callback, args, contextvars
  context) and hands it to the Loop (`enqueue`); `call_at` makes an
  asyncio.TimerHandle and pushes it on the Loop's heap (`push_timer`).  The BaseLoop runs
  both with `_run()`, exactly as it runs its own Timers, and a Handle
  reports its own exception to `call_exception_handler`, with asyncio's
  words ("Exception in callback ...");
* readers and writers go to the BaseLoop's `add_reader`, each run in the
  contextvars context current when it was added, as asyncio does;
* one exception path: the BaseLoop's handler is this loop's
  `call_exception_handler` (evloop.aio.running), so a reader that raises is
  reported as asyncio reports it, through whatever handler the program set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Generator
from typing import Any
from typing import TypeVar

from evloop.loop.backends import FileLike
from evloop.loop.backends import fileno_of
from evloop.loop.base import BaseLoop
from evloop.loop.instruments import Instrument

log = logging.getLogger("asyncio")
T = TypeVar("T")
TaskFactory = Callable[..., "asyncio.Future[Any]"]


def _run_in(context: contextvars.Context, callback: Callable[..., object], *args: Any) -> None:
    context.run(callback, *args)


class Handle(asyncio.Handle):
    """asyncio's Handle, made without asking the loop for its debug mode (off: in
    debug mode the loop makes asyncio's own, which records where it was made)."""

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
    """Debug mode's instrument: names the handle running (asyncio's `_current_handle`),
    and logs a callback slower than the loop's `slow_callback_duration`."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop

    def before_callback(self, handle: Any) -> None:
        self.loop._current_handle = handle

    def after_callback(self, handle: Any, seconds: float) -> None:
        self.loop._current_handle = None
        if seconds >= self.loop.slow_callback_duration:
            log.warning("Executing %r took %.3f seconds", handle, seconds)


class Core(asyncio.AbstractEventLoop):
    """asyncio's scheduler and reactor methods over one evloop.Loop."""

    def __init__(self, selector: str | BaseLoop = "auto") -> None:
        self._evloop = selector if isinstance(selector, BaseLoop) else BaseLoop(selector)
        self._evloop.set_exception_handler(lambda _, context: self.call_exception_handler(context))
        # The Loop's own bound appends: a call costs what deque.append and a heap push cost.
        # (asyncio's Handles have the fields evloop.loop.timers.Scheduled names; typeshed
        # does not declare them, hence Any.)
        self._enqueue: Callable[[Any], None] = self._evloop.enqueue
        self._push_timer: Callable[[Any], None] = self._evloop.push_timer
        self._closed = False
        self._stopping = False
        self._thread_id: int | None = None
        self._exception_handler: Callable[[Any, dict[str, Any]], object] | None = None
        self._task_factory: TaskFactory | None = None
        self._default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_shutdown_called = False
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._signal_handlers: dict[int, asyncio.Handle] = {}
        self._current_handle: asyncio.Handle | None = None
        self.slow_callback_duration = 0.1
        self._slow_callbacks = SlowCallbacks(self)  # installed in debug mode only
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
        else:
            handle = Handle(callback, args, self, context)
        self._enqueue(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                   context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            handle = asyncio.TimerHandle(when, callback, args, self, context)
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

    # -- readers and writers --------------------------------------------------------

    def _bound(self, callback: Callable[..., object], args: tuple[Any, ...]) -> Callable[[], None]:
        if self._debug:
            self._check_callback(callback, "add_reader")
        return functools.partial(_run_in, contextvars.copy_context(), callback, *args)

    def add_reader(self, fd: int | FileLike, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        self._check_closed()
        self._evloop.add_reader(fileno_of(fd), self._bound(callback, args))

    def remove_reader(self, fd: int | FileLike) -> bool:
        if self._closed:
            return False
        number = fileno_of(fd)
        had = self._evloop.watching(number) & 1
        self._evloop.remove_reader(number)
        return bool(had)

    def add_writer(self, fd: int | FileLike, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        self._check_closed()
        self._evloop.add_writer(fileno_of(fd), self._bound(callback, args))

    def remove_writer(self, fd: int | FileLike) -> bool:
        if self._closed:
            return False
        number = fileno_of(fd)
        had = self._evloop.watching(number) & 2
        self._evloop.remove_writer(number)
        return bool(had)

    # -- signals ----------------------------------------------------------------------

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, None)
        try:
            self._evloop.add_signal_handler(sig, lambda _: self._signalled(sig))
        except OSError as exc:
            raise RuntimeError(f"sig {sig} cannot be caught") from exc
        except ValueError as exc:  # not the main thread
            raise RuntimeError(str(exc)) from exc
        self._signal_handlers[sig] = handle

    def _signalled(self, sig: int) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is not None and not handle._cancelled:
            self._enqueue(handle)

    def remove_signal_handler(self, sig: int) -> bool:
        self._check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        self._evloop.remove_signal_handler(sig)
        return True

    def _check_signal(self, sig: int) -> None:
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")
