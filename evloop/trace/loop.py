"""The loop's side of a trace: how long it slept, what woke it, and each callback.

`LoopTracer` is an instrument (evloop.loop.instruments) on the traced loop.
Its `before_poll` and `after_poll` hooks bracket each wait in the backend,
so the narration says how long the loop slept, with what timeout, and
which descriptors woke it; a turn that did not sleep and found nothing is
not news, and says nothing.  A wake-up through the waker (another thread,
a signal) is marked on the waker's own lane.  With a trace file, every
queued callback and due timer is drawn as a span on the loop's lane.

Both evloop's servers (evloop.trace.enable) and evloop.aio's traced loops
(evloop.aio.tracing) install one.
"""

from __future__ import annotations

from typing import Any

from evloop.loop.backends import event_mask
from evloop.loop.base import BaseLoop
from evloop.loop.errors import callback_name
from evloop.loop.instruments import Instrument
from evloop.trace.steps import Steps
from evloop.trace.steps import mask_name


class LoopTracer(Instrument):
    """Narrates a loop's waits on `steps`, and records its callbacks in the file."""

    def __init__(self, steps: Steps, loop: BaseLoop) -> None:
        self.steps = steps
        self.backend = loop.selector_name
        self.waker = loop.waker_fd
        self.waker_lane = steps.lane(f"fd {self.waker} wake-up", "waker", self.waker)
        self.timeout: float | None = None
        self.slept_at = 0.0
        self.callback_at = 0.0

    def before_poll(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.slept_at = self.steps.clock()

    def after_poll(self, events: list[tuple[int, int]]) -> None:
        steps, timeout, start = self.steps, self.timeout, self.slept_at
        end = steps.clock()
        names = [f"{steps.name_of(fd)} {mask_name(event_mask(event))}" for fd, event in events]
        if steps.file is not None:
            steps.file.complete(0, "wait", self.backend, start, end,
                                timeout_ms=None if timeout is None else round(timeout * 1000, 3),
                                ready=names, woken_by=", ".join(names) or "timeout")
        if events or timeout != 0:  # a turn that did not sleep and found nothing: not news
            waited = "no timeout" if timeout is None else f"timeout {timeout * 1000:.0f} ms"
            steps.say(steps.loop_lane, f"woke after {(end - start) * 1000:.3f} ms ({waited}): "
                      + (", ".join(names) if names else "nothing ready"), end)
        if any(fd == self.waker for fd, _ in events):
            steps.instant(self.waker_lane, "io", "wake", None)

    def before_callback(self, handle: Any) -> None:
        self.callback_at = self.steps.clock()

    def after_callback(self, handle: Any, seconds: float) -> None:
        file = self.steps.file
        if file is not None:
            file.complete(0, "timer", "callback", self.callback_at, self.steps.clock(),
                          callback=callback_name(handle._callback))
