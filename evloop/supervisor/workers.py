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
at once.  A worker whose parent vanishes stops by itself.
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

    def say(self, text: str) -> None:
        line = f"{os.getpid()} {text}"[:LINE_MAX - 1] + "\n"
        try:
            os.write(self.channel, line.encode(errors="replace"))
        except OSError:
            pass  # the parent is gone: _tick notices

    def _tick(self, loop: BaseLoop, shutdown: Callable[[], None],
              open_count: Callable[[], int]) -> None:
        if os.getppid() != self.parent_pid:
            log.warning("worker %d: parent process gone; stopping", self.index)
            return shutdown()
        count = open_count()
        if count != self.reported:
            self.reported = count
            self.say(f"open {count}")
        else:
            self.say("beat")
        loop.call_later(TICK, self._tick, loop, shutdown, open_count)


def tag_log_lines(index: int) -> None:
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(name)s[{index}] %(levelname)s %(message)s"))
