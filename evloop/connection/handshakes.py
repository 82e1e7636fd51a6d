"""Before a connection opens: the connect, the PROXY header, the TLS handshake.

A connection's handler starts only once its connection is *open*.  Before
that, up to three steps may stand, each bounded in time and each able to
fail, and none of them the handler's business:

1. CONNECTING, for a connection opened from here (`context.connect`): the
   name lookup and the non-blocking connect() (evloop.connection.dialing),
   within the connect timeout;
2. PROXY_HEADER, behind a proxy (`--proxy-protocol`): the header that names
   the original client is taken off the socket, and nothing more
   (evloop.connection.proxy_protocol), but only from a peer in `--proxy-allow`
   (`proxy_allow`, evloop.settings.config.Networks): any other could claim any
   address, so it is closed before a byte of it is read.  The peer is the
   socket's own, before any header; a Unix socket's has no address and is
   believed, as only the processes the socket file lets in can connect;
3. HANDSHAKING, over TLS: the handshake runs a step at a time, as the bytes
   arrive (evloop.connection.tls).

Steps 2 and 3 share `--handshake-timeout`: one deadline from the accept
(for an outbound connection, from the connect).  `Handshakes` runs all three.
It owns the socket until the last step is done: it holds the loop's reader
(and, while the handshake waits to write, writer) for it, then lets go of
both and hands the socket over.  It knows nothing of handlers or
connections, only its three callbacks: `on_step(event)` as a step begins
(START_TLS, so the connection's state follows), `on_open(event, sock,
peer, header)` once all are done (the socket, the peer's name, which a
PROXY header may have changed, and that header, or None), and
`on_fail(failure)` once, instead, if a step failed or timed out.  A
`Failure` says why in one line and in one word (`why`, the reason the
metrics count).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import NamedTuple

from evloop.connection.dialing import Dialer
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.proxy_protocol import parse_header
from evloop.connection.states import Event
from evloop.connection.tls import TLSFailure
from evloop.connection.tls import TLSSession
from evloop.handlers.addresses import format_address
from evloop.handlers.base import ProtocolError
from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer
from evloop.settings.config import DEFAULT_PROXY_ALLOW
from evloop.settings.config import Networks

log = logging.getLogger("evloop")

LOOPBACK = Networks(DEFAULT_PROXY_ALLOW)  # Config's default `proxy_networks`


class Failure(NamedTuple):
    """Why a connection could not open."""

    reason: str  # one line, for the log
    why: str  # one of evloop.metrics.counters.CLOSE_REASONS: connect_failed, tls_failed, ...
    error: OSError | None = None  # the socket's error, for connection_lost


class Handshakes:
    """The steps before open, for one socket.  `start()`; `cancel()` stops them."""

    def __init__(self, loop: BaseLoop, sock: socket.socket | None, peer: str, *,
                 dialer: Callable[[Handshakes], Dialer] | None = None, proxy_header: bool = False,
                 proxy_allow: Networks = LOOPBACK, tls: TLSSession | None = None,
                 handshake_timeout: float = 10.0,
                 on_step: Callable[[Event], object], on_open: Callable[..., object],
                 on_fail: Callable[[Failure], object]) -> None:
        self.loop = loop
        self.sock = sock
        self.peer = peer
        self.tls = tls
        self.proxy_allow = proxy_allow  # who may send the PROXY header
        self.handshake_timeout = handshake_timeout
        self.on_step = on_step
        self.on_open = on_open
        self.on_fail = on_fail
        self.header: ProxyHeader | None = None  # the PROXY header, once taken
        self.dialer = dialer(self) if dialer is not None else None
        self.proxy_reader = ProxyHeaderReader(sock) if proxy_header and sock is not None else None
        self.fd = -1 if sock is None else sock.fileno()
        self.timer: Timer | None = None
        self.done = False

    def start(self) -> None:
        if self.dialer is not None:
            return self.dialer.start()
        refused = self._proxy_refused() if self.proxy_reader is not None else None
        if refused is not None:
            return self._fail(refused)
        self.timer = self.loop.call_later(self.handshake_timeout, self._timed_out)
        if self.proxy_reader is not None:
            return self._watch(self._read_proxy_header, writing=False)
        self._start_tls(first=True)

    def cancel(self) -> None:
        if self.dialer is not None:
            self.dialer.cancel()
        self._finish()

    # -- 1. connect ------------------------------------------------------------------

    def connected(self, sock: socket.socket) -> None:
        """The dialer's success (its `on_connected`)."""
        self.sock, self.fd = sock, sock.fileno()
        self.dialer = None
        if self.tls is None:
            return self._open(Event.CONNECTED)
        self.timer = self.loop.call_later(self.handshake_timeout, self._timed_out)
        self._start_tls()

    def connect_failed(self, exc: OSError) -> None:
        """The dialer's failure (its `on_failed`)."""
        self.dialer = None
        self._fail(Failure(str(exc), "connect_failed", exc))

    # -- 2. the PROXY header -----------------------------------------------------------

    def _proxy_refused(self) -> Failure | None:
        """Why this peer may not send a PROXY header; None if it may."""
        assert self.sock is not None
        try:
            # The socket's peer, not `peer`, which is a name for the log.  One
            # system call a connection, and only behind a proxy.
            address = self.sock.getpeername()
        except OSError as exc:  # gone already (ENOTCONN)
            return Failure(f"getpeername: {exc.strerror or exc}", "error", exc)
        if not isinstance(address, tuple) or address[0] in self.proxy_allow:
            return None  # a Unix socket's peer (a path, or ""), or an allowed one
        return Failure(f"PROXY protocol: {address[0]} is not in --proxy-allow "
                       f"({self.proxy_allow}); closing", "proxy_rejected")

    def _read_proxy_header(self) -> None:
        assert self.proxy_reader is not None
        try:
            header = self.proxy_reader.read()
        except (BlockingIOError, InterruptedError):
            return
        except ProtocolError as err:
            return self._fail(Failure(f"PROXY protocol: {err.reason}; closing", "proxy_rejected"))
        except OSError as exc:
            return self._fail(Failure(f"recv: {exc.strerror or exc}", "error", exc))
        if header is None:
            return
        proxy = self.peer
        if header.source is not None:
            self.peer = format_address(header.source)
        log.debug("%s: PROXY v%d %s header from %s", self.peer, header.version,
                  header.command, proxy)
        self.header = header
        self.proxy_reader = None
        if self.tls is None:
            return self._open(Event.HEADER)
        self._start_tls()

    # -- 3. TLS ------------------------------------------------------------------------

    def _start_tls(self, first: bool = False) -> None:
        """The handshake begins: as the first step (the state is HANDSHAKING
        already), or after the connect or the PROXY header (START_TLS)."""
        assert self.tls is not None and self.sock is not None
        try:
            self.sock = self.tls.wrap(self.sock)
        except (ValueError, OSError) as exc:  # a server_hostname that cannot be used
            return self._fail(Failure(f"TLS: {exc}", "tls_failed"))
        if not first:
            self.on_step(Event.START_TLS)
        self._tls_step()  # the hello may be there already

    def _tls_step(self) -> None:
        assert self.tls is not None
        try:
            done = self.tls.step()
        except TLSFailure as failure:
            cause = failure.__cause__  # an ssl.SSLError, or the socket's own (a reset)
            error = cause if isinstance(cause, OSError) else ConnectionError(failure.reason)
            return self._fail(Failure(f"TLS handshake failed: {failure.reason}", "tls_failed",
                                      error))
        if done:
            return self._open(Event.HANDSHAKE_DONE)
        self._watch(self._tls_step, writing=self.tls.wants_write)

    # -- the end of opening ---------------------------------------------------------

    def _timed_out(self) -> None:
        self.timer = None
        within = f"within {self.handshake_timeout:g}s (--handshake-timeout)"
        if self.proxy_reader is not None:
            return self._fail(Failure(f"no PROXY protocol header {within}; closing",
                                      "handshake_timeout"))
        self._fail(Failure(f"TLS handshake failed: not done {within}", "handshake_timeout",
                           TimeoutError(f"TLS handshake not done {within}")))

    def _open(self, event: Event) -> None:
        self._finish()
        assert self.sock is not None
        self.on_open(event, self.sock, self.peer, self.header)

    def _fail(self, failure: Failure) -> None:
        if self.done:
            return
        self._finish()
        self.on_fail(failure)

    def _finish(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._watch(None, writing=False)

    def _watch(self, callback: Callable[[], None] | None, writing: bool) -> None:
        """Hold the socket's reader (and writer, if `writing`) for `callback`; None: neither.
        (Removing what the loop does not hold is a no-op there.)"""
        if self.fd < 0:
            return
        if callback is None:
            self.loop.remove_reader(self.fd)
        else:
            self.loop.add_reader(self.fd, callback)
        if callback is not None and writing:
            self.loop.add_writer(self.fd, callback)
        else:
            self.loop.remove_writer(self.fd)


# -- step 2's reader: the PROXY header, off the socket ------------------------------

PEEK_SIZE = 4096  # a v1 header is at most 107 bytes; a v2 one with TLVs may take more peeks


class ProxyHeaderReader:
    """Takes one PROXY header off a socket, and not a byte more.  `read()` on each
    readable event.

    What follows the header is the client's (a TLS hello, the first request),
    and a v1 header's length is known only at its CRLF.  So each read peeks
    (MSG_PEEK) at what arrived, asks the parser about the bytes taken so far
    plus the peek, and then takes exactly the header's bytes: all of the peek
    while the header is incomplete, up to its end once it is whole.
    """

    __slots__ = ("sock", "taken")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.taken = bytearray()  # the header's bytes read so far

    def read(self) -> ProxyHeader | None:
        """The header once whole; None while more is needed (or nothing was
        there: BlockingIOError is the caller's); ProtocolError if it is bad."""
        peeked = self.sock.recv(PEEK_SIZE, socket.MSG_PEEK)
        if not peeked:
            raise ProtocolError("the connection closed before its PROXY protocol header")
        header = parse_header(self.taken + peeked)
        wanted = len(peeked) if header is None else header.length - len(self.taken)
        taken = self.sock.recv(wanted)  # there already: the peek saw them
        self.taken += taken
        return header if header is not None and len(taken) == wanted else None
