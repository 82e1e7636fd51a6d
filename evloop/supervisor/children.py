"""The supervisor's view of its workers: each one's state, and the deadline by
which one told to go must be gone.

A worker, as the supervisor sees it::

    STARTING --"ready"--> SERVING --SIGHUP--> RETIRING --exit--> reaped
        |                    +------SIGTERM--> STOPPING --exit--> reaped
        +--(not ready in time, or its reload refused)--> KILLED --> reaped

Being told to go is a request that a worker grants only while its loop
turns.  A loop stuck in a handler never acts on SIGTERM, and a worker still
starting ignores it (it has no server to drain yet).  So every worker told
to go gets a deadline, and past it SIGKILL: `--graceful-timeout` after
SIGTERM, `--reload-grace` plus `--graceful-timeout` after SIGHUP, as
gunicorn's arbiter kills what its graceful timeout leaves.  A stop or a
reload therefore ends, whatever the handler does.

KILLED is a state of its own because SIGKILL is not death: until the child
is reaped it is still in the table, and one that still counted as starting
would be taken for a slot's worker, or be killed again on every turn.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from collections.abc import Callable
from collections.abc import Iterable

from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer

log = logging.getLogger("evloop")

STARTING = "starting"  # forked; not yet listening
SERVING = "serving"
RETIRING = "retiring"  # told to stop accepting (a reload, SIGTTOU): ending by itself
STOPPING = "stopping"  # told to drain (SIGTERM)
KILLED = "killed"  # sent SIGKILL; not yet reaped
LIVE = (STARTING, SERVING)  # what holds a slot


@dataclasses.dataclass
class Child:
    """A worker process, as the supervisor keeps it."""

    pid: int
    index: int
    started: float
    state: str = STARTING
    open: int = 0
    error: str = ""
    deadline: Timer | None = None  # its SIGKILL, once told to go
    killed_for: str = ""  # why it was: "not_ready", "refused", "overdue" (for the metrics)

    def signal(self, signum: int) -> None:
        signal_if_there(self.pid, signum)

    def kill(self, why: str, reason: str) -> None:
        """SIGKILL, with one line saying `why`; nothing more is sent to it.  `reason`
        is a word for the supervisor's metrics."""
        if self.state == KILLED:
            return
        log.error("worker %d (pid %d) %s; killing it", self.index, self.pid, why)
        self.state, self.killed_for = KILLED, reason
        self.forget()
        self.signal(signal.SIGKILL)

    def tell(self, signum: int, state: str, loop: BaseLoop, within: float,
             why: Callable[[], str]) -> None:
        """Send `signum` and enter `state`; SIGKILL if still there `within` seconds
        on, or at its deadline if that is sooner.  `why()` says why, then."""
        if self.state == KILLED:
            return
        self.state = state
        self.signal(signum)
        if self.deadline is not None and self.deadline.when() <= loop.time() + within:
            return
        self.forget()
        self.deadline = loop.call_later(within, lambda: self.kill(why(), "overdue"))

    def forget(self) -> None:
        """Reaped, or killed: its deadline is moot."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


def signal_if_there(pid: int, signum: int) -> None:
    """os.kill, for a child that may have ended and not yet been reaped."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def empty_slots(children: Iterable[Child], wanted: int) -> list[int]:
    """The slots below `wanted` that no live worker holds."""
    held = {child.index for child in children if child.state in LIVE}
    return [index for index in range(wanted) if index not in held]


def status_line(children: Iterable[Child]) -> str:
    children = list(children)
    serving = sum(1 for child in children if child.state == SERVING)
    connections = sum(child.open for child in children)
    return f"{serving} workers serving, {connections} connections open"
