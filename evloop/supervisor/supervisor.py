"""`--workers N`: a supervisor and N pre-forked servers, one event loop per core.

An event loop is one thread, so it uses one core.  The cheapest way to use
the others is the oldest: fork N workers that each run the whole server, and
stay behind as their supervisor, as gunicorn's arbiter and nginx's master do.

The listeners are the supervisor's
-----------------------------------
The parent acquires the listening sockets before any worker exists (bound,
`--fd`, or systemd's: evloop.server.listening) and holds them until the end;
each worker inherits them over fork and accepts from the same queue, which
outlives any worker.  (One SO_REUSEPORT listener per worker would reset the
clients queued in one that closes unless net.ipv4.tcp_migrate_req is 1:
docs/07-beyond-one-process.md.)  The metrics listeners are the parent's too:
one port for scrapes (evloop.supervisor.scrape), one per slot behind it.

What the supervisor does
------------------------
* A worker that exits while serving (a crash, `kill -9`) is replaced, with one
  log line.  A slot whose workers keep dying at start waits 0.2 s, 0.4 s, ... 10 s.
* SIGHUP reloads: new workers start, importing the handler's code afresh
  (evloop.server.loading.reload_handler); once all of them listen, the old
  ones stop accepting and finish their connections (`--reload-grace`).  If
  a new worker cannot load the handler, or does not listen within
  `--worker-start-timeout`, the reload is refused in one line.
* SIGTTIN and SIGTTOU add and remove one worker (never below one).
* A worker whose loop is stuck (no heartbeat for `--worker-timeout`) has
  its stack logged and is killed and replaced (evloop.supervisor.watchdog).
* SIGINT and SIGTERM close the listener and drain every worker; a second one
  makes them reset.  Whatever a worker told to go still runs past
  `--graceful-timeout` is killed (evloop.supervisor.children).
* Its state goes to a service manager through NOTIFY_SOCKET (evloop.supervisor.systemd).

It runs on evloop's own loop: a reader for the workers' status lines
(evloop.supervisor.workers), signal handlers, and a timer per deadline.  Signals
are blocked across fork until the child has closed its copy of the loop, whose
wake-up fd would carry one sent to the child to the parent.  A callback that
raises is a bug: the workers are stopped, and the exit code is 1.  It knows no
handler: `run()` is given `serve_one(worker)` (evloop.supervisor.run's).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import IO
from typing import Any

from evloop.connection.tls import TLSFiles
from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer
from evloop.server.listening import Listeners
from evloop.server.listening import MetricsSlots
from evloop.settings.config import Config
from evloop.supervisor.children import KILLED
from evloop.supervisor.children import LIVE
from evloop.supervisor.children import RETIRING
from evloop.supervisor.children import SERVING
from evloop.supervisor.children import STARTING
from evloop.supervisor.children import STOPPING
from evloop.supervisor.children import Child
from evloop.supervisor.children import empty_slots
from evloop.supervisor.children import status_line
from evloop.supervisor import hygiene
from evloop.supervisor import signals
from evloop.supervisor.scrape import Scrapes
from evloop.supervisor.scrape import Tally
from evloop.supervisor.systemd import Notifier
from evloop.supervisor.watchdog import Watchdog
from evloop.supervisor.workers import Channel
from evloop.supervisor.workers import Worker
from evloop.supervisor.workers import describe_status
from evloop.supervisor.workers import exit_code
from evloop.supervisor.workers import tag_log_lines

log = logging.getLogger("evloop")

QUICK_DEATH = 1.0  # a worker that dies sooner than this after its start was failing to start
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 10.0
# An operator asks to stop, reload or scale; SIGCHLD says a worker has ended.
ASKED = (*signals.STOP, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, *signals.IGNORED)
HANDLED = (*ASKED, signal.SIGCHLD)

@dataclasses.dataclass
class Reload:
    """A reload under way: its new workers.  (The old ones are whoever else is
    alive when it ends: _finish_reload.)"""

    new: set[int]


def run(config: Config, listeners: Listeners, serve_one: Callable[[Worker], int],
        on_ready: Callable[[str], None], notifier: Notifier,
        identity: hygiene.Identity | None = None, files: TLSFiles | None = None) -> int:
    """Fork `config.workers` workers running `serve_one` (as `identity`, if given),
    supervise them until a stop, and return the exit code; a reload re-reads `files`
    first.  Raises OSError if a metrics port cannot be had."""
    return Supervisor(config, listeners, serve_one, on_ready, notifier, identity, files).run()


class Supervisor:
    """The parent: forks, replaces, reloads, scales and stops the workers.

    Methods for the caller: `run()` (module-level `run` builds one and calls it);
    its signal handlers call `begin_reload()`, `scale(+1 or -1)` and `stop()`."""

    def __init__(self, config: Config, listeners: Listeners,
                 serve_one: Callable[[Worker], int], on_ready: Callable[[str], None],
                 notifier: Notifier, identity: hygiene.Identity | None = None,
                 files: TLSFiles | None = None) -> None:
        self.config = config
        self.listeners = listeners
        self.serve_one = serve_one
        self.on_ready = on_ready
        self.notifier = notifier
        self.identity = identity
        self.files = files or TLSFiles(config, None)
        self.grace = config.reload_grace if config.reload_grace is not None else config.drain_timeout
        self.start_timeout = config.worker_start_timeout
        self.wanted = config.workers
        self.children: dict[int, Child] = {}
        # Each slot's own metrics port, on loopback: the supervisor's scrapes ask them.
        self.metrics = MetricsSlots("127.0.0.1", 0 if config.metrics_port is not None else None)
        self.tally = Tally()
        self.failures: dict[int, int] = {}  # slot -> workers in a row that died quickly
        self.restarts: dict[int, Timer] = {}  # slot -> the start of its replacement
        self.reload: Reload | None = None
        self.reloaded = False  # a reload succeeded: new workers import the code afresh
        self.refused: set[int] = set()  # the new workers of a refused reload, until they end
        self.up = False  # every first worker said ready
        self.stopping = False
        self.code = 0
        self.parent = os.getpid()

    # -- the loop -----------------------------------------------------------------

    def run(self) -> int:
        for index in range(self.wanted):
            self.metrics.get(index, strict=True)
        self.channel = Channel()
        self.loop = BaseLoop(self.config.selector)
        self.loop.set_exception_handler(self._crashed)
        self.loop.add_reader(self.channel.read_fd, self._read_channel)
        for signum in ASKED:
            self.loop.add_signal_handler(signum, self._on_signal)
        self.loop.add_signal_handler(signal.SIGCHLD, lambda signum: self._reap())
        self.loop.call_later(self.start_timeout, self._first_not_ready)
        self.watchdog = Watchdog(self.loop, self.config.worker_timeout, self.notifier)
        self.scrapes = Scrapes(self.loop, self.listeners.metrics, self.metrics, self.tally,
                               lambda: self.wanted, self._states, self._readiness)
        try:
            for index in range(self.wanted):
                self._spawn(index)
            while self.children or not self.stopping:
                self.loop.run_once(None)
        finally:
            self.watchdog.close()
            self.scrapes.close()
            self.loop.close()  # the signal handlers from before are back
            self.channel.close()
            self.metrics.close()
        log.info("all workers stopped")
        return self.code

    def _states(self) -> list[str]:
        return [child.state for child in self.children.values()]

    def _readiness(self) -> str:
        """/readyz on the supervisor's metrics port."""
        return "draining" if self.stopping else "ready" if self.up else "starting"

    def _crashed(self, loop: BaseLoop, context: dict[str, Any]) -> None:
        """A callback raised: a bug, after which supervising on could fork or kill amiss."""
        loop.default_exception_handler(context)
        self.code = self.code or 1
        if not self.stopping:
            log.error("the supervisor failed; stopping the workers")
            self.stop()

    def _on_signal(self, signum: int) -> None:
        if signum in signals.STOP:
            self.stop()
        elif signum in signals.IGNORED:
            signals.say_ignored(signum)
        elif signum == signal.SIGHUP:
            self.begin_reload()
        elif signum == signal.SIGTTIN:
            self.scale(+1)
        elif signum == signal.SIGTTOU:
            self.scale(-1)

    # -- deadlines: each timer checks that its reason still holds --------------------

    def _restart_in(self, index: int, delay: float) -> None:
        earlier = self.restarts.get(index)
        if earlier is not None:
            earlier.cancel()
        self.restarts[index] = self.loop.call_later(delay, self._restart, index)

    def _restart(self, index: int) -> None:
        del self.restarts[index]
        if index < self.wanted and not self.stopping:
            self._spawn(index)

    def _cancel_restarts(self) -> None:
        for timer in self.restarts.values():
            timer.cancel()
        self.restarts.clear()

    def _first_not_ready(self) -> None:
        if not self.up and not self.stopping:
            log.error("workers not ready after %gs (--worker-start-timeout); stopping",
                      self.start_timeout)
            self.code = self.code or 1
            self.stop()

    def _reload_not_ready(self, reload: Reload) -> None:
        if self.reload is reload:
            self._refuse_reload(f"new workers not ready after {self.start_timeout:g}s "
                                f"(--worker-start-timeout)")

    def _child_not_ready(self, child: Child) -> None:
        if self.children.get(child.pid) is child and child.state == STARTING and self.up \
                and (self.reload is None or child.pid not in self.reload.new):
            child.kill(f"not ready after {self.start_timeout:g}s (--worker-start-timeout)",
                       "not_ready")

    # -- workers ------------------------------------------------------------------

    def _spawn(self, index: int, retry: bool = True) -> int:
        metrics = self.metrics.get(index)
        dump = self.watchdog.new_file()
        sys.stdout.flush()
        sys.stderr.flush()
        # Blocked until the child has closed its copy of the loop (see the essay).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        pid = -1
        try:
            pid = os.fork()
        except OSError as exc:  # EAGAIN, ENOMEM: try again later, as after a quick death
            dump.close()
            log.error("cannot start worker %d: fork: %s%s", index, exc.strerror or exc,
                      f"; trying again in {BACKOFF_MAX:g}s" if retry else "")
            if retry:  # (a reload's new worker is not retried: the reload is refused)
                self._restart_in(index, BACKOFF_MAX)
            return -1
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid == 0:
            self._become_worker(index, metrics, mask, dump)  # never returns
        child = self.children[pid] = Child(pid, index, time.monotonic())
        self.tally.started += 1
        self.watchdog.watch(pid, index, dump)
        self.loop.call_later(self.start_timeout, self._child_not_ready, child)
        log.info("worker %d (pid %d) started", index, pid)
        return pid

    def _become_worker(self, index: int, metrics: socket.socket | None,
                       mask: Iterable[int], dump: IO[bytes]) -> None:
        code = 1
        try:
            self.loop.close()  # no epoll_ctl: the epoll instance is the parent's too
            signal.set_wakeup_fd(-1)
            for signum in HANDLED:
                signal.signal(signum, signal.SIG_DFL)
            # Ctrl-C reaches the whole process group: the parent decides.  SIGTERM and
            # SIGHUP are ignored until the server takes them, and again once it has
            # given them back: a late one must not turn exit 0 into death by signal.
            for signum in signals.SUPERVISOR_DECIDES:
                signal.signal(signum, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one sent meanwhile is ignored
            self.notifier.close()
            self.channel.close(reading_only=True)
            self.metrics.close(but=index)
            if self.listeners.metrics is not None:  # scrapes are the supervisor's to answer
                self.listeners.metrics.close()
            self.watchdog.close_files()  # its siblings' stacks are not its own
            tag_log_lines(index)
            hygiene.become(self.identity)  # the supervisor keeps its user (hygiene's essay)
            hygiene.die_with_parent(self.parent)  # after: a change of user clears it
            worker = Worker(index, self.channel.write_fd, self.parent, self.listeners, metrics,
                            self.reloaded or self.reload is not None, self.grace, dump)
            code = self.serve_one(worker)
        except BaseException:
            log.exception("worker %d crashed", index)
        finally:
            logging.shutdown()
            os._exit(code)

    def _read_channel(self) -> None:
        for pid, what, value in self.channel.lines():
            child = self.children.get(pid)
            if child is None:
                continue
            self.watchdog.beat(child.pid)  # any line: its loop turns
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
            child.signal(signal.SIGHUP if child.state == RETIRING else signal.SIGTERM)
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
                self.notifier.ready(status_line(self.children.values()))
        elif self.reload is not None and child.pid in self.reload.new:
            if all(self.children[pid].state == SERVING for pid in self.reload.new
                   if pid in self.children):
                self._finish_reload()
        else:
            log.info("worker %d (pid %d) serving", child.index, child.pid)

    def _reap(self) -> None:
        # On SIGCHLD.  evloop.aio waits on a pidfd instead: it must not take SIGCHLD
        # from the program it runs in, where the supervisor is that program.
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                child.forget()
                self._exited(child, status)

    def _exited(self, child: Child, status: int) -> None:
        how = describe_status(status)
        code = exit_code(status)
        if self.watchdog.ended(child.pid, status, how):
            self.tally.killed["hung"] += 1
        elif child.state == KILLED:
            self.tally.killed[child.killed_for] += 1
        if self.stopping:
            if code and not self.code:
                self.code = code
            log.info("worker %d (pid %d) stopped (%s)", child.index, child.pid, how)
        elif child.pid in self.refused:
            self._refused_one_ended(child, how)
        elif child.state == RETIRING:
            log.info("worker %d (pid %d) retired (%s)", child.index, child.pid, how)
        elif not self.up:
            log.error("worker %d (pid %d) %s before it was ready%s; stopping", child.index,
                      child.pid, how, f": {child.error}" if child.error else "")
            self.code = self.code or code or 1
            self.stop()
        elif self.reload is not None and child.pid in self.reload.new:
            self._refuse_reload(child.error or f"a new worker {how} before it was ready")
            self._refused_one_ended(child, how)
        elif self.reload is not None:  # an old one: the new workers take every slot
            log.warning("worker %d (pid %d) exited during a reload (%s); its slot is the "
                        "reload's", child.index, child.pid, how)
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
        self.tally.replaced += 1
        log.warning("worker %d (pid %d) exited while serving (%s)%s; replacing it%s",
                    child.index, child.pid, how, f": {child.error}" if child.error else "",
                    f" in {delay:.1f}s" if delay else "")
        self._restart_in(child.index, delay)

    # -- reload, scale, stop ----------------------------------------------------------

    def begin_reload(self) -> None:
        if self.stopping:
            return
        if not self.up or self.reload is not None:
            return log.warning("SIGHUP: %s; ignored", "a reload is under way" if self.up
                               else "the workers are still starting")
        self.notifier.reloading()
        self.reload = Reload(set())
        try:
            self.files.reread()  # the TLS files: new workers serve what they hold now
        except ValueError as exc:
            return self._refuse_reload(str(exc))
        log.info("reload: starting %d new worker(s) with the handler's code%s loaded afresh",
                 self.wanted, " and the TLS files" if self.config.tls else "")
        self.loop.call_later(self.start_timeout, self._reload_not_ready, self.reload)
        for index in range(self.wanted):
            self.reload.new.add(self._spawn(index, retry=False))
        if -1 in self.reload.new:
            self._refuse_reload("a new worker could not be forked")

    def _finish_reload(self) -> None:
        assert self.reload is not None
        new, self.reload = self.reload.new, None
        self.reloaded = True
        self.files.settle(kept=True)
        self.tally.reloads["done"] += 1
        old = {pid for pid in self.children if pid not in new}  # replacements begun since too
        for pid in old:
            self._retire(pid)
        self._cancel_restarts()  # the new workers took every slot
        log.info("reload: %d new worker(s) serving; %d old one(s) told to stop accepting and "
                 "finish (--reload-grace %gs)", self.wanted, len(old), self.grace)
        self.notifier.ready(status_line(self.children.values()))

    def _refuse_reload(self, reason: str) -> None:
        """The old workers serve on; the new ones go, and systemd hears no READY=1."""
        assert self.reload is not None
        new, self.reload = self.reload.new, None
        self.refused |= new
        self.tally.reloads["refused"] += 1
        self.files.settle(kept=False)  # a replacement serves the old workers' certificate
        log.error("reload refused: %s; the old workers go on serving", reason)
        for pid in new:
            child = self.children.get(pid)
            if child is not None and child.state == STARTING:  # its import may never end
                child.kill("of the refused reload is still starting", "refused")
            else:  # one that did start lets go of what it accepted, gently
                self._retire(pid)
        self.notifier.refused(reason, status_line(self.children.values()))
        self._fill_slots()  # an old worker that died meanwhile left its slot to the reload

    def _fill_slots(self) -> None:
        """Every slot that should exist has a worker, or its restart under way."""
        for index in empty_slots(self.children.values(), self.wanted):
            if index not in self.restarts:
                log.warning("worker slot %d is empty; starting a worker in it", index)
                self._restart_in(index, 0.0)

    def _refused_one_ended(self, child: Child, how: str) -> None:
        # The same line for each, the one whose error refused the reload included.
        self.refused.discard(child.pid)
        log.info("worker %d (pid %d) of the refused reload ended (%s)", child.index,
                 child.pid, how)

    def _retire(self, pid: int) -> None:
        child = self.children.get(pid)
        if child is not None and child.state in LIVE:
            # One still starting ignores both (see _become_worker) until its server
            # takes them: _ready tells it again.
            bound = self.grace + self.config.graceful_timeout
            child.tell(signal.SIGHUP if child.state == SERVING else signal.SIGTERM, RETIRING,
                       self.loop, bound, lambda: f"still retiring after {bound:g}s "
                       f"(--reload-grace {self.grace:g}s + --graceful-timeout "
                       f"{self.config.graceful_timeout:g}s)")

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
        used = {c.index for c in self.children.values() if c.state in LIVE}
        if step > 0:  # the lowest free slot; one waiting for its restart is taken
            free = set(range(self.wanted)) - used - set(self.restarts)
            if free:
                self._spawn(min(free))
            return
        waiting = [i for i in self.restarts if i not in used]
        if waiting:  # a slot waiting for its restart goes first: nobody is in it
            self.restarts.pop(max(waiting)).cancel()
            return
        live = [c for c in self.children.values() if c.state in LIVE]
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
            self._cancel_restarts()
            self.reload = None
            self.listeners.stop_listening()  # new clients are refused from now on
        bound = self.config.graceful_timeout
        for child in self.children.values():
            child.tell(signal.SIGTERM, STOPPING, self.loop, bound,
                       lambda: f"still running {bound:g}s after the stop (--graceful-timeout)")

    def _status(self) -> None:
        if self.up:
            self.notifier.status(status_line(self.children.values()))
