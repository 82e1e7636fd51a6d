"""The server: listening sockets, accepting, the set of connections, shutdown.

`Server(handler_class, config)` binds a TCP listener (and, with `udp`, a
UDP socket on the same port number), accepts clients into `Connection`
objects, each with a fresh handler, and stops in order.

Accepting is where a server meets load it did not ask for, so each rule here
answers a failure seen in real servers:

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

Shutdown (`shutdown()`, on SIGINT or SIGTERM): close the listeners, ask every
connection to close (stop reading, flush what is due, FIN), and stop the loop
when the last one is gone or when `drain_timeout` passes, whichever comes
first; connections still open then are reset.  A second `shutdown()` resets
them at once.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from evloop.backends import FdLimitError
from evloop.config import Config
from evloop.connection import Connection
from evloop.datagram import DatagramEndpoint
from evloop.handlers.base import Handler
from evloop.loading import handler_problem
from evloop.loop import Loop
from evloop.offload import Offloader
from evloop.sockets import bind_socket
from evloop.sockets import bind_unix
from evloop.sockets import file_identity
from evloop.sockets import format_address
from evloop.sockets import remove_unix
from evloop.sockets import unix_peer
from evloop.states import CLOSED

log = logging.getLogger("evloop")

ACCEPTS_PER_EVENT = 1000
ACCEPT_PAUSE_MIN = 0.05
ACCEPT_PAUSE_MAX = 1.0
REFUSAL_LOG_INTERVAL = 5.0
OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
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


class Server:
    """Serve one handler class over TCP (and UDP) on one loop.

    Methods for the caller: `start()` (bind and listen; sets `address`),
    `serve_forever()` (run until stopped), `shutdown()` (stop in order),
    `close()`.  A server is a context manager that closes on exit.
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
        self._connection_options: dict[str, Any] = {}
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
        self.address = listener.getsockname()
        if config.udp:
            try:
                udp_sock = udp_socket or bind_socket(config.host, self.address[1], socket.SOCK_DGRAM,
                                                     reuse_port=config.reuse_port)
            except OSError:
                self._close_listeners()
                raise
            self.datagram = DatagramEndpoint(self.loop, udp_sock, self.factory, format_address,
                                             self.handler_class.__name__)
            self.datagram.start()
        self._resume_accepting()

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

    # -- accepting ------------------------------------------------------------

    def on_acceptable(self) -> None:
        assert self.listener is not None
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in OUT_OF_FDS:
                    self._pause_accepting(exc)
                    break
                # ECONNABORTED, EPROTO...: that client is gone, the next may not be.
                log.debug("accept: %s", exc.strerror or exc)
                continue
            if self._accept_pause:
                log.warning("file descriptors available again: accepting (%d connections)",
                            len(self.connections))
                self._accept_pause = 0.0
            self.accept_one(sock, address)

    def accept_one(self, sock: socket.socket, address: Any) -> None:
        peer = unix_peer(sock) if sock.family == socket.AF_UNIX else format_address(address)
        if len(self.connections) >= self.config.max_connections:
            return self._refuse(sock, peer, f"--max-connections {self.config.max_connections} reached")
        sock.setblocking(False)
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            handler = self.factory()
        except Exception as exc:
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
            return self._refuse(sock, peer, str(exc))
        if connection.state is not CLOSED:
            self.connections.add(connection)
        log.debug("%s: connected (%d open)", peer, len(self.connections))

    def _refuse(self, sock: socket.socket, peer: str, reason: str) -> None:
        try:
            sock.setblocking(False)
            busy = self.handler_class.busy_message
            if busy:
                sock.send(busy)
        except OSError:
            pass
        sock.close()
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
            connection.begin_close()
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
            connection.abort("reset at shutdown", reset=True)
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

    def close(self) -> None:
        """Release everything: listeners, connections (reset), the pool, the loop."""
        self._close_listeners()
        for connection in list(self.connections):
            connection.abort("server closed", reset=True)
        if self.offloader is not None:
            self.offloader.close()
            self.offloader = None
        if self._owns_loop:
            self.loop.close()
