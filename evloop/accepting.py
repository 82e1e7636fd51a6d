"""Accepting clients: where a server meets load it did not ask for.

`Accepting` is the half of evloop.server that takes clients off the
listening socket and makes each a `Connection` with a fresh handler.  Each
rule here answers a failure seen in real servers:

* Fairness: at most `ACCEPTS_PER_EVENT` (1,000, Redis's MAX_ACCEPTS_PER_CALL)
  accepts per readiness event, so a connection storm cannot starve the
  clients already connected.  Too small a bound starves the newcomers
  instead, because a busy turn is long: with 64, a server reused for four
  rounds of 10,000 busy clients left 300-870 of them with no reply in rounds
  2-4; with 1,000, none.
* `max_connections`: a client over the limit is accepted and closed at once
  (after the handler's one-line `busy_message`) rather than left to wait in
  the backlog.  The log line about it is rate-limited.
* Out of file descriptors (EMFILE/ENFILE): the listener stays readable, so
  retrying would spin the CPU (Twisted's old bug).  Accepting pauses, doubling
  the pause up to a second, with one log line per episode.
* select() cannot watch descriptors at or above FD_SETSIZE: such a client is
  refused with a log line naming the limit.
* A handler class whose constructor raises costs that client only: it is
  reported through the loop's exception handler and its socket closed.

Each refusal is counted by its reason (evloop.metrics.REFUSAL_REASONS).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from evloop.backends import FdLimitError
from evloop.connection import Connection
from evloop.sockets import format_address
from evloop.sockets import unix_peer
from evloop.states import CLOSED

if TYPE_CHECKING:
    from evloop.config import Config
    from evloop.handlers.base import Handler
    from evloop.loop import Loop
    from evloop.metrics import Counters
    from evloop.offload import Offloader

log = logging.getLogger("evloop")

ACCEPTS_PER_EVENT = 1000
ACCEPT_PAUSE_MIN = 0.05
ACCEPT_PAUSE_MAX = 1.0
REFUSAL_LOG_INTERVAL = 5.0
OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Accepting:
    """The accepting half of `Server` (a base class of it)."""

    if TYPE_CHECKING:  # what this class uses of Server
        config: Config
        loop: Loop
        listener: socket.socket | None
        connections: set[Connection]
        counters: Counters
        factory: Callable[[], Handler]
        handler_class: type[Handler]
        connection_class: type[Connection]
        offloader: Offloader | None
        _connection_options: dict[str, Any]
        _accept_pause: float
        _accept_shape: tuple[int, int, int]  # the listener's family, type and protocol
        _accepting: bool
        _refused: int
        _refusal_logged_at: float

        def connection_closed(self, connection: Connection) -> None: ...

    def on_acceptable(self) -> None:
        listener = self.listener
        assert listener is not None
        # socket.accept() is _accept() plus a socket built from the listener's family
        # and type as enums: 10 Python calls a connection (cProfile, connection churn).
        # The same socket, from the same call, with the numbers worked out once.
        accept, shape = listener._accept, self._accept_shape  # type: ignore[attr-defined]
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                fd, address = accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in OUT_OF_FDS:
                    self.counters.refused["fd_limit"] += 1
                    self._pause_accepting(exc)
                    break
                # ECONNABORTED, EPROTO...: that client is gone, the next may not be.
                log.debug("accept: %s", exc.strerror or exc)
                continue
            sock = socket.socket(*shape, fileno=fd)
            if self._accept_pause:
                log.warning("file descriptors available again: accepting (%d connections)",
                            len(self.connections))
                self._accept_pause = 0.0
            self.accept_one(sock, address)

    def accept_one(self, sock: socket.socket, address: Any) -> None:
        # An accepted socket's family is its listener's: a Unix client's address is
        # a str or bytes (often empty), an IP client's a tuple.  socket.family builds an
        # enum each time, twice per connection (cProfile, under connection churn).
        unix = isinstance(address, (str, bytes))
        peer = unix_peer(sock) if unix else format_address(address)
        if len(self.connections) >= self.config.max_connections:
            return self._refuse(sock, peer, f"--max-connections {self.config.max_connections} "
                                            f"reached", "full")
        sock.setblocking(False)
        if not unix:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            handler = self.factory()
        except Exception as exc:
            self.counters.accepted += 1
            self.counters.handler_crashes += 1
            self.counters.closed["handler_error"] += 1
            self.loop.call_exception_handler({
                "message": f"{peer}: handler {self.handler_class.__name__}() raised; "
                           f"closing this client", "exception": exc, "peer": peer})
            sock.close()
            return
        connection = self.connection_class(self.loop, sock, peer, handler, self.config,
                                           self.connection_closed, self.offloader,
                                           **self._connection_options)
        try:
            connection.start()
        except FdLimitError as exc:
            return self._refuse(sock, peer, str(exc), "select_limit")
        self.counters.accepted += 1
        if connection.state is not CLOSED:
            self.connections.add(connection)
        log.debug("%s: connected (%d open)", peer, len(self.connections))

    def _refuse(self, sock: socket.socket, peer: str, reason: str, why: str) -> None:
        try:
            sock.setblocking(False)
            busy = self.handler_class.busy_message
            if busy:
                sock.send(busy)
        except OSError:
            pass
        sock.close()
        self.counters.refused[why] += 1
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning("refused %d connection(s), latest %s: %s", self._refused, peer, reason)
            self._refused = 0
            self._refusal_logged_at = now

    def _pause_accepting(self, exc: OSError) -> None:
        if not self._accept_pause:
            log.warning("out of file descriptors (%s) with %d connections open: "
                        "pausing accept until some close", exc.strerror, len(self.connections))
        self._accept_pause = min(max(self._accept_pause * 2, ACCEPT_PAUSE_MIN), ACCEPT_PAUSE_MAX)
        assert self.listener is not None
        self.loop.remove_reader(self.listener)
        self._accepting = False
        self.loop.call_later(self._accept_pause, self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self.listener is not None and not self._accepting:
            self.loop.add_reader(self.listener, self.on_acceptable)
            self._accepting = True
