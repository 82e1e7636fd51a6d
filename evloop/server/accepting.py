"""Accepting clients: where a server meets load it did not ask for.

`Acceptor` takes clients off one listening socket and hands each to a
callback; the server's listener and the metrics endpoint each have one, so
both keep the same rules, which answer failures seen in real servers:

* Fairness: at most `limit` accepts per readiness event (1,000 for the
  server, Redis's MAX_ACCEPTS_PER_CALL), so a connection storm cannot
  starve the clients already connected.  Too small a bound starves the
  newcomers instead: a turn under load is long, and a backlog drained a
  few at a time per turn overflows, so the kernel drops the connects it
  has no room for (bench/results/README.md, "Accepting").
* Out of file descriptors (EMFILE/ENFILE): the listener stays readable, so
  retrying at once would spin the CPU (Twisted's old bug;
  tests/server/test_accepting.py counts the turns).  Accepting pauses,
  doubling the pause from 50 ms up to a second, with one log line per
  episode, and resumes by itself.
* ECONNABORTED, EPROTO and the like: that client is gone, the next may not be.

`Refusals` is how a server turns a client away (over `--max-connections`,
or a descriptor too high for select()): the handler's one-line
`busy_message`, a close, and a log line rate-limited to one per
REFUSAL_LOG_INTERVAL.  Each refusal is counted by its reason
(evloop.metrics.counters.REFUSAL_REASONS).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters

log = logging.getLogger("evloop")

ACCEPTS_PER_EVENT = 1000
ACCEPT_PAUSE_MIN = 0.05
ACCEPT_PAUSE_MAX = 1.0
REFUSAL_LOG_INTERVAL = 5.0
OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Acceptor:
    """Accepts from `listener` while started, handing each client to
    `on_accepted(sock, address)` (a non-blocking socket is the callee's to set).

    Methods for the caller: `start()`, `stop()`; `paused` is the current
    out-of-descriptors pause (0 when accepting); `on_fd_limit()` is called
    at each accept that failed for lack of descriptors.
    """

    def __init__(self, loop: BaseLoop, listener: socket.socket,
                 on_accepted: Callable[[socket.socket, Any], object], *, name: str = "accept",
                 limit: int = ACCEPTS_PER_EVENT,
                 on_fd_limit: Callable[[], object] | None = None,
                 describe: Callable[[], str] = lambda: "") -> None:
        self.loop = loop
        self.listener = listener
        self.on_accepted = on_accepted
        self.name = name  # for log lines: "accept", "metrics"
        self.limit = limit
        self.on_fd_limit = on_fd_limit
        self.describe = describe  # what the log lines add: "with 12 connections open"
        # socket.accept() is _accept() plus a socket built from the listener's family
        # and type as enums, Python calls for every connection.  The same socket,
        # from the same call, with the numbers worked out once (see
        # bench/results/README.md, "Connection churn").
        self.shape = (int(listener.family), int(listener.type), listener.proto)
        self.paused = 0.0
        self.accepting = False
        self.resume_timer: Any = None

    def start(self) -> None:
        if not self.accepting and self.listener.fileno() >= 0:
            self.loop.add_reader(self.listener, self.on_acceptable)
            self.accepting = True

    def stop(self) -> None:
        if self.accepting:
            self.loop.remove_reader(self.listener)
            self.accepting = False
        if self.resume_timer is not None:
            self.resume_timer.cancel()
            self.resume_timer = None

    def on_acceptable(self) -> None:
        accept, shape = self.listener._accept, self.shape  # type: ignore[attr-defined]
        for _ in range(self.limit):
            try:
                fd, address = accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in OUT_OF_FDS:
                    if self.on_fd_limit is not None:
                        self.on_fd_limit()
                    self._pause(exc)
                    break
                if exc.errno == errno.EINVAL:  # the listener was shut down (a stop)
                    self.stop()
                    break
                log.debug("%s: %s", self.name, exc.strerror or exc)
                continue
            if self.paused:
                log.warning("%s: file descriptors available again: accepting%s", self.name,
                            self.describe())
                self.paused = 0.0
            self.on_accepted(socket.socket(*shape, fileno=fd), address)
            if not self.accepting:
                break  # the callee stopped us (a shutdown)

    def _pause(self, exc: OSError) -> None:
        if not self.paused:
            log.warning("%s: out of file descriptors (%s)%s: pausing accept until some close",
                        self.name, exc.strerror, self.describe())
        self.paused = min(max(self.paused * 2, ACCEPT_PAUSE_MIN), ACCEPT_PAUSE_MAX)
        self.stop()
        self.resume_timer = self.loop.call_later(self.paused, self._resume)

    def _resume(self) -> None:
        self.resume_timer = None
        self.start()


class Refusals:
    """Turning clients away: the busy message, the close, one log line now and then."""

    def __init__(self, counters: Counters, busy_message: bytes) -> None:
        self.counters = counters
        self.busy_message = busy_message
        self.unreported = 0  # refusals since the last log line
        self.reported_at = -REFUSAL_LOG_INTERVAL

    def refuse(self, sock: socket.socket, peer: str, reason: str, why: str) -> None:
        try:
            sock.setblocking(False)
            if self.busy_message:
                sock.send(self.busy_message)
        except OSError:
            pass
        sock.close()
        self.counters.refused[why] += 1
        self.unreported += 1
        now = time.monotonic()
        if now - self.reported_at >= REFUSAL_LOG_INTERVAL:
            log.warning("refused %d connection(s), latest %s: %s", self.unreported, peer, reason)
            self.unreported = 0
            self.reported_at = now

    def flush(self) -> None:
        """At shutdown: the refusals no log line has reported yet."""
        if self.unreported:
            log.warning("refused %d more connection(s) since the last report", self.unreported)
            self.unreported = 0
