"""The server: listening sockets, accepting, the set of connections, shutdown.

`Server(handler_class, config)` binds a TCP listener (and, with `udp`, a
UDP socket on the same port number), accepts clients into `Connection`
objects, each with a fresh handler, and stops in order.

Accepting, and the rules it keeps under load, is evloop.accepting.

Shutdown (`shutdown()`, on SIGINT or SIGTERM): close the listeners, ask every
connection to close (stop reading, flush what is due, FIN), and stop the loop
when the last one is gone or when `drain_timeout` passes, whichever comes
first; connections still open then are reset.  A second `shutdown()` resets
them at once.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from evloop.config import Config
from evloop.accepting import REFUSAL_LOG_INTERVAL
from evloop.accepting import Accepting
from evloop.connection import Connection
from evloop.datagram import DatagramEndpoint
from evloop.handlers.base import Handler
from evloop.loading import handler_problem
from evloop.loop import Loop
from evloop.metrics import Counters
from evloop.metrics import Stats
from evloop.metrics import TurnHistogram
from evloop.metrics import make_stats
from evloop.offload import Offloader
from evloop.sockets import BindError
from evloop.sockets import bind_socket
from evloop.sockets import bind_unix
from evloop.sockets import file_identity
from evloop.sockets import format_address
from evloop.sockets import remove_unix
from evloop.states import CLOSED

log = logging.getLogger("evloop")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_handler(handler: type[Handler], config: Config) -> Callable[[], Handler]:
    """The handler class's factory for `config`; TypeError for a class that
    cannot be a handler, ValueError for options it does not take, UDP it
    cannot serve, or TLS files that do not load."""
    if config.tls:
        from evloop import tls
        tls.make_context(config)
    problem = handler_problem(handler)
    if problem:
        raise TypeError(f"{handler!r} {problem}")
    if config.udp and not handler.supports_udp:
        raise ValueError(f"udp: the {handler.__name__} handler needs a connection and "
                         f"cannot run over UDP")
    declared = handler.options
    for name in config.handler_options:
        if name not in declared:
            takes = f"it takes: {', '.join(declared)}" if declared else "it takes none"
            raise ValueError(f"handler_options: {handler.__name__} has no option {name!r} ({takes})")
    options = {name: declared[name].check(name, value)
               for name, value in config.handler_options.items()}
    return handler.factory(max_message=config.max_message, **options)


class Server(Accepting):
    """Serve one handler class over TCP (and UDP) on one loop.

    Methods for the caller: `start()` (bind and listen; sets `address`, and
    `metrics_address` with `metrics_port`), `serve_forever()` (run until
    stopped), `shutdown()` (stop in order), `close()`, `stats()` (the
    figures of evloop.metrics).  A server is a context manager that closes on exit.
    Class variables: `connection_class`, which evloop.trace replaces.
    `Server(handler, config)` raises TypeError for a class that cannot be a
    handler and ValueError for handler options it does not take.
    """

    connection_class: type[Connection] = Connection

    def __init__(self, handler: type[Handler], config: Config | None = None, *,
                 loop: Loop | None = None) -> None:
        self.config = config if config is not None else Config()
        self.factory = check_handler(handler, self.config)
        self.handler_class = handler
        self.loop = loop if loop is not None else Loop(self.config.selector)
        self._owns_loop = loop is None
        self.offloader = (Offloader(self.loop, self.config.offload, self.config.offload_workers)
                          if self.config.offload != "none" else None)
        self.counters = Counters()  # shared by every connection (evloop.metrics)
        self.datagram_counters = Counters() if self.config.udp else None
        self.turns = TurnHistogram() if self.config.metrics_port is not None else None
        if self.turns is not None:
            self.loop.turn_observer = self.turns.observe
        self.metrics: Any = None  # the MetricsEndpoint (evloop.exposition), once started
        self.metrics_address: Any = None
        self._connection_options: dict[str, Any] = {"counters": self.counters}
        if self.config.tls:
            from evloop import tls
            self._connection_options["tls_context"] = tls.make_context(self.config)
            self.connection_class = tls.TLSConnection
        self.connections: set[Connection] = set()
        self.listener: socket.socket | None = None
        self.datagram: DatagramEndpoint | None = None
        self.address: Any = None
        self.shutting_down = False
        self._unix_file: tuple[int, int] | None = None  # (device, inode) of a socket file we made
        self._accept_pause = 0.0
        self._accepting = False
        self._refused = 0
        self._refusal_logged_at = -REFUSAL_LOG_INTERVAL
        if self.config.trace:
            from evloop import trace
            trace.enable(self.loop, self)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- starting -------------------------------------------------------------

    def start(self, listener: socket.socket | None = None,
              udp_socket: socket.socket | None = None) -> None:
        """Bind and listen (or take sockets bound already); raises OSError."""
        config = self.config
        if listener is None and config.unix is not None:
            listener = bind_unix(config.unix, config.backlog, config.unix_mode)
            self._unix_file = file_identity(config.unix)  # ours to remove at the end
        elif listener is None:
            listener = bind_socket(config.host, config.port, socket.SOCK_STREAM, config.backlog,
                                   reuse_port=config.reuse_port)
        self.listener = listener
        self._accept_shape = (int(listener.family), int(listener.type), listener.proto)
        self.address = listener.getsockname()
        if config.udp:
            try:
                udp_sock = udp_socket or bind_socket(config.host, self.address[1], socket.SOCK_DGRAM,
                                                     reuse_port=config.reuse_port)
            except OSError:
                self._close_listeners()
                raise
            self.datagram = DatagramEndpoint(self.loop, udp_sock, self.factory, format_address,
                                             self.handler_class.__name__, self.datagram_counters,
                                             share=self.handler_class.shared_over_udp)
            self.datagram.start()
        if config.metrics_port is not None:
            self._start_metrics(config.metrics_host, config.metrics_port)
        self._resume_accepting()

    def _start_metrics(self, host: str, port: int) -> None:
        from evloop import exposition
        self.metrics = exposition.MetricsEndpoint(self.loop, host, port,
                                                  lambda: exposition.render(self.stats()))
        try:
            self.metrics.start()
        except OSError as exc:
            self._close_listeners()
            raise BindError(exc, format_address((host, port))) from None
        self.metrics_address = self.metrics.address

    def stats(self) -> Stats:
        """The server's figures now: connections, traffic, errors (evloop.metrics)."""
        return make_stats(self.counters, self.datagram_counters, self.connections,
                          transport="unix" if self.config.unix is not None else "tcp",
                          handler=self.handler_class.__name__,
                          connections_open=len(self.connections),
                          timers_pending=self.loop.statistics().timers, turns=self.turns)

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

    # -- closing --------------------------------------------------------------

    def connection_closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if self.shutting_down and not self.connections:
            self._stop_soon()

    def shutdown(self) -> None:
        """Stop accepting, close every connection in order, then stop the loop."""
        if self.shutting_down:
            log.warning("second stop request: resetting %d connection(s) now",
                        len(self.connections))
            return self._reset_all()
        self.shutting_down = True
        self._close_listeners()
        if self._refused:  # refusals since the last rate-limited report
            log.warning("refused %d more connection(s) since the last report", self._refused)
            self._refused = 0
        log.info("stopping: draining %d connection(s) (--drain-timeout %gs)",
                 len(self.connections), self.config.drain_timeout)
        for connection in list(self.connections):
            connection.begin_close("shutdown")
        if not self.connections:
            return self._stop_soon()
        self.loop.call_later(self.config.drain_timeout, self._drain_expired)

    def _stop_soon(self) -> None:
        # After the connection_lost calls already queued: they run first.
        self.loop.call_soon(self.loop.stop)

    def _drain_expired(self) -> None:
        if self.connections:
            log.warning("--drain-timeout %gs passed: resetting %d connection(s)",
                        self.config.drain_timeout, len(self.connections))
            self._reset_all()

    def _reset_all(self) -> None:
        for connection in list(self.connections):
            connection.abort("reset at shutdown", reset=True, why="shutdown")
        self._stop_soon()

    def _close_listeners(self) -> None:
        if self.listener is not None:
            if self._accepting:
                self.loop.remove_reader(self.listener)
                self._accepting = False
            if self.config.unix is not None:
                remove_unix(self.config.unix, self._unix_file)
            self.listener.close()
            self.listener = None
        if self.datagram is not None:
            self.datagram.close()
            self.datagram = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None

    def close(self) -> None:
        """Release everything: listeners, connections (reset), the pool, the loop."""
        self._close_listeners()
        for connection in list(self.connections):
            connection.abort("server closed", reset=True, why="shutdown")
        if self.offloader is not None:
            self.offloader.close()
            self.offloader = None
        if self._owns_loop:
            self.loop.close()
