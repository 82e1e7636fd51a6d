"""UDP: one datagram in, one datagram out, on the same loop as TCP.

A datagram is a whole conversation: there is no connection, no stream to
split, no EOF to wait for.  Each datagram gets a fresh handler, and
`handler.datagram_received(data, context)` answers it (by default:
connection_made, data_received, eof_received, connection_lost, in one go).
A handler class that keeps no state between datagrams says so
(`shared_over_udp = True`: echo, uppercase), and one instance answers them
all: a datagram then costs no object at all.  The context is one object,
aimed at each datagram's sender in turn, and is the handler's only during
its call.  The reply goes back to the sender's address in one datagram.
So lenprefix works per datagram, and a datagram holding half a message is
a protocol error.

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

from evloop.connection.read_sizes import DATAGRAM_READ
from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply
from evloop.handlers.context import offload_inline
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters

log = logging.getLogger("evloop")

# Datagrams handled per wake-up before giving the TCP clients their turn.
DATAGRAMS_PER_EVENT = 64


class DatagramContext:
    """The context of one datagram's conversation (see evloop.handlers.context).

    `push` sends one more datagram to the peer; `close`, `abort` and
    `write_eof` only mark the conversation as over (it ends with the answer
    anyway); work is offloaded inline; timers and outbound connections are
    refused, since the conversation is over before any could be used;
    reading and idle timeouts are the endpoint's, not the datagram's.
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

    def write_eof(self) -> None:
        self.closing = True

    def forward_to(self, other: Any) -> None:
        raise TypeError("forward_to() needs a TCP connection: over UDP each datagram is "
                        "answered at once (set supports_udp = False)")

    def pause_reading(self) -> None:
        """A datagram is read whole already: nothing to pause."""

    def resume_reading(self) -> None:
        """See pause_reading."""

    def set_idle_timeout(self, seconds: float | None) -> None:
        """A datagram is never idle."""

    @property
    def server(self) -> None:
        return None

    def time(self) -> float:
        return self.endpoint.loop.time()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        raise RuntimeError("call_later needs a connection: over UDP each datagram is "
                           "answered at once (set supports_udp = False)")

    def call_every(self, interval: float, callback: Callable[..., object], *args: Any) -> Any:
        raise RuntimeError("call_every needs a connection: over UDP each datagram is "
                           "answered at once (set supports_udp = False)")

    def connect(self, address: Any, handler: Any, **options: Any) -> Any:
        raise RuntimeError("connect needs a connection to answer on: over UDP each datagram "
                           "is answered at once (set supports_udp = False)")

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply],
                error: Callable[[Exception], Reply] | None = None) -> Reply:
        """Over UDP the answer goes at once: the call runs here and now."""
        return offload_inline(fn, args, then, error)  # type: ignore[no-any-return]


class DatagramEndpoint:
    """A bound UDP socket answering each datagram through a handler: a fresh one
    each, or one for all when the handler class is `shared_over_udp`."""

    def __init__(self, loop: BaseLoop, sock: socket.socket, factory: Callable[[], Handler],
                 format_peer: Callable[[Any], str], handler_name: str = "?",
                 counters: Counters | None = None, share: bool = False) -> None:
        self.loop = loop
        # One handler for every datagram when its class says it keeps no state
        # (Handler.shared_over_udp), made at the first datagram; else one each.
        self.share = share
        self.shared: Handler | None = None
        # One context, re-aimed at each datagram's sender: it is the handler's
        # only during its call, as the conversation ends with the answer.
        self.context = DatagramContext(self, None)
        self.counters = counters if counters is not None else Counters()
        self.handler_name = handler_name
        self.sock = sock
        self.factory = factory
        self.format_peer = format_peer

    def start(self) -> None:
        self.loop.add_reader(self.sock, self.on_readable)

    def on_readable(self) -> None:
        # The hot path of UDP: one recvfrom, the handler's answer, one sendto.
        # Counted in locals and added to the Counters once a wake-up
        # (evloop.metrics.counters): attribute stores per datagram cost more.
        received = received_bytes = sent = sent_bytes = 0
        recvfrom, sendto, context = self.sock.recvfrom, self.sock.sendto, self.context
        for _ in range(DATAGRAMS_PER_EVENT):
            try:
                data, address = recvfrom(DATAGRAM_READ)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ECONNREFUSED from an earlier ICMP error
                log.debug("udp recvfrom: %s", exc.strerror or exc)
                continue
            received += 1
            received_bytes += len(data)
            context.address = address
            context.closing = False
            reply = self.answer(data, context)
            if reply:
                try:
                    sendto(reply, address)
                except OSError as exc:
                    self._dropped(reply, address, exc)
                    continue
                sent += 1
                sent_bytes += len(reply)
        counters = self.counters
        counters.messages_received += received
        counters.bytes_received += received_bytes
        counters.messages_sent += sent
        counters.bytes_sent += sent_bytes

    def answer(self, data: bytes, context: DatagramContext) -> Reply:
        """The handler's answer to one datagram, or None if it failed."""
        reply = None
        stage = "() (its constructor)"
        try:
            handler = self.shared
            if handler is None:
                handler = self.factory()
                if self.share:
                    self.shared = handler
            stage = ".datagram_received"
            reply = handler.datagram_received(data, context)
            if reply is not None and not isinstance(reply, BYTES_TYPES):
                raise TypeError(f"the answer must be bytes or None, not {type(reply).__name__}")
            return reply
        except ProtocolError as err:
            log.info("udp %s: protocol error: %s", context.peer, err.reason)
            self.counters.protocol_errors += 1
            return err.reply
        except Exception as exc:
            peer = context.peer
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
            self._dropped(reply, address, exc)
            return False
        return True

    def _dropped(self, reply: bytes | bytearray | memoryview, address: Any, exc: OSError) -> None:
        log.debug("udp %s: reply of %d bytes dropped: %s", self.format_peer(address), len(reply),
                  exc.strerror or exc)

    def close(self) -> None:
        self.loop.remove_reader(self.sock)
        self.sock.close()
