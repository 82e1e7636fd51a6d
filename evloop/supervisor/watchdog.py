"""The watchdog: a worker whose loop is stuck is found, its stack logged, and replaced.

A handler that loops forever, or waits in a blocking call, stops its
worker's loop, and with it everything that worker serves; the supervisor
holds the listener, so a health check that only connects stays green.  So
each worker's loop sends a heartbeat up the pipe every second (its `_tick`
in evloop.supervisor.workers), which a stuck loop cannot send.  The
supervisor's `Watchdog` keeps the time of each worker's last line; one
silent for `--worker-timeout` seconds (30 by default, as gunicorn's
`--timeout`) is hung.  The supervisor then does what gunicorn's arbiter
does: SIGABRT, then SIGKILL after `KILL_GRACE` if it is still there, and
the slot is refilled as after any death.

SIGABRT first, because each worker has `faulthandler` write every thread's
stack to a file of its own when it gets one.  faulthandler's handler is C
code, so it works while Python is stuck in a `while True`.  After the
death the supervisor reads the file: one log line names the worker, how
long it was silent, and the innermost frame outside evloop and the
standard library (the handler's code, where it was stuck), and the whole
stack follows.

A single server (`--workers 1`) has no supervisor: `watch_alone` gives it
a thread that watches the loop's clock, which each turn sets.  An idle
loop waits in its poll, so a thread that sees no turn for half the timeout
wakes it (`call_soon_threadsafe`): an idle loop turns, a stuck one cannot.
After `--worker-timeout` without a turn, it logs where the loop is stuck,
writes every thread's stack to stderr, and ends the process (exit code 1)
for a service manager to restart.  (A loop stuck in C code that never lets
go of the GIL stops that thread too; under --workers the supervisor, a
process of its own, still sees it.)
"""

from __future__ import annotations

import faulthandler
import logging
import os
import re
import signal
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO

from evloop.loop.base import BaseLoop
from evloop.supervisor.children import signal_if_there
from evloop.supervisor.systemd import Notifier

log = logging.getLogger("evloop")

KILL_GRACE = 2.0  # after SIGABRT: time to write the stack and die before SIGKILL
BEAT = 1.0  # how often a worker's loop says it turns (workers.TICK)
FRESH = 2 * BEAT + 0.5  # a heartbeat older than this is missing: no WATCHDOG=1 to systemd
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)', re.M)
# Code that is not the handler's: evloop's own, and the standard library's.
NOT_THE_HANDLER = tuple(os.path.realpath(path) + os.sep for path in {
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})


class Watched:
    """A worker as the watchdog knows it: its slot, its dump file, its last line."""

    __slots__ = ("index", "dump", "last", "hung")

    def __init__(self, index: int, dump: IO[bytes]) -> None:
        self.index = index
        self.dump = dump
        self.last: float | None = None  # watched from its first line ("ready") on
        self.hung = 0.0  # how long it was silent, once found stuck


class Watchdog:
    """The supervisor's watchdog over its workers.

    Methods for the supervisor: `watch(pid, index)` after a fork (it returns
    the file the child's faulthandler is to write to), `beat(pid)` for each
    line from it, `ended(pid, status, how)` once it is reaped (the lines
    about a stuck or crashed worker), `close_files()` in a new child (its
    siblings' files are not its own), and `close()`.
    """

    def __init__(self, loop: BaseLoop, timeout: float, notifier: Notifier | None = None) -> None:
        self.loop = loop
        self.timeout = timeout
        self.workers: dict[int, Watched] = {}
        self.timer = loop.call_later(BEAT, self._look) if timeout else None
        if notifier is not None:  # systemd's WatchdogSec: only while all are fresh
            tell_systemd(loop, notifier.watchdog_interval(), notifier.alive, self.all_fresh)

    def new_file(self) -> IO[bytes]:
        return tempfile.TemporaryFile()  # the child's stacks, read once it has ended

    def watch(self, pid: int, index: int, dump: IO[bytes]) -> None:
        self.workers[pid] = Watched(index, dump)

    def beat(self, pid: int) -> None:
        worker = self.workers.get(pid)
        if worker is not None and not worker.hung:
            worker.last = time.monotonic()

    def ended(self, pid: int, status: int, how: str) -> bool:
        """Says its stack if it hung or crashed; was it killed for hanging?"""
        worker = self.workers.pop(pid, None)
        if worker is None:
            return False
        dump = read_dump(worker.dump)
        worker.dump.close()
        if worker.hung:  # one line: who, how long, where; then the whole stack
            log.error("worker %d (pid %d) was stuck in %s, silent for %.1fs; its stack:\n%s",
                      worker.index, pid, stuck_in(dump), worker.hung, dump)
        elif dump and os.WIFSIGNALED(status):  # a crash, which faulthandler saw too
            log.error("worker %d (pid %d) %s; its stack:\n%s", worker.index, pid, how, dump)
        return bool(worker.hung)

    def all_fresh(self) -> bool:
        """Has every worker that says ready spoken within FRESH seconds?"""
        now = time.monotonic()
        return all(worker.last is None or now - worker.last < FRESH
                   for worker in self.workers.values())

    def close_files(self) -> None:
        for worker in self.workers.values():
            worker.dump.close()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.close_files()

    def _look(self) -> None:
        now = time.monotonic()
        for pid, worker in self.workers.items():
            if worker.last is not None and not worker.hung and now - worker.last >= self.timeout:
                worker.hung = now - worker.last
                log.error("worker %d (pid %d) silent for %.1fs (--worker-timeout %gs): stuck; "
                          "killing it", worker.index, pid, worker.hung, self.timeout)
                signal_if_there(pid, signal.SIGABRT)  # its faulthandler writes every stack, then it dies
                self.loop.call_later(KILL_GRACE, self._kill_if_there, pid, worker)
        self.timer = self.loop.call_later(BEAT, self._look)

    def _kill_if_there(self, pid: int, worker: Watched) -> None:
        if self.workers.get(pid) is worker:  # not reaped: SIGABRT did not end it
            signal_if_there(pid, signal.SIGKILL)


