"""slow: a line echo that works before it answers: the blocking-handler lesson.

Each line (ending in `\n`) costs `--work-ms` milliseconds of work before its
echo.  `--work cpu` spins the processor (a computation); `--work sleep`
blocks in `time.sleep()` (a database query, a file on a slow disk).  On an
event loop either one stalls every other client for that long, because the
loop cannot select() while a handler runs: with 10 clients, each message
waits for up to 10 others' work.

With `--offload thread` or `--offload process` the work runs in a pool
instead (see evloop.offload) and each echo is sent when its work is done,
in the order the lines arrived.  A thread pool overlaps sleeps but not
computation (the GIL lets one thread run Python at a time); a process pool
overlaps both, on as many cores as there are.

The handler is still sans-IO: it calls `self.offload(work, ...)`, which the
framework runs in a pool, or inline (and at once) when there is none.
"""

import collections
import time

from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError

WORK_KINDS = ("cpu", "sleep")


def work(ms, kind):
    """The knob: `ms` milliseconds of CPU or of sleep.  Module-level, so a
    process pool can pickle it."""
    if kind == "sleep":
        time.sleep(ms / 1000)
    else:
        deadline = time.perf_counter() + ms / 1000
        while time.perf_counter() < deadline:
            pass
    return ms


class SlowHandler(Handler):
    """Echo each line after `work_ms` of `work`; offloaded when a pool is there."""

    #: Options the server passes from its command line (see make_factory).
    options = ("work_ms", "work")
    busy_message = b"server busy, try again later\n"

    def __init__(self, max_message=65536, work_ms=10.0, work="cpu"):
        super().__init__(max_message=max_message)
        if work not in WORK_KINDS:
            raise ValueError(f"--work must be one of {', '.join(WORK_KINDS)}")
        self.work_ms = work_ms
        self.work = work
        self.buffer = b""
        self.queue = collections.deque()  # [line, done?] in arrival order

    def data_received(self, data):
        buffer = self.buffer + data
        end = buffer.rfind(b"\n") + 1
        self.buffer = buffer[end:]
        if len(self.buffer) > self.max_message:
            raise ProtocolError(f"line longer than --max-message {self.max_message}")
        if not end:
            return None
        answer = b""
        for line in buffer[:end].splitlines(keepends=True):
            slot = [line, False]
            self.queue.append(slot)
            done = self.offload(work, self.work_ms, self.work, then=self._finished(slot))
            answer += done or b""
        return answer or None

    def _finished(self, slot):
        def then(_result):
            slot[1] = True
            return self._ready_in_order()
        return then

    def _ready_in_order(self):
        """The echoes whose work is done, up to the first that is not."""
        out = []
        while self.queue and self.queue[0][1]:
            out.append(self.queue.popleft()[0])
        return b"".join(out)

    def eof_received(self):
        if self.buffer:
            raise ProtocolError("connection closed in the middle of a line")
        return None
