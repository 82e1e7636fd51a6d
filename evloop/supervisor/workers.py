"""A --workers worker's side: how it talks to its supervisor.

A worker is a whole single-process server (evloop.server) forked by the
supervisor (evloop.supervisor), on the listening sockets it inherited.  It
needs to know little of its place: its slot number, the pipe back to the
parent, its slot's metrics listener, whether to load the handler's code
afresh (after a reload), and how long a reload lets it finish.

It talks back over one pipe, a line at a time (shorter than PIPE_BUF, so
lines from different workers never interleave):

* "PID ready" once its server listens;
* "PID open N" each second in which its number of connections changed,
  which the supervisor sums into NOTIFY_SOCKET's STATUS, and "PID beat"
  each other second: the heartbeat of its loop (evloop.supervisor.watchdog);
* "PID error MESSAGE" when the handler would not load, which becomes the
  one line that refuses a reload.

SIGHUP, to a worker, means retire: stop accepting, serve the connections
held until they close or the grace runs out, then drain.  SIGTERM drains
at once.  A worker whose parent vanishes is killed by the kernel
(evloop.supervisor.hygiene), or, where that is not to be had, notices
within a second and stops by itself.  Its writes to the pipe never wait.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import IO

from evloop.loop.base import BaseLoop
from evloop.server.listening import Listeners
from evloop.settings.logs import tag_worker
from evloop.supervisor.watchdog import dump_stacks_to

log = logging.getLogger("evloop")

TICK = 1.0  # a worker's look at its parent, and its count of open connections
LINE_MAX = 1024  # under PIPE_BUF (4096 on Linux, 512 by POSIX), with room to spare


def exit_code(status: int) -> int:
    """A wait status as a shell gives it: the code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def describe_status(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Worker:
    """What a forked worker knows of its place, and how it talks to its parent."""

    def __init__(self, index: int, channel: int, parent_pid: int, listeners: Listeners,
                 metrics: socket.socket | None, reload: bool, grace: float,
                 dump: IO[bytes] | None = None) -> None:
        self.index = index
        self.channel = channel
        self.parent_pid = parent_pid
        self.listeners = listeners
        self.metrics = metrics  # this slot's metrics listener, or None
        self.reload = reload  # load the handler's code afresh (after a reload)
        self.grace = grace  # --reload-grace
        self.dump = dump  # where its stacks go when the watchdog kills it
        self.reported = -1

    def started(self, loop: BaseLoop, retire: Callable[[], None], shutdown: Callable[[], None],
                open_count: Callable[[], int]) -> None:
        """Called once the worker's server listens (SIGTERM is the server's already)."""
        loop.add_signal_handler(signal.SIGHUP, lambda signum: retire())
        if self.dump is not None:
            dump_stacks_to(self.dump)
        self.say("ready")
        loop.call_later(TICK, self._tick, loop, shutdown, open_count)

    def failed(self, message: str) -> None:
        self.say("error " + " ".join(message.split()))

    def say(self, text: str) -> bool:
        """Write one line to the parent, never waiting: was it written?"""
        line = f"{os.getpid()} {text}"[:LINE_MAX - 1] + "\n"
        try:
            # Non-blocking (the supervisor sets it), and shorter than PIPE_BUF: the
            # whole line or nothing.  A full pipe means a parent that does not read
            # (stopped in a debugger): this line is dropped, the loop goes on.
            os.write(self.channel, line.encode(errors="replace"))
        except BlockingIOError:
            return False
        except OSError:
            return False  # the parent is gone: _tick notices
        return True

    def _tick(self, loop: BaseLoop, shutdown: Callable[[], None],
              open_count: Callable[[], int]) -> None:
        if os.getppid() != self.parent_pid:
            log.warning("worker %d: parent process gone; stopping", self.index)
            return shutdown()
        count = open_count()
        if count != self.reported:
            self.reported = count if self.say(f"open {count}") else -1  # dropped: said again
        else:
            self.say("beat")
        loop.call_later(TICK, self._tick, loop, shutdown, open_count)


class Channel:
    """The pipe the workers' lines come up, as the supervisor holds it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        # The workers' end too: a supervisor stopped in a debugger must not block
        # every worker's loop once the pipe is full (Worker.say).
        os.set_blocking(self.write_fd, False)
        self.buffer = b""

    def lines(self) -> list[tuple[int, str, str]]:
        """(pid, what, value) for each whole line come since: "4711 open 3" is
        (4711, "open", "3").  A line that names no pid is dropped."""
        try:
            self.buffer += os.read(self.read_fd, 65536)
        except BlockingIOError:
            return []
        *lines, self.buffer = self.buffer.split(b"\n")
        found = []
        for line in lines:
            pid, _, rest = line.decode(errors="replace").partition(" ")
            what, _, value = rest.partition(" ")
            if pid.isdigit():
                found.append((int(pid), what, value))
        return found

    def close(self, reading_only: bool = False) -> None:
        """Both ends; in a worker, the reading end only."""
        os.close(self.read_fd)
        if not reading_only:
            os.close(self.write_fd)


def tag_log_lines(index: int) -> None:
    """Have every log line of this worker name its slot (evloop.settings.logs):
    by a filter on the root logger's handlers, so that a formatter the
    program embedding evloop chose is kept, and can show it as %(worker)s."""
    tag_worker(index)
