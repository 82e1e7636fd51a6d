"""`--workers N`: a supervisor and N pre-forked servers, one event loop per core.

An event loop is one thread, so it uses one core however many the machine
has.  The cheapest way to use the others is the oldest: fork N workers that
each run the whole single-process server.  The parent stays behind as their
supervisor, as gunicorn's arbiter and nginx's master do.

The listeners are the supervisor's
-----------------------------------
The parent acquires the listening sockets before any worker exists (bound,
`--fd`, or systemd's: evloop.server.listening) and holds them until the end; each
worker inherits them over fork and accepts from the same queue.  A worker
that stops accepting, or dies, takes nothing with it: the queue belongs to
a socket that stays open in the parent.  (One SO_REUSEPORT listener per
worker would spread clients without a shared queue, but on Linux closing
one resets the connections waiting in it unless net.ipv4.tcp_migrate_req
is 1: docs/07-beyond-one-process.md has the measurement.)  The metrics
listeners are the parent's too, one per worker slot, so a replacement
serves its figures on the port its predecessor had.

What the supervisor does
------------------------
* A worker that exits while serving (a crash, an OOM kill, `kill -9`) is
  replaced, with one log line giving its exit status.  A slot whose workers
  keep dying within a second of starting waits 0.2 s, 0.4 s, ... up to 10 s
  before the next: a crash loop is not a fork storm.  The others are not
  touched.
* SIGHUP reloads: new workers start, importing the handler's code afresh
  (evloop.server.loading.reload_handler); once every one of them listens, the old
  ones get SIGHUP, stop accepting, and serve the connections they hold
  until those close or `--reload-grace` runs out, then drain as at a stop.
  If a new worker cannot load the handler (a syntax error, say), the reload
  is refused in one log line and the old workers go on serving.
* SIGTTIN and SIGTTOU add and remove one worker (never below one).
* SIGINT and SIGTERM drain every worker; a second one makes them reset.
* Its state goes to a service manager through NOTIFY_SOCKET (evloop.supervisor.systemd).

Workers talk back over one pipe, a line at a time (evloop.supervisor.workers).  This
module knows nothing of handlers or of how a worker serves: `run()` is
given `serve_one(worker)`, which evloop.supervisor.run supplies.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

from evloop.settings.config import Config
from evloop.server.listening import Listeners
from evloop.server.listening import MetricsSlots
from evloop.supervisor.systemd import Notifier
from evloop.supervisor.workers import Worker
from evloop.supervisor.workers import describe_status
from evloop.supervisor.workers import exit_code
from evloop.supervisor.workers import tag_log_lines

log = logging.getLogger("evloop")

READY_TIMEOUT = 15.0  # a worker that has not said "ready" by then is stuck
QUICK_DEATH = 1.0  # a worker that dies sooner than this after its start was failing to start
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 10.0
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU,
           signal.SIGCHLD)

# A worker's states, as the supervisor sees them.
STARTING = "starting"  # forked; not yet listening
SERVING = "serving"
RETIRING = "retiring"  # told to stop accepting (a reload, SIGTTOU): ending by itself
STOPPING = "stopping"  # told to drain (SIGTERM)


@dataclasses.dataclass
class Child:
    """A worker process, as the supervisor keeps it."""

    pid: int
    index: int
    started: float
    state: str = STARTING
    open: int = 0
    error: str = ""


@dataclasses.dataclass
class Reload:
    """A reload under way: the new workers, and when they must be ready by.
    (The old ones are whoever else is alive when it ends: _finish_reload.)"""

    new: set[int]
    deadline: float


def run(config: Config, listeners: Listeners, serve_one: Callable[[Worker], int],
        on_ready: Callable[[str], None], notifier: Notifier) -> int:
    """Fork `config.workers` workers running `serve_one`, supervise them until a
    stop, and return the exit code.  Raises OSError if a metrics port cannot be had."""
    return Supervisor(config, listeners, serve_one, on_ready, notifier).run()


class Supervisor:
    """The parent: forks, replaces, reloads, scales and stops the workers."""

    def __init__(self, config: Config, listeners: Listeners,
                 serve_one: Callable[[Worker], int], on_ready: Callable[[str], None],
                 notifier: Notifier) -> None:
        self.config = config
        self.listeners = listeners
        self.serve_one = serve_one
        self.on_ready = on_ready
        self.notifier = notifier
        self.grace = config.reload_grace if config.reload_grace is not None else config.drain_timeout
        self.wanted = config.workers
        self.children: dict[int, Child] = {}
        self.metrics = MetricsSlots(config.metrics_host, config.metrics_port)
        self.failures: dict[int, int] = {}  # slot -> workers in a row that died quickly
        self.restarts: dict[int, float] = {}  # slot -> when to start its replacement
        self.reload: Reload | None = None
        self.reloaded = False  # a reload succeeded: new workers import the code afresh
        self.up = False  # every first worker said ready
        self.stopping = False
        self.code = 0
        self.pending: list[int] = []  # signals caught, handled in the loop
        self.parent = os.getpid()

    # -- the loop -----------------------------------------------------------------

    def run(self) -> int:
        for index in range(self.wanted):
            self.metrics.get(index, strict=True)
        self.channel, self.channel_w = os.pipe()
        os.set_blocking(self.channel, False)
        self.wake, self.wake_w = socket.socketpair()
        wake_w = self.wake_w
        self.wake.setblocking(False)
        wake_w.setblocking(False)
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        old = {signum: signal.signal(signum, self._caught) for signum in HANDLED}
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.channel, selectors.EVENT_READ)
        self.selector.register(self.wake, selectors.EVENT_READ)
        self.buffer = b""
        self.first_deadline = time.monotonic() + READY_TIMEOUT
        try:
            for index in range(self.wanted):
                self._spawn(index)
            while self.children or not self.stopping:
                self._turn()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in old.items():
                signal.signal(signum, handler)
            self.selector.close()
            for fd in (self.channel, self.channel_w):
                os.close(fd)
            self.wake.close()
            wake_w.close()
            self.metrics.close()
        log.info("all workers stopped")
        return self.code

    def _turn(self) -> None:
        now = time.monotonic()
        deadlines = [*self.restarts.values()]
        if self.reload is not None:
            deadlines.append(self.reload.deadline)
        if not self.up and not self.stopping:
            deadlines.append(self.first_deadline)
        deadlines += [c.started + READY_TIMEOUT for c in self.children.values()
                      if c.state == STARTING]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.wake:
                try:
                    self.wake.recv(4096)
                except BlockingIOError:
                    pass
            else:
                self._read_channel()
        while self.pending:
            self._on_signal(self.pending.pop(0))
        self._reap()
        self._run_due(time.monotonic())

    def _caught(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)  # the wake-up socket gets a byte too

    def _on_signal(self, signum: int) -> None:
        if signum in (signal.SIGINT, signal.SIGTERM):
            self.stop()
        elif signum == signal.SIGHUP:
            self.begin_reload()
        elif signum == signal.SIGTTIN:
            self.scale(+1)
        elif signum == signal.SIGTTOU:
            self.scale(-1)

    def _run_due(self, now: float) -> None:
        for index, due in list(self.restarts.items()):
            if due <= now and not self.stopping:
                del self.restarts[index]
                if index < self.wanted:
                    self._spawn(index)
        if self.reload is not None and now >= self.reload.deadline:
            self._refuse_reload(f"new workers not ready after {READY_TIMEOUT:g}s")
        if not self.up and not self.stopping and now >= self.first_deadline:
            log.error("workers not ready after %gs; stopping", READY_TIMEOUT)
            self.code = self.code or 1
            self.stop()
        for child in self.children.values():
            if child.state == STARTING and now - child.started > READY_TIMEOUT and self.up \
                    and (self.reload is None or child.pid not in self.reload.new):
                log.error("worker %d (pid %d) not ready after %gs; killing it", child.index,
                          child.pid, READY_TIMEOUT)
                self._kill(child.pid, signal.SIGKILL)

    # -- workers ------------------------------------------------------------------

    def _spawn(self, index: int) -> int:
        metrics = self.metrics.get(index)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:  # EAGAIN, ENOMEM: try again later, as after a quick death
            log.error("cannot start worker %d: fork: %s; trying again in %gs", index,
                      exc.strerror or exc, BACKOFF_MAX)
            self.restarts[index] = time.monotonic() + BACKOFF_MAX
            return -1
        if pid == 0:
            self._become_worker(index, metrics)  # never returns
        self.children[pid] = Child(pid, index, time.monotonic())
        log.info("worker %d (pid %d) started", index, pid)
        return pid

    def _become_worker(self, index: int, metrics: socket.socket | None) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in HANDLED:
                signal.signal(signum, signal.SIG_DFL)
            # Ctrl-C reaches the whole process group: the parent decides.  SIGTERM and
            # SIGHUP are ignored until the server takes them, and again once it has
            # given them back: a late one must not turn exit 0 into death by signal.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            self.selector.close()
            self.wake.close()
            self.wake_w.close()
            self.notifier.close()
            os.close(self.channel)
            self.metrics.close(but=index)
            tag_log_lines(index)
            worker = Worker(index, self.channel_w, self.parent, self.listeners, metrics,
                            self.reloaded or self.reload is not None, self.grace)
            code = self.serve_one(worker)
        except BaseException:
            log.exception("worker %d crashed", index)
        finally:
            logging.shutdown()
            os._exit(code)

    def _read_channel(self) -> None:
        try:
            data = os.read(self.channel, 65536)
        except BlockingIOError:
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            pid_text, _, rest = line.decode(errors="replace").partition(" ")
            what, _, value = rest.partition(" ")
            child = self.children.get(int(pid_text)) if pid_text.isdigit() else None
            if child is None:
                continue
            if what == "ready":
                self._ready(child)
            elif what == "open" and value.isdigit():
                child.open = int(value)
                self._status()
            elif what == "error":
                child.error = value

    def _ready(self, child: Child) -> None:
        if child.state in (RETIRING, STOPPING):
            # Told to go while it was starting, when it ignored signals: its server
            # takes them now.
            self._kill(child.pid, signal.SIGHUP if child.state == RETIRING else signal.SIGTERM)
            return
        if child.state != STARTING:
            return
        child.state = SERVING
        if not self.up:
            first = [c for c in self.children.values() if c.state != STOPPING]
            if all(c.state == SERVING for c in first) and len(first) >= self.wanted:
                self.up = True
                shared = "inherited listener" if self.listeners.origin != "bound" else \
                    "shared listener"
                how = f"{len(first)} workers ({shared})"
                self.on_ready(how)
                self.notifier.ready(self._status_line())
        elif self.reload is not None and child.pid in self.reload.new:
            if all(self.children[pid].state == SERVING for pid in self.reload.new
                   if pid in self.children):
                self._finish_reload()
        else:
            log.info("worker %d (pid %d) serving", child.index, child.pid)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._exited(child, status)

    def _exited(self, child: Child, status: int) -> None:
        how = describe_status(status)
        code = exit_code(status)
        if self.stopping:
            if code and not self.code:
                self.code = code
            log.info("worker %d (pid %d) stopped (%s)", child.index, child.pid, how)
        elif child.state == RETIRING:
            log.info("worker %d (pid %d) retired (%s)", child.index, child.pid, how)
        elif not self.up:
            log.error("worker %d (pid %d) %s before it was ready%s; stopping", child.index,
                      child.pid, how, f": {child.error}" if child.error else "")
            self.code = self.code or code or 1
            self.stop()
        elif self.reload is not None and child.pid in self.reload.new:
            self._refuse_reload(child.error or f"a new worker {how} before it was ready")
        elif self.reload is not None:  # an old one: the new workers take every slot
            log.warning("worker %d (pid %d) exited during a reload (%s)", child.index,
                        child.pid, how)
        else:
            self._replace(child, how)
        self._status()

    def _replace(self, child: Child, how: str) -> None:
        lived = time.monotonic() - child.started
        failures = self.failures.get(child.index, 0) + 1 if lived < QUICK_DEATH else 0
        self.failures[child.index] = failures
        delay = 0.0 if not failures else min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)
        if child.index >= self.wanted:
            return log.info("worker %d (pid %d) exited (%s)", child.index, child.pid, how)
        log.warning("worker %d (pid %d) exited while serving (%s)%s; replacing it%s",
                    child.index, child.pid, how, f": {child.error}" if child.error else "",
                    f" in {delay:.1f}s" if delay else "")
        self.restarts[child.index] = time.monotonic() + delay

    # -- reload, scale, stop ----------------------------------------------------------

    def begin_reload(self) -> None:
        if self.stopping:
            return
        if not self.up or self.reload is not None:
            return log.warning("SIGHUP: %s; ignored", "a reload is under way" if self.up
                               else "the workers are still starting")
        self.notifier.reloading()
        log.info("reload: starting %d new worker(s) with the handler's code loaded afresh",
                 self.wanted)
        self.reload = Reload(set(), time.monotonic() + READY_TIMEOUT)
        for index in range(self.wanted):
            self.reload.new.add(self._spawn(index))
        if -1 in self.reload.new:
            self.restarts.clear()  # the old workers hold every slot still
            self._refuse_reload("a new worker could not be forked")

    def _finish_reload(self) -> None:
        assert self.reload is not None
        new, self.reload = self.reload.new, None
        self.reloaded = True
        old = {pid for pid in self.children if pid not in new}  # replacements begun since too
        for pid in old:
            self._retire(pid)
        self.restarts.clear()  # the new workers took every slot
        log.info("reload: %d new worker(s) serving; %d old one(s) accept no more and finish "
                 "their connections (--reload-grace %gs)", self.wanted, len(old), self.grace)
        self.notifier.ready(self._status_line())

    def _refuse_reload(self, reason: str) -> None:
        assert self.reload is not None
        new, self.reload = self.reload.new, None
        for pid in new:  # any that did start let go of what they accepted, gently
            self._retire(pid)
        log.error("reload refused: %s; the old workers go on serving", reason)
        self.notifier.ready(self._status_line())

    def _retire(self, pid: int) -> None:
        child = self.children.get(pid)
        if child is not None and child.state in (STARTING, SERVING):
            was, child.state = child.state, RETIRING
            # One still starting ignores SIGHUP (see _become_worker): SIGTERM, which
            # drains the little it may hold.
            self._kill(pid, signal.SIGHUP if was == SERVING else signal.SIGTERM)

    def scale(self, step: int) -> None:
        if self.stopping:
            return
        name = "SIGTTIN" if step > 0 else "SIGTTOU"
        if not self.up or self.reload is not None:
            return log.warning("%s: %s; ignored", name, "a reload is under way" if self.up
                               else "the workers are still starting")
        if step < 0 and self.wanted == 1:
            return log.warning("SIGTTOU: one worker is the least; ignored")
        self.wanted += step
        log.info("%s: %d workers now", name, self.wanted)
        used = {c.index for c in self.children.values() if c.state in (STARTING, SERVING)}
        if step > 0:  # the lowest free slot; one waiting for its restart is taken
            free = set(range(self.wanted)) - used - set(self.restarts)
            if free:
                self._spawn(min(free))
            return
        waiting = [i for i in self.restarts if i not in used]
        if waiting:  # a slot waiting for its restart goes first: nobody is in it
            del self.restarts[max(waiting)]
            return
        live = [c for c in self.children.values() if c.state in (STARTING, SERVING)]
        if live:
            last = max(live, key=lambda c: c.index)
            log.info("worker %d (pid %d) retires", last.index, last.pid)
            self._retire(last.pid)

    def stop(self) -> None:
        if self.stopping:
            log.warning("second stop request: asking workers to reset their connections")
        else:
            self.stopping = True
            self.notifier.stopping()
            self.restarts.clear()
            self.reload = None
        for child in self.children.values():
            child.state = STOPPING
            self._kill(child.pid, signal.SIGTERM)

    def _kill(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def _status_line(self) -> str:
        serving = sum(1 for c in self.children.values() if c.state == SERVING)
        connections = sum(c.open for c in self.children.values())
        return f"{serving} workers serving, {connections} connections open"

    def _status(self) -> None:
        if self.up:
            self.notifier.status(self._status_line())
