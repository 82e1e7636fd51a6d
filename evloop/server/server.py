"""The server: listening sockets, accepting, the connections it holds, shutdown.

`Server(handler_class, config)` binds a TCP listener (and, with `udp`, a
UDP socket on the same port number), accepts clients into connections,
each with a fresh handler, and stops in order.  It is the *owner* of its
connections (evloop.connection.owner): it lends them its offload pool,
opens the outbound connections their handlers ask for (`context.connect`,
counted apart, `direction="out"`), and gives the handler class its
server-wide context (evloop.server.server_context), with `server_started`
once bound and `server_stopping` once stopping.

Accepting, and the rules it keeps under load, is evloop.server.accepting.
An accepted socket's family is its listener's, so a client's address says
it: a Unix client's is a str or bytes (often empty), an IP client's a
tuple; `socket.family` would build an enum each time, twice per connection.

Shutdown (`shutdown()`, on SIGINT or SIGTERM): close the listeners, tell
the handler class (`server_stopping`), ask every connection, inbound and
outbound, to close (stop reading, flush what is due, FIN), and stop the
loop when the last one is gone or when `drain_timeout` passes, whichever
comes first; connections still open then are reset.  A second
`shutdown()` resets them at once.  The metrics endpoint stays open until
the loop stops, so that /readyz can say `draining` to a load balancer.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from collections.abc import Sequence
from collections.abc import Iterable
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.outbound import Lookups
from evloop.connection.outbound import Loop
from evloop.connection.outbound import open_connection
from evloop.connection.starting import start_connection
from evloop.connection.tls import ClientTLS
from evloop.connection.tls import TLSSession
from evloop.connection.tls import make_context
from evloop.handlers.addresses import Address
from evloop.handlers.addresses import format_address
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.loop.backends import FdLimitError
from evloop.loop.offload import Offloader
from evloop.metrics.counters import Counters
from evloop.metrics.counters import TurnHistogram
from evloop.metrics.counters import make_stats
from evloop.metrics.prometheus import render
from evloop.metrics.stats import Stats
from evloop.server import listening
from evloop.server.accepting import Acceptor
from evloop.server.accepting import Refusals
from evloop.server.access_log import install_access_log
from evloop.server.loading import check_handler
from evloop.server.loading import handler_options
from evloop.server.metrics_endpoint import MetricsEndpoint
from evloop.server.server_context import ServerWideContext
from evloop.server.sockets import BindError
from evloop.server.sockets import unix_peer
from evloop.server.udp import DatagramEndpoint
from evloop.settings.config import Config

log = logging.getLogger("evloop")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Server:
    """Serve one handler class over TCP (and UDP) on one loop.

    Methods for the caller: `start()` (bind and listen; sets `address`, and
    `metrics_address` with `metrics_port`), `serve_forever()` (run until
    stopped), `shutdown()` (stop in order; a second call resets),
    `retire(grace)` (a reload's old worker), `close()`, `stats()` (a
    `Stats`, evloop.metrics.stats), `readiness` (a word, for /readyz).  A
    server is a context manager that closes on exit.  For its connections,
    as their owner (evloop.connection.owner): `connect`,
    `connection_closed`; `accept_one` is its acceptor's callback.
    `Server(handler, config)` raises TypeError for a class that cannot be a
    handler and ValueError for handler options it does not take.
    """

    def __init__(self, handler: type[Handler], config: Config | None = None, *,
                 loop: Loop | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config if config is not None else Config()
        self.factory = check_handler(handler, self.config)
        self.handler_class = handler
        self.loop = loop if loop is not None else Loop(self.config.selector)
        self._owns_loop = loop is None
        self.offloader = (Offloader(self.loop, self.config.offload, self.config.offload_workers)
                          if self.config.offload != "none" else None)
        self.resolve = Lookups(self.loop, self.offloader)
        self.counters = Counters()  # shared by every connection (evloop.metrics.counters)
        self.outbound_counters = Counters()
        self.datagram_counters = Counters() if self.config.udp else None
        self.turns = TurnHistogram() if self.config.metrics_port is not None else None
        if self.turns is not None:
            self.loop.add_instrument(self.turns)
        self.access_log = install_access_log(self.loop, self.config, self.counters)  # or None
        self.metrics: MetricsEndpoint | None = None  # once started
        self.metrics_address: Any = None  # and where it listens
        # Given by evloop.supervisor.run, which loads the files once for every worker.
        self.tls_context = tls_context or (make_context(self.config) if self.config.tls else None)
        self.connections: set[Connection] = set()
        self.outbound: set[Connection] = set()
        options = {name: None for name in handler.options}  # None: no value, no default
        options.update(handler_options(handler, self.config))
        self.server_context = ServerWideContext(self.loop, handler.__name__, self.connections,
                                         self.connect, self.offloader, options)
        self.listener: socket.socket | None = None
        self.acceptor: Acceptor | None = None
        self.refusals = Refusals(self.counters, handler.busy_message)
        self.datagram: DatagramEndpoint | None = None
        self.address: Any = None
        self.shutting_down = False
        self.retiring = False  # retire(): accepting no more, ending when the last one leaves
        self._bound: listening.Listeners | None = None  # the sockets start() bound itself
        self.tracing: Any = None  # evloop.trace.Steps, with --trace or --trace-file
        if self.config.trace or self.config.trace_file:
            from evloop import trace
            self.tracing = trace.enable(self.loop, self)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- starting -------------------------------------------------------------

    def start(self, listener: socket.socket | None = None,
              udp_socket: socket.socket | None = None,
              metrics_listener: socket.socket | None = None) -> None:
        """Bind and listen (or take sockets bound already: evloop.server.listening); raises OSError."""
        config = self.config
        if listener is None:  # ours: closed, and a Unix socket file removed, at the end
            self._bound = listening.bind(config)
            listener, udp_socket = self._bound.stream, self._bound.udp
        self.listener = listener
        self.address = listener.getsockname()
        if config.udp:
            if udp_socket is None:
                self._close_listeners()
                raise ValueError("udp is set, but no UDP socket was given with the listener")
            self.datagram = DatagramEndpoint(self.loop, udp_socket, self.factory, format_address,
                                             self.handler_class.__name__, self.datagram_counters,
                                             share=self.handler_class.shared_over_udp)
            self.datagram.start()
        if config.metrics_port is not None:
            self._start_metrics(config.metrics_host, config.metrics_port, metrics_listener)
        self.acceptor = Acceptor(self.loop, listener, self.accept_one,
                                 on_fd_limit=self._out_of_fds,
                                 describe=lambda: f" with {len(self.connections)} connections open")
        self.server_context.run_hook("server_started", self.handler_class.server_started)
        self.acceptor.start()

    def _start_metrics(self, host: str, port: int, listener: socket.socket | None) -> None:
        self.metrics = MetricsEndpoint(self.loop, host, port, lambda: render(self.stats()),
                                       lambda: self.readiness)
        try:
            self.metrics.start(listener)
        except OSError as exc:
            self._close_listeners()
            raise BindError(exc, format_address((host, port))) from None
        self.metrics_address = self.metrics.address

    def stats(self) -> Stats:
        """The server's figures now: connections, traffic, errors (evloop.metrics.stats)."""
        return make_stats(self.counters, self.datagram_counters, self.connections,
                          transport="unix" if self.config.unix is not None else "tcp",
                          handler=self.handler_class.__name__, turns=self.turns,
                          connections_open=len(self.connections), outbound_live=self.outbound,
                          timers_pending=self.loop.statistics().timers,
                          outbound=self.outbound_counters)

    @property
    def readiness(self) -> str:
        """"ready" while it accepts clients; else why not: "starting", "retiring"
        (`retire()`), "draining" (`shutdown()`), or "stopped" (closed)."""
        if self.shutting_down or self.retiring:
            return "draining" if self.shutting_down else "retiring"
        if self.acceptor is not None:
            return "ready"
        return "starting" if self.address is None else "stopped"

    def serve_forever(self, signals: Iterable[int] = STOP_SIGNALS,
                      ready: Callable[[], object] | None = None) -> None:
        """Start if need be, run until `shutdown()` has drained, then close.

        From the main thread, `signals` (SIGINT and SIGTERM) call `shutdown()`;
        `ready()` is called once they do, before the first turn of the loop.
        """
        if self.address is None:
            self.start()
        if threading.current_thread() is threading.main_thread():
            for signum in signals:
                self.loop.add_signal_handler(signum, lambda signum: self.shutdown())
        try:
            if ready is not None:
                ready()
            self.loop.run()
        finally:
            self.close()

    # -- accepting, and the connections' owner (evloop.connection.owner) --------------------

    def accept_one(self, sock: socket.socket, address: Any) -> None:
        unix = isinstance(address, (str, bytes))  # the listener's family (see the essay)
        peer = unix_peer(sock) if unix else format_address(address)
        if len(self.connections) >= self.config.max_connections:
            return self.refusals.refuse(sock, peer, f"--max-connections "
                                        f"{self.config.max_connections} reached", "full")
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
        tls = None if self.tls_context is None else TLSSession(self.tls_context, server_side=True)
        try:
            start_connection(self.loop, sock, peer, handler, self.config, self, self.counters,
                             self.connections, tls=tls, proxy_header=self.config.proxy_protocol)
        except FdLimitError as exc:
            return self.refusals.refuse(sock, peer, str(exc), "select_limit")
        self.counters.accepted += 1
        if log.isEnabledFor(logging.DEBUG):  # a frame fewer per connection when it is not
            log.debug("%s: connected (%d open)", peer, len(self.connections))

    def connect(self, address: Address | Sequence[Address], handler: Handler, *,
                tls: ClientTLS = None, server_hostname: str | None = None,
                timeout: float = 10.0, round_robin: bool = False) -> Context:
        """An outbound connection for a handler (or the server-wide context)."""
        context = open_connection(self.loop, self, address, handler, config=self.config,
                                  counters=self.outbound_counters, resolve=self.resolve,
                                  tracked=self.outbound, tls=tls,
                                  server_hostname=server_hostname, timeout=timeout,
                                  round_robin=round_robin)
        if self.shutting_down:  # nothing new now: it ends as it starts
            context.connection.end("shutdown", now=True, reason="the server is stopping",
                                   error=ConnectionAbortedError("the server is stopping"))
        return context

    def connection_closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.outbound.discard(connection)
        if self.retiring and not self.shutting_down and not self.connections:
            return self.shutdown()
        if self.shutting_down and not self.connections and not self.outbound:
            self._stop_soon()

    def _out_of_fds(self) -> None:
        self.counters.refused["fd_limit"] += 1

    # -- closing --------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting, close every connection in order, then stop the loop."""
        if self.shutting_down:
            log.warning("second stop request: resetting %d connection(s) now",
                        len(self.connections) + len(self.outbound))
            return self._reset_all()
        self.shutting_down = True
        self._close_listeners(but_metrics=True)  # open till the loop stops: /readyz says so
        self.refusals.flush()
        self.server_context.stopping_because("shutdown", self.handler_class.server_stopping)
        self.server_context.stop()
        log.info("stopping: draining %d connection(s) (--drain-timeout %gs)",
                 len(self.connections), self.config.drain_timeout)
        for connection in [*self.connections, *self.outbound]:
            connection.end("shutdown")
        if not self.connections and not self.outbound:
            return self._stop_soon()
        self.loop.call_later(self.config.drain_timeout, self._drain_expired)

    def retire(self, grace: float, leave_metrics: bool = False) -> None:
        """A reload's old worker: accept no more; shut down once idle, or after `grace`.
        `leave_metrics`: stop answering scrapes too, for a successor on the same port."""
        if self.shutting_down or self.retiring:
            return
        self.retiring = True
        self._stop_accepting()  # this process's copy of the listener: the supervisor keeps it
        if leave_metrics and self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        log.info("retiring: no new connections; serving %d until they close "
                 "(--reload-grace %gs)", len(self.connections), grace)
        # Told now, not once the grace is out: clients told to reconnect let it end sooner.
        self.server_context.stopping_because("retire", self.handler_class.server_stopping)
        if not self.connections:
            return self.shutdown()
        self.loop.call_later(grace, lambda: None if self.shutting_down else self.shutdown())

    def _stop_soon(self) -> None:
        # After the connection_lost calls already queued: they run first.
        self.loop.call_soon(self.loop.stop)

    def _drain_expired(self) -> None:
        if self.connections or self.outbound:
            log.warning("--drain-timeout %gs passed: resetting %d connection(s)",
                        self.config.drain_timeout, len(self.connections) + len(self.outbound))
            self._reset_all()

    def _reset_all(self) -> None:
        for connection in [*self.connections, *self.outbound]:
            connection.end("shutdown", now=True, reset=True, reason="reset at shutdown")
        self._stop_soon()

    def _stop_accepting(self) -> None:
        if self.acceptor is not None:
            self.acceptor.stop()
            self.acceptor = None
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def _close_listeners(self, but_metrics: bool = False) -> None:
        self._stop_accepting()
        if self._bound is not None:
            self._bound.close()
            self._bound = None
        if self.datagram is not None:
            self.datagram.close()
            self.datagram = None
        if self.metrics is not None and not but_metrics:
            self.metrics.close()
            self.metrics = None

    def close(self) -> None:
        """Release everything: listeners, connections (reset), the pool, the loop."""
        self._close_listeners()
        self.server_context.stop()
        for connection in [*self.connections, *self.outbound]:
            connection.end("shutdown", now=True, reset=True, reason="server closed")
        self.resolve.close()
        if self.offloader is not None:
            self.offloader.close()
            self.offloader = None
        self.tracing = self.tracing and self.tracing.finish()  # write --trace-file: once
        if self._owns_loop:
            self.loop.close()
