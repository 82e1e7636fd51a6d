"""What a connection reads before its handler starts: the PROXY protocol header.

Behind HAProxy with `send-proxy-v2` (or `send-proxy`), every connection
opens with a header naming the original client (evloop.proxyproto).  With
`--proxy-protocol` a connection starts in the state PROXY_HEADER and holds
a `ProxyHeaderReader`: the loop calls the connection's header reader, which
asks this part for the header; the handler is told nothing yet, and the
connection's one timer is the `--handshake-timeout`.  Once the header is
whole, the connection takes the original client's address as its `peer` (a
LOCAL header, HAProxy's health check, keeps the real one), goes OPEN (or on
to the TLS handshake), and only then calls the handler's `connection_made`:
handlers, logs and `--trace` all see the original client.

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
header is there.  This part says so by raising ProtocolError, and lets the
socket's own errors (OSError) through to the connection's error path.
"""

from __future__ import annotations

import socket

from evloop.handlers.base import ProtocolError
from evloop.proxyproto import ProxyHeader
from evloop.proxyproto import parse_header

PEEK_SIZE = 4096  # a v1 header is at most 107 bytes; a v2 one with TLVs may take more peeks


class ProxyHeaderReader:
    """Takes one PROXY header off a socket.  `read()` on each readable event."""

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
