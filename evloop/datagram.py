"""UDP: one datagram in, one datagram out, on the same loop as TCP.

A datagram is a whole conversation: there is no connection, no stream to
split, no EOF to wait for.  Each datagram gets a fresh handler and a
`DatagramContext`, and `handler.datagram_received(data, context)` answers
it (by default: connection_made, data_received, eof_received,
connection_lost, in one go).  The reply goes back to the sender's address
in one datagram.  So lenprefix works per datagram, and a datagram holding
half a message is a protocol error.

UDP may drop datagrams, and so may we: a reply the kernel will not take
right now (a full send buffer) is dropped and logged at debug, never queued,
because a UDP client must cope with loss anyway and a queue would be
unbounded.  A handler that raises, answers something other than bytes, or
cannot even be constructed costs only its datagram.  Handlers that need a
connection (chat) say `supports_udp = False` and the server refuses to
start them over UDP.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply
from evloop.loop import Loop
from evloop.metrics import Counters

log = logging.getLogger("evloop")

# The largest UDP payload over IPv4 is 65,507 bytes; read the maximum.
MAX_DATAGRAM = 65535
# Datagrams handled per wake-up before giving the TCP clients their turn.
DATAGRAMS_PER_EVENT = 64


class DatagramContext:
    """The context of one datagram's conversation (see evloop.handlers.context).

    `push` sends one more datagram to the peer; `close` and `abort` only
    mark the conversation as over (it ends with the answer anyway); work is
    offloaded inline; timers are refused, since the conversation is over
    before any could fire.
    """

    __slots__ = ("endpoint", "address", "closing")

    def __init__(self, endpoint: DatagramEndpoint, address: Any) -> None:
        self.endpoint = endpoint
        self.address = address
        self.closing = False

    @property
    def peer(self) -> str:
        return self.endpoint.format_peer(self.address)

    @property
    def peer_subject(self) -> str | None:
        return None  # no TLS over UDP

    def push(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, BYTES_TYPES):
            raise TypeError(f"push() takes bytes, not {type(data).__name__}")
        if self.endpoint.send(data, self.address):
            self.endpoint.counters.messages_sent += 1
            self.endpoint.counters.bytes_sent += len(data)

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        raise RuntimeError("call_later needs a connection: over UDP each datagram is "
                           "answered at once (set supports_udp = False)")

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply]) -> Reply:
        return then(fn(*args))


class DatagramEndpoint:
    """A bound UDP socket answering each datagram through a fresh handler."""

    def __init__(self, loop: Loop, sock: socket.socket, factory: Callable[[], Handler],
                 format_peer: Callable[[Any], str], handler_name: str = "?",
                 counters: Counters | None = None) -> None:
        self.loop = loop
        self.counters = counters if counters is not None else Counters()
        self.handler_name = handler_name
        self.sock = sock
        self.factory = factory
        self.format_peer = format_peer

    def start(self) -> None:
        self.loop.add_reader(self.sock, self.on_readable)

    def on_readable(self) -> None:
        # Counted in locals and added once a wake-up (evloop.metrics): a datagram's
        # four counts then cost four local adds, not four attribute updates.
        received = received_bytes = sent = sent_bytes = 0
        for _ in range(DATAGRAMS_PER_EVENT):
            try:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ECONNREFUSED from an earlier ICMP error
                log.debug("udp recvfrom: %s", exc.strerror or exc)
                continue
            received += 1
            received_bytes += len(data)
            reply = self.answer(data, address)
            if reply and self.send(reply, address):
                sent += 1
                sent_bytes += len(reply)
        counters = self.counters
        counters.messages_received += received
        counters.bytes_received += received_bytes
        counters.messages_sent += sent
        counters.bytes_sent += sent_bytes

    def answer(self, data: bytes, address: Any) -> Reply:
        """The handler's answer to one datagram, or None if it failed."""
        reply = None
        stage = "() (its constructor)"
        try:
            handler = self.factory()
            stage = ".datagram_received"
            reply = handler.datagram_received(data, DatagramContext(self, address))
            if reply is not None and not isinstance(reply, BYTES_TYPES):
                raise TypeError(f"the answer must be bytes or None, not {type(reply).__name__}")
            return reply
        except ProtocolError as err:
            log.info("udp %s: protocol error: %s", self.format_peer(address), err.reason)
            self.counters.protocol_errors += 1
            return err.reply
        except Exception as exc:
            peer = self.format_peer(address)
            self.counters.handler_crashes += 1
            what = (f"returned {type(reply).__name__}, not bytes" if reply is not None
                    else "raised")
            self.loop.call_exception_handler({
                "message": f"udp {peer}: handler {self.handler_name}{stage} {what}; "
                           f"datagram dropped",
                "exception": exc, "peer": peer})
            return None

    def send(self, reply: bytes | bytearray | memoryview, address: Any) -> bool:
        """Send one datagram; False if it was dropped."""
        try:
            self.sock.sendto(reply, address)
        except OSError as exc:
            log.debug("udp %s: reply of %d bytes dropped: %s", self.format_peer(address), len(reply),
                      exc.strerror or exc)
            return False
        return True

    def close(self) -> None:
        self.loop.remove_reader(self.sock)
        self.sock.close()
