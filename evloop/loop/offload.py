"""Offloading: run a blocking or heavy call in a pool, get its result back in the loop.

The event loop's one weakness is that it is one thread.  A handler that
sleeps (a blocking database call) or computes for 10 ms holds every other
connection for those 10 ms: the loop cannot select() while it runs.  The
remedy is asyncio's `run_in_executor`: hand the call to a pool, go back to
serving, and take the result when it is ready.

How the result gets back is the interesting part.  The pool's thread cannot
touch the loop's connections (the loop is not thread-safe), so its done
callback only queues the continuation with `loop.call_soon_threadsafe()`,
which writes one byte into the loop's waker socket; the selector sees the
waker readable, the loop wakes, and the continuation runs in the loop's
thread like any other callback.

`Offloader(loop, "thread" | "process", workers)` owns the pool; `submit(fn,
args, callback)` runs `fn(*args)` there and later calls `callback(future)`
in the loop.  A process pool escapes the GIL for CPU-bound work but needs
`fn` and its arguments to be picklable (module-level functions).  Handlers
never see this module: they call `context.offload(fn, *args, then=...)`,
which the connection passes to its owner's offloader (a server's, or none:
then the call runs inline, evloop.handlers.context.offload_inline).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from typing import TypeVar

from evloop.loop.base import BaseLoop

log = logging.getLogger("evloop")

KINDS = ("thread", "process")
T = TypeVar("T")


class Offloader:
    """A pool for offloaded calls.  Methods for the caller: `submit`, `close`."""

    executor: concurrent.futures.Executor

    def __init__(self, loop: BaseLoop, kind: str = "thread", workers: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"offload kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.loop = loop
        self.kind = kind
        self.workers = workers or (32 if kind == "thread" else os.cpu_count() or 1)
        if kind == "thread":
            self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)
        else:
            # "spawn", not fork: a forked pool process would inherit every client
            # socket open at that moment, and a socket the loop closes would stay
            # open in the child, so the client would never see its FIN.
            self.executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        self.pending = 0

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
               callback: Callable[[Future[Any]], object]) -> Future[Any]:
        """Run fn(*args) in the pool; then callback(future) in the loop's thread."""
        future = self.executor.submit(fn, *args)
        self.pending += 1
        future.add_done_callback(self._done_in_pool_thread(callback))
        return future

    def _done_in_pool_thread(self, callback: Callable[[Future[Any]], object]
                             ) -> Callable[[Future[Any]], None]:
        def done(future: Future[Any]) -> None:
            # Runs in a pool (or pool-manager) thread: only hand over to the loop.
            self.loop.call_soon_threadsafe(self._finish, callback, future)
        return done

    def _finish(self, callback: Callable[[Future[Any]], object], future: Future[Any]) -> None:
        self.pending -= 1
        callback(future)

    def close(self) -> None:
        """Stop the pool without waiting for work nobody will read."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def outcome(future: Future[Any], then: Callable[[Any], T],
            error: Callable[[Exception], T] | None) -> tuple[str, Callable[[Any], T] | None, Any]:
    """What to call now that offloaded work is done: (what it is, for messages,
    the callback, its argument): `then` with the result, `error` with the
    exception, or no callback (None) and the exception nobody takes."""
    exc = future.exception()
    if exc is None:
        return "offloaded work", then, future.result()
    if error is not None and isinstance(exc, Exception):
        return "offloaded work's error callback", error, exc
    return "offloaded work", None, exc
