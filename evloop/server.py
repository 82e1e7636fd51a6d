"""The server: listening sockets, accepting, the set of connections, shutdown.

`Server` binds a TCP listener (and, with `udp=True`, a UDP socket on the same
port number), accepts clients into `Connection` objects, and stops in order.
It knows handlers only as a factory: a zero-argument callable returning a
fresh handler.

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

Shutdown (`shutdown()`, on SIGINT or SIGTERM): close the listeners, ask every
connection to close (stop reading, flush what is due, FIN), and stop the loop
when the last one is gone or when `drain_timeout` passes, whichever comes
first; connections still open then are reset.  A second `shutdown()` resets
them at once.
"""

import errno
import logging
import socket
import time

from evloop.connection import CLOSED
from evloop.connection import Connection
from evloop.datagram import DatagramEndpoint
from evloop.limits import DEFAULT_DRAIN_TIMEOUT
from evloop.limits import DEFAULT_MAX_CONNECTIONS
from evloop.limits import Limits
from evloop.selecting import FdLimitError

log = logging.getLogger("evloop")

ACCEPTS_PER_EVENT = 1000
ACCEPT_PAUSE_MIN = 0.05
ACCEPT_PAUSE_MAX = 1.0
REFUSAL_LOG_INTERVAL = 5.0
OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def format_address(address):
    """("127.0.0.1", 80) -> "127.0.0.1:80"; IPv6 hosts get brackets."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_socket(host, port, kind, backlog=128, reuse_port=False, listen=True):
    """A bound (and for TCP, listening) non-blocking socket; raises OSError.

    `reuse_port` sets SO_REUSEPORT, so that several processes (--workers)
    can each bind the same port and the kernel spreads clients among them.
    """
    family, _, _, _, address = socket.getaddrinfo(host, port, type=kind)[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Rebinding at once after a restart, while old connections sit in
            # TIME_WAIT: the labs' SO_REUSEADDR lesson.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM and listen:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Server:
    """Serve one handler over TCP (and UDP) on one loop.

    Call `start()`, then run the loop; `shutdown()` stops it in order.
    `connection_class` may be replaced (evloop.trace does, for --trace).
    """

    connection_class = Connection

    def __init__(self, loop, handler_factory, host="127.0.0.1", port=0, backlog=128,
                 udp=False, limits=None, max_connections=DEFAULT_MAX_CONNECTIONS,
                 drain_timeout=DEFAULT_DRAIN_TIMEOUT,
                 busy_message=b"", reuse_port=False, listener=None, udp_socket=None,
                 offloader=None):
        self.loop = loop
        self.handler_factory = handler_factory
        self.host = host
        self.port = port
        self.backlog = backlog
        self.udp = udp
        self.limits = limits or Limits()
        self.max_connections = max_connections
        self.drain_timeout = drain_timeout
        self.busy_message = busy_message
        self.reuse_port = reuse_port
        self.offloader = offloader  # a pool for handlers' offload() (--offload)
        self.connections = set()
        # Sockets inherited from a parent (--workers without SO_REUSEPORT).
        self.listener = listener
        self._udp_socket = udp_socket
        self.datagram = None
        self.address = None
        self.shutting_down = False
        self._accept_pause = 0.0
        self._accepting = False
        self._refused = 0
        self._refusal_logged_at = -REFUSAL_LOG_INTERVAL

    # -- starting -------------------------------------------------------------

    def start(self):
        """Bind and listen; sets `self.address`.  Raises OSError on failure."""
        if self.listener is None:
            self.listener = bind_socket(self.host, self.port, socket.SOCK_STREAM, self.backlog,
                                        reuse_port=self.reuse_port)
        self.address = self.listener.getsockname()
        if self.udp:
            try:
                udp_sock = self._udp_socket or bind_socket(self.host, self.address[1], socket.SOCK_DGRAM,
                                                           reuse_port=self.reuse_port)
            except OSError:
                self.listener.close()
                raise
            self.datagram = DatagramEndpoint(self.loop, udp_sock, self.handler_factory)
            self.datagram.start()
        self._resume_accepting()

    # -- accepting ------------------------------------------------------------

    def on_acceptable(self):
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

    def accept_one(self, sock, address):
        peer = format_address(address)
        if len(self.connections) >= self.max_connections:
            return self._refuse(sock, peer, f"--max-connections {self.max_connections} reached")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self.connection_class(self.loop, sock, peer, self.handler_factory(),
                                           self.limits, self.connection_closed, self.offloader)
        try:
            connection.start()
        except FdLimitError as exc:
            return self._refuse(sock, peer, str(exc))
        if connection.state is not CLOSED:
            self.connections.add(connection)
        log.debug("%s: connected (%d open)", peer, len(self.connections))

    def _refuse(self, sock, peer, reason):
        try:
            sock.setblocking(False)
            if self.busy_message:
                sock.send(self.busy_message)
        except OSError:
            pass
        sock.close()
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning("refused %d connection(s), latest %s: %s", self._refused, peer, reason)
            self._refused = 0
            self._refusal_logged_at = now

    def _pause_accepting(self, exc):
        if not self._accept_pause:
            log.warning("out of file descriptors (%s) with %d connections open: "
                        "pausing accept until some close", exc.strerror, len(self.connections))
        self._accept_pause = min(max(self._accept_pause * 2, ACCEPT_PAUSE_MIN), ACCEPT_PAUSE_MAX)
        self.loop.remove_reader(self.listener)
        self._accepting = False
        self.loop.call_later(self._accept_pause, self._resume_accepting)

    def _resume_accepting(self):
        if self.listener is not None and not self._accepting:
            self.loop.add_reader(self.listener, self.on_acceptable)
            self._accepting = True

    # -- closing --------------------------------------------------------------

    def connection_closed(self, connection):
        self.connections.discard(connection)
        if self.shutting_down and not self.connections:
            self.loop.stop()

    def shutdown(self):
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
                 len(self.connections), self.drain_timeout)
        for connection in list(self.connections):
            connection.close()
        if not self.connections:
            return self.loop.stop()
        self.loop.call_later(self.drain_timeout, self._drain_expired)

    def _drain_expired(self):
        if self.connections:
            log.warning("--drain-timeout %gs passed: resetting %d connection(s)",
                        self.drain_timeout, len(self.connections))
            self._reset_all()

    def _reset_all(self):
        for connection in list(self.connections):
            connection.abort("reset at shutdown", reset=True)
        self.loop.stop()

    def _close_listeners(self):
        if self.listener is not None:
            if self._accepting:
                self.loop.remove_reader(self.listener)
                self._accepting = False
            self.listener.close()
            self.listener = None
        if self.datagram is not None:
            self.datagram.close()
            self.datagram = None
