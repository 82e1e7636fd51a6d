"""slow: a line echo that works before it answers: the blocking-handler lesson.

Each line (ending in `\\n`) costs `--work-ms` milliseconds of work before its
echo.  `--work cpu` spins the processor (a computation); `--work sleep`
blocks in `time.sleep()` (a database query, a file on a slow disk).  On an
event loop either one stalls every other client for that long, because the
loop cannot select() while a handler runs: with 10 clients, each message
waits for up to 10 others' work.

With `--offload thread` or `--offload process` the work runs in a pool
instead (see evloop.loop.offload) and each echo is sent when its work is done,
in the order the lines arrived.  A thread pool overlaps sleeps but not
computation (the GIL lets one thread run Python at a time); a process pool
overlaps both, on as many cores as there are.

The handler is still sans-IO: it calls `self.context.offload(work, ...)`,
which the framework runs in a pool, or inline (and at once) when there is
none.  Its two options, `work_ms` and `work`, are declared in `options`, so
the command line offers them as --work-ms and --work with this handler only.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Option
from evloop.handlers.context import Reply
from evloop.handlers.lines import LineHandler

WORK_KINDS = ("cpu", "sleep")
DEFAULT_WORK_MS = 10.0


def work(ms: float, kind: str) -> float:
    """The knob: `ms` milliseconds of CPU or of sleep.  Module-level, so a
    process pool can pickle it."""
    if kind == "sleep":
        time.sleep(ms / 1000)
    else:
        deadline = time.perf_counter() + ms / 1000
        while time.perf_counter() < deadline:
            pass
    return ms


def milliseconds(value: str | float) -> float:
    """A --work-ms value: a number of milliseconds, 0 or more."""
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("a number of milliseconds must be 0 or more")
    return number


class SlowHandler(LineHandler):
    """Echo each line after `work_ms` of `work`; offloaded when a pool is there."""

    options = {
        "work_ms": Option("milliseconds of work per line", type=milliseconds,
                          default=DEFAULT_WORK_MS),
        "work": Option("spin the CPU or sleep", choices=WORK_KINDS, default="cpu"),
    }
    busy_message = b"server busy, try again later\n"

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE,
                 work_ms: float = DEFAULT_WORK_MS, work: str = "cpu") -> None:
        super().__init__(max_message=max_message)
        if work not in WORK_KINDS:
            raise ValueError(f"work must be one of {', '.join(WORK_KINDS)}, not {work!r}")
        self.work_ms = work_ms
        self.work = work
        self.queue: collections.deque[list[object]] = collections.deque()  # [line, done?]

    def line_received(self, line: bytes) -> Reply:
        slot: list[object] = [line + b"\n", False]
        self.queue.append(slot)
        return self.context.offload(work, self.work_ms, self.work, then=self._finished(slot))

    def _finished(self, slot: list[object]) -> Callable[[object], bytes]:
        def then(_result: object) -> bytes:
            slot[1] = True
            return self._ready_in_order()
        return then

    def _ready_in_order(self) -> bytes:
        """The echoes whose work is done, up to the first that is not."""
        out = []
        while self.queue and self.queue[0][1]:
            line = self.queue.popleft()[0]
            assert isinstance(line, bytes)
            out.append(line)
        return b"".join(out)
