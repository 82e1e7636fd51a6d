"""The metrics endpoint: a listener of the server's own that answers scrapes.

`--metrics-port` binds a second listener on the server's loop, by default
on 127.0.0.1: the figures name the handler and show the load, which is
nobody's business outside the machine unless its operator says so.  Each
scrape is an ordinary evloop connection served by the sans-IO
`MetricsHandler` (evloop.metrics.prometheus), accepted with the server's
own accept rules (a pause, not a spin, when descriptors run out).  At most
MAX_SCRAPES are served at once, and a scrape's connection counts in no
figure of the server it describes.  The endpoint is given callables, never
the server: `render()` for /metrics and `readiness()` for /readyz.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.starting import start_connection
from evloop.handlers.addresses import format_address
from evloop.handlers.base import Handler
from evloop.loop.backends import FdLimitError
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters
from evloop.metrics.prometheus import MAX_REQUEST
from evloop.metrics.prometheus import MetricsHandler
from evloop.metrics.prometheus import always_ready
from evloop.server.accepting import Acceptor
from evloop.server.sockets import bind_socket
from evloop.settings.config import Config

log = logging.getLogger("evloop")

MAX_SCRAPES = 16  # scrapes served at once; more are closed at accept
SCRAPE_CONFIG = Config(idle_timeout=10.0, max_message=MAX_REQUEST)


class MetricsEndpoint:
    """A listener on the server's loop that serves `render()` at /metrics, and
    /healthz and /readyz (`readiness()`: evloop.metrics.prometheus).

    `start()` binds (OSError if it cannot), or takes `listener`, a socket
    bound already (a --workers supervisor's), and sets `address`; `close()`
    closes the listener and drops scrapes still in progress.  It is the
    owner of its scrapes (evloop.connection.owner), which open nothing and
    count in no figure of the server.
    """

    offloader = None
    server_context = None

    def __init__(self, loop: BaseLoop, host: str, port: int, render: Callable[[], str],
                 readiness: Callable[[], str] = always_ready,
                 handler: Callable[[], Handler] | None = None) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.render = render
        self.readiness = readiness
        # What answers each scrape: MetricsHandler, or another (the supervisor's).
        self.handler = handler or (lambda: MetricsHandler(self.render, self.readiness))
        self.listener: socket.socket | None = None
        self.acceptor: Acceptor | None = None
        self.address: Any = None
        self.scrapes: set[Connection] = set()
        self.counters = Counters()

    def start(self, listener: socket.socket | None = None) -> None:
        self.listener = listener or bind_socket(self.host, self.port, socket.SOCK_STREAM,
                                                MAX_SCRAPES)
        self.address = self.listener.getsockname()
        # The server's own accept rules: a pause, not a spin, when descriptors run out.
        self.acceptor = Acceptor(self.loop, self.listener, self.accept_one, name="metrics",
                                 limit=MAX_SCRAPES)
        self.acceptor.start()

    def accept_one(self, sock: socket.socket, address: Any) -> None:
        if len(self.scrapes) >= MAX_SCRAPES:
            log.warning("metrics: %d scrapes in progress; closing %s", len(self.scrapes),
                        format_address(address))
            sock.close()
            return
        sock.setblocking(False)
        try:
            start_connection(self.loop, sock, format_address(address), self.handler(),
                             SCRAPE_CONFIG, self, self.counters, self.scrapes)
        except FdLimitError:  # select()'s FD_SETSIZE
            sock.close()

    def connect(self, address: Any, handler: Any, **options: Any) -> Any:
        raise RuntimeError("a metrics scrape opens no connection")

    def connection_closed(self, connection: Any) -> None:
        self.scrapes.discard(connection)

    def close(self) -> None:
        if self.acceptor is not None:
            self.acceptor.stop()
            self.acceptor = None
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for connection in list(self.scrapes):
            connection.end("shutdown", now=True, reset=True, reason="metrics endpoint closed")
