"""Running evloop's asyncio loop: run_forever, stop, close, errors, signals, the executor.

Running is asyncio's grammar: `run_forever` makes this the running loop
(asyncio.events._set_running_loop, as uvloop does: the C Task refuses to
step on a loop that is not the running one), installs the async-generator
hooks, and turns the Loop until `stop()`; a stop asks for one more turn
that does not wait, so callbacks queued before it still run.  The Loop's
own turn runs a poll's readers before its queue, and asyncio the other way
round; the first turn takes asyncio's order, so that a task started before
the loop runs takes its first step before a datagram already waiting
reaches its protocol (programs rely on it).  After that the Loop's order
holds (readers before the queue).

Errors: `call_exception_handler` is the one path.  The program's handler
gets (loop, context); without one, `default_exception_handler` logs the
message, the context and the traceback on the "asyncio" logger, in
asyncio's words, because programs and CPython's tests read them.

Debug mode (`set_debug`, PYTHONASYNCIODEBUG, -X dev) installs a
SlowCallbacks instrument on the Loop (evloop.loop.instruments), which logs
every callback slower than `slow_callback_duration`; without debug mode
none is installed and nothing is timed.  Signals arrive through the Loop's
waker (evloop.loop.waking): the C-level handler writes the signal's number into
its socket, and the callback runs as an ordinary Handle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
import traceback
import warnings
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Generator
from typing import Any
from typing import TypeVar

from evloop.aio.core import Core
from evloop.loop.base import LoopStatistics
from evloop.loop.instruments import Instrument

log = logging.getLogger("asyncio")
T = TypeVar("T")


class Running(Core):
    """asyncio's running, closing, error, debug, signal and executor methods."""


    # -- running ----------------------------------------------------------------

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
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter,
                               finalizer=self._asyncgen_finalizer)
        asyncio.events._set_running_loop(self)
        try:
            self._evloop.run_once_queue_first(None)  # asyncio's order, on the first turn
            turn = self._evloop.run_once
            while not self._stopping:
                turn(None)
        finally:
            self._stopping = False
            self._current_handle = None  # a KeyboardInterrupt may have left a callback
            self._thread_id = None
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
        # for before the first wait (in run_once_queue_first's pass) is not slept past.
        self._evloop.at_turn_end(_nothing)

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        self._closed = True
        self._evloop.discard_pending()  # as asyncio's close: none of it will run
        executor, self._default_executor = self._default_executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        for signum in list(self._signal_handlers):
            self.remove_signal_handler(signum)
        self._evloop.close()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)

    # -- async generators and the default executor --------------------------------

    def _asyncgen_firstiter(self, agen: Any) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          f"loop.shutdown_asyncgens() call", ResourceWarning, source=self)
        self._asyncgens.add(agen)

    def _asyncgen_finalizer(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing],
                                       return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous generator {agen!r}",
                    "exception": result, "asyncgen": agen})

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        future = self.create_future()
        thread = threading.Thread(target=self._shut_executor, args=(executor, future))
        thread.start()
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            warnings.warn("The executor did not finish joining its threads within "
                          f"{timeout} seconds.", RuntimeWarning, stacklevel=2)
            executor.shutdown(wait=False)
        else:
            thread.join()

    def _shut_executor(self, executor: concurrent.futures.Executor,
                       future: asyncio.Future[None]) -> None:
        try:
            executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(_resolve, future, None)
        except Exception as exc:
            if not self.is_closed():
                self.call_soon_threadsafe(_fail, future, exc)

    def run_in_executor(self, executor: concurrent.futures.Executor | None,  # type: ignore[override]
                        func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            if executor is None:
                executor = self._default_executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix="evloop.aio")
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor: Any) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor")
        self._default_executor = executor

    # -- errors and debug ---------------------------------------------------------

    def get_exception_handler(self) -> Callable[[Any, dict[str, Any]], object] | None:
        return self._exception_handler

    def set_exception_handler(self, handler: Callable[[Any, dict[str, Any]], object] | None
                              ) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log the message and the context, with the exception's traceback: asyncio's words."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = (type(exception), exception, exception.__traceback__) \
            if exception is not None else False
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                value = "Object created at (most recent call last):\n" + "".join(
                    traceback.format_list(value)).rstrip()
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        log.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        handler = self._exception_handler
        if handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                log.error("Exception in default exception handler", exc_info=True)
            return
        try:
            handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc, "context": context})
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                log.error("Exception in default exception handler while handling an "
                          "unexpected error in custom exception handler", exc_info=True)

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        was, self._debug = self._debug, bool(enabled)
        if self._debug and not was:
            self._evloop.add_instrument(self._slow_callbacks)
        elif was and not self._debug:
            self._evloop.remove_instrument(self._slow_callbacks)

    # -- instruments --------------------------------------------------------------

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


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