def dump_stacks_to(file: IO[bytes]) -> None:
    """In a worker: every thread's stack to `file` on SIGABRT (and on a crash)."""
    faulthandler.enable(file=file, all_threads=True)


def read_dump(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace").strip()


def stuck_in(dump: str) -> str:
    """The innermost frame of the handler's code in a faulthandler dump ("most recent
    call first"), as "path:line in function"; the innermost of any if none is."""
    return _stuck_in_frames([(m["path"], m["line"], m["function"]) for m in FRAME.finditer(dump)])


def _stuck_in_frames(frames: list[tuple[str, object, str]]) -> str:
    for path, line, function in frames:  # innermost first
        if not os.path.realpath(path).startswith(NOT_THE_HANDLER):
            return f"{path}:{line} in {function}"
    if frames:
        path, line, function = frames[0]
        return f"{path}:{line} in {function}"
    return "no Python frame in its stack"


def tell_systemd(loop: BaseLoop, interval: float | None, alive: Callable[[], None],
                 fresh: Callable[[], bool] = lambda: True) -> None:
    """WATCHDOG=1 (`alive()`) every `interval` while the loop turns and `fresh()` holds."""
    if interval is None:
        return

    def beat() -> None:
        if fresh():
            alive()
        loop.call_later(interval, beat)

    loop.call_later(0, beat)


def watch_alone(loop: BaseLoop, timeout: float) -> Callable[[], None]:
    """A single server's watchdog: a thread that watches the loop's clock (`loop.now`,
    set at every turn).  Returns what stops it, for once the loop has stopped."""
    if not timeout:
        return lambda: None
    stopped = threading.Event()
    main = threading.get_ident()

    def watch() -> None:
        seen, since, nudged = getattr(loop, "now", None), time.monotonic(), False
        while True:
            time.sleep(BEAT)  # not Event.wait(): a lock made and waited on each time costs more
            if stopped.is_set():
                return
            now = getattr(loop, "now", None)
            if now != seen:  # it turned
                seen, since, nudged = now, time.monotonic(), False
                continue
            quiet = time.monotonic() - since
            if quiet >= timeout / 2 and not nudged:
                # Idle in its wait, or stuck?  An idle loop wakes for this and turns.
                try:
                    loop.call_soon_threadsafe(lambda: None)
                except (OSError, RuntimeError, ValueError):  # closed as it stopped: done
                    return
                nudged = True
            elif quiet >= timeout and nudged:
                frame = sys._current_frames().get(main)
                stack = traceback.extract_stack(frame) if frame is not None else []
                log.critical("the loop has not turned for %.1fs (--worker-timeout %gs): stuck in "
                             "%s; every thread's stack follows; exiting 1", quiet, timeout,
                             _stuck_in_frames([(f.filename, f.lineno, f.name)
                                               for f in reversed(stack)]))
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                os._exit(1)

    thread = threading.Thread(target=watch, name="evloop watchdog", daemon=True)
    thread.start()
    return stopped.set
