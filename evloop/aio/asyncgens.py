"""The async generators a loop has seen start, so that `shutdown_asyncgens()` can close them.

An async generator suspended at an `await` when its program ends would
never run its `finally` blocks: nothing resumes it, and the garbage
collector cannot, since closing it means awaiting.  So Python lets the
running loop hear of each one (sys.set_asyncgen_hooks): `firstiter` as it
first runs, `finalizer` when it is collected unfinished.  asyncio's rules,
kept here:

* the loop installs the hooks while it runs (evloop.aio.base), and
  `AsyncGenerators` remembers each generator weakly;
* a generator collected unfinished is closed on the loop, as a task
  (`aclose()`), queued from whatever thread collected it;
* `shutdown_asyncgens()` closes every one still alive, at once, and
  reports each that fails to close to the loop's exception handler; one
  that starts after it is warned about (ResourceWarning).
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from typing import Any

__all__ = ["AsyncGenerators"]


class AsyncGenerators:
    """The async generators started on `loop`: its hooks, and their shutdown."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.alive: weakref.WeakSet[Any] = weakref.WeakSet()
        self.shutdown_called = False

    def firstiter(self, agen: Any) -> None:
        if self.shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          f"loop.shutdown_asyncgens() call", ResourceWarning, source=self.loop)
        self.alive.add(agen)

    def finalizer(self, agen: Any) -> None:
        self.alive.discard(agen)
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.create_task, agen.aclose())

    async def shutdown(self) -> None:
        self.shutdown_called = True
        if not len(self.alive):
            return
        closing = list(self.alive)
        self.alive.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing],
                                       return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.loop.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous generator {agen!r}",
                    "exception": result, "asyncgen": agen})
