"""The offload pool, traced: each job drawn on its pool thread's lane.

With `--offload`, a handler's blocking call runs on a pool thread (or
process) while the loop serves the others: the picture the trace file is
for.  `TracedOffloader` stands in front of the server's pool: each submit
is marked on the lane of the connection whose handler asked, each job on a
lane of its own pool thread, and its result's way back to the loop on the
asking lane again, so the timeline shows the stall the pool removes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from evloop.loop.errors import callback_name
from evloop.loop.offload import Offloader
from evloop.trace.steps import Lane
from evloop.trace.steps import Steps


class TracedOffloader:
    """The server's offload pool, with each job drawn on its pool thread's lane."""

    def __init__(self, steps: Steps, offloader: Offloader) -> None:
        self._steps = steps
        self._offloader = offloader
        self._threads: dict[int, Lane] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._offloader, name)

    def _thread_lane(self) -> Lane:
        ident = threading.get_ident()
        lane = self._threads.get(ident)
        if lane is None:
            with self._steps._lock:
                lane = self._threads.get(ident) or self._steps.lane(
                    f"offload thread {len(self._threads) + 1}", "offload")
                self._threads[ident] = lane
        return lane

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
               callback: Callable[[Future[Any]], object]) -> Future[Any]:
        steps, owner = self._steps, self._steps.current or self._steps.loop_lane
        what = callback_name(fn)
        submitted = steps.clock()
        steps.instant(owner, "offload", "offload submitted", f"offloads {what}", function=what)

        def job(*args: Any) -> Any:
            start = steps.clock()
            try:
                return fn(*args)
            finally:
                if steps.file is not None:
                    steps.file.complete(self._thread_lane().number, "offload", what, start,
                                        steps.clock(), function=what, **{"for": owner.name})

        def done(future: Future[Any]) -> object:
            if steps.file is not None and self._offloader.kind == "process":
                steps.file.complete(steps.loop_lane.number, "offload", what, submitted,
                                    steps.clock(), function=what, **{"for": owner.name})
            steps.instant(owner, "offload", "offload done", f"{what} done, its answer goes on")
            steps.current = owner
            try:
                return callback(future)
            finally:
                steps.current = None

        # A process pool pickles fn: it gets the plain function, and its span
        # is drawn from submit to result instead.
        return self._offloader.submit(job if self._offloader.kind == "thread" else fn, args, done)
