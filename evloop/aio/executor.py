"""The default executor: the thread pool that `run_in_executor(None, ...)` runs on.

Blocking calls (getaddrinfo, a file's read, a program's own) run in a
thread pool and come back to the loop as futures (asyncio.wrap_future).
The loop (evloop.aio.descriptors) makes its pool on first use, with
`new_pool()`, and keeps it as asyncio keeps it, in `_default_executor`.

`shut_down(loop, pool, timeout)` is `shutdown_default_executor()`'s work,
asyncio's way: joining the pool's threads blocks, so a thread of its own
joins them and tells the loop when they are done
(call_soon_threadsafe).  From Python 3.13 the loop waits for that at most
`timeout` seconds, then warns and lets the pool go without waiting
(`TIMEOUT_BOUNDS_THE_WAIT`); before, as asyncio's, it waits as long as
the pool takes (3.12 takes a timeout but applies it only to the joining
thread, once the pool is done; 3.10 and 3.11 take none, and asyncio.run
passes none).  A loop that closes first is told nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import warnings
from typing import Any

__all__ = ["new_pool", "shut_down"]

TIMEOUT_BOUNDS_THE_WAIT = sys.version_info >= (3, 13)


def new_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The default executor of one loop; its threads are named as asyncio's ("asyncio_0"...)."""
    return concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")


async def shut_down(loop: Any, pool: concurrent.futures.Executor, timeout: float | None) -> None:
    """Wait for `pool`'s threads to finish, at most `timeout` seconds (None: no limit)."""
    joined = loop.create_future()
    thread = threading.Thread(target=_join, args=(loop, pool, joined))
    thread.start()
    try:
        await asyncio.wait_for(asyncio.shield(joined),
                               timeout if TIMEOUT_BOUNDS_THE_WAIT else None)
    except asyncio.TimeoutError:
        # asyncio's words, "finishing" included: programs and tests match them.
        warnings.warn("The executor did not finishing joining its threads within "
                      f"{timeout} seconds.", RuntimeWarning, stacklevel=3)
        pool.shutdown(wait=False)
    else:
        thread.join()


def _join(loop: Any, pool: concurrent.futures.Executor, joined: asyncio.Future[None]) -> None:
    """In a thread of its own: wait for the pool's threads, then say so in the loop."""
    try:
        pool.shutdown(wait=True)
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, joined, None)
    except Exception as exc:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, joined, exc)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
