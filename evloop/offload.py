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
never see this module: they call `self.offload(fn, *args, then=...)` (see
evloop.handlers.base), which the connection binds to its server's offloader.
"""

import concurrent.futures
import logging
import multiprocessing
import os

from evloop.limits import MAX_PENDING_WORK

log = logging.getLogger("evloop")

KINDS = ("thread", "process")


class Offloader:
    def __init__(self, loop, kind="thread", workers=None):
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

    def submit(self, fn, args, callback):
        """Run fn(*args) in the pool; then callback(future) in the loop's thread."""
        future = self.executor.submit(fn, *args)
        self.pending += 1
        future.add_done_callback(self._done_in_pool_thread(callback))
        return future

    def bind(self, connection):
        """Make `connection.handler.offload(fn, *args, then=...)` use this pool;
        `connection.offloaded(future, then)` takes the result in the loop."""
        def offload(fn, *args, then):
            connection.pending_work += 1  # its reply is due: closing waits for it
            if connection.pending_work > MAX_PENDING_WORK:
                connection.pause()  # backpressure on work, as on output
            self.submit(fn, args, lambda future: connection.offloaded(future, then))
        connection.handler.offload = offload

    def _done_in_pool_thread(self, callback):
        def done(future):
            # Runs in a pool (or pool-manager) thread: only hand over to the loop.
            self.loop.call_soon_threadsafe(self._finish, callback, future)
        return done

    def _finish(self, callback, future):
        self.pending -= 1
        callback(future)

    def close(self):
        """Stop the pool without waiting for work nobody will read."""
        self.executor.shutdown(wait=False, cancel_futures=True)
