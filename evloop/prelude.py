"""What a connection reads before its handler starts: the PROXY protocol header.

Behind HAProxy with `send-proxy-v2` (or `send-proxy`), every connection
opens with a header naming the original client (evloop.proxyproto).  With
`--proxy-protocol` a connection starts in the state PROXY_HEADER: the loop
holds `_read_proxy_header` as its reader, the handler is not told anything
yet, and the connection's one timer is the `--handshake-timeout`.  Once the
header is whole, the connection takes the original client's address as its
`peer` (a LOCAL header, HAProxy's health check, keeps the real one), goes
OPEN, and only then calls the handler's `connection_made`: handlers, logs
and `--trace` all see the original client.

Reading exactly the header
--------------------------
The bytes after the header are the client's, and later (with TLS) a TLS
library's, so the header must be taken off the socket and nothing more.  A
v1 header's length is known only at its CRLF.  So each wake-up *peeks*
(`recv(MSG_PEEK)`) at what has arrived, asks the parser about what was
taken so far plus the peek, and then reads for real exactly the bytes that
belong to the header: all of the peek while the header is incomplete (the
parser said "need more", so every one of them is header), or up to its end
once it is whole.  The rest stays in the kernel for the next reader.  Two
system calls a wake-up, for one header per connection.

A connection that sends no valid header is closed with one log line naming
the proxy's address and the reason; the spec forbids guessing whether a
header is there.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

from evloop.handlers.base import ProtocolError
from evloop.handling import ConnectionContext
from evloop.proxyproto import ProxyHeader
from evloop.proxyproto import parse_header
from evloop.sockets import format_address

if TYPE_CHECKING:
    from evloop.states import State

log = logging.getLogger("evloop")

PEEK_SIZE = 4096  # a v1 header is at most 107 bytes; a v2 one with TLVs may take more peeks


class ConnectionPrelude(ConnectionContext):
    """The steps before the handler's first call (a base class of Connection)."""

    # The header's bytes read so far while in PROXY_HEADER; None once the
    # handler has been started, which is also how the connection knows that
    # connection_lost is due at the end.
    __slots__ = ("prelude",)
    prelude: bytearray | None

    if TYPE_CHECKING:  # what this class uses of Connection
        sock: socket.socket
        state: State

        def _open(self) -> None: ...

    def _read_proxy_header(self) -> None:
        """The reader in PROXY_HEADER: take the header off the socket, and no more."""
        assert self.prelude is not None
        try:
            peeked = self.sock.recv(PEEK_SIZE, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not peeked:
            return self._refuse_header("the connection closed before its PROXY protocol header")
        try:
            header = parse_header(self.prelude + peeked)
        except ProtocolError as err:
            return self._refuse_header(err.reason)
        wanted = len(peeked) if header is None else header.length - len(self.prelude)
        try:
            taken = self.sock.recv(wanted)  # there already: the peek saw them
        except OSError as exc:
            return self._lost(exc, "recv")
        self.prelude += taken
        if header is not None and len(taken) == wanted:
            self._accept_header(header)

    def _accept_header(self, header: ProxyHeader) -> None:
        proxy = self.peer
        if header.source is not None:
            self.peer = format_address(header.source)
        log.debug("%s: PROXY v%d %s header from %s", self.peer, header.version,
                  header.command, proxy)
        self._after_header()

    def _after_header(self) -> None:
        """The header is whole: the handler starts (over TLS: the handshake, first)."""
        self._transition("header")
        self._open()

    def _refuse_header(self, reason: str) -> None:
        self.counters.proxy_rejected += 1
        self.abort(f"PROXY protocol: {reason}; closing", level=logging.INFO, why="proxy_rejected")

    def _on_handshake_timer(self) -> None:
        """--handshake-timeout passed before the handler could start."""
        self.timer = None
        self.abort(f"no PROXY protocol header within {self.config.handshake_timeout:g}s "
                   f"(--handshake-timeout); closing", level=logging.INFO,
                   why="handshake_timeout")
