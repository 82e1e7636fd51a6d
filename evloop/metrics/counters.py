"""What a server counts: the running counts, and the histogram of its loop's turns.

A server that runs for weeks must say how it is doing without a debugger:
how many clients it holds, how many it turned away and why, how many bytes
it moved, how often a handler crashed, how long one turn of its loop keeps
every other client waiting.  This module counts; `make_stats` turns the
counts into a `Stats` (evloop.metrics.stats), which `Server.stats()`
returns and `--metrics-port` serves (evloop.metrics.prometheus).

Counting on the hot path
------------------------
Per message, the hot path (`Connection.on_readable`) adds 1 to two
attributes of the connection itself, `reads` and `replies`.  A TCP
connection's bytes are the kernel's own count (TCP_INFO: `kernel_bytes`;
none over a Unix socket), read when the connection closes and when the
page is scraped.  A `Counters` object, one per transport, gets a
connection's figures once, at its end (`connection_ended`); what happens
once per connection or less (a refusal, a crash, a pause, a handshake) is
counted in it where it happens.  Over UDP the counts are kept in locals
and added once a wake-up.  What counting costs:
bench/results/README.md, "Metrics".

A connection ends for one reason, the first one given (`CLOSE_REASONS`):
a client that sends EOF while its idle timeout fires closed the connection
itself, and the timer's later "idle_timeout" is not what ended it.

What "a message" is depends on the transport.  Over UDP it is a datagram.
Over a stream, the framework sees reads and writes, not the handler's
framing: a message received is one `data_received` call (one read, which
may hold several lenprefix messages or half of one), and a message sent is
one reply or `push`.  For ping-pong clients the two are the same.

The loop's turn duration is the time from the wake-up to the end of the
turn's callbacks: how long a slow handler or a burst of clients makes
everyone else wait.  It is measured only while metrics are served
(`TurnHistogram`, an instrument on the loop: evloop.loop.instruments),
since it costs a clock read and a call per turn.
"""

from __future__ import annotations

import bisect
import errno
import socket
import struct
import sys
from collections.abc import Collection
from collections.abc import Iterable
from typing import Any
from typing import Protocol

from evloop.loop.instruments import Instrument
from evloop.metrics.stats import Histogram
from evloop.metrics.stats import Outbound
from evloop.metrics.stats import Stats
from evloop.metrics.stats import Traffic

# Why a connection ended; the first reason given wins.
CLOSE_REASONS = (
    "peer_eof",           # the client closed its side (EOF)
    "error",              # a socket error: reset, broken pipe, ...
    "handler_close",      # the handler called close()
    "handler_abort",      # the handler called abort()
    "handler_error",      # the handler raised or answered something that is not bytes
    "protocol_error",     # the handler raised ProtocolError
    "idle_timeout",       # --idle-timeout
    "handshake_timeout",  # --handshake-timeout (PROXY header or TLS handshake)
    "slow_reader",        # --max-output: the client did not read its replies
    "proxy_rejected",     # --proxy-protocol: no valid PROXY header, or not from --proxy-allow
    "tls_failed",         # the TLS handshake failed
    "connect_failed",     # an outbound connect that did not succeed (CONNECT_FAILURES)
    "shutdown",           # the server stopped
)
# Why an outbound connect (context.connect) failed.
CONNECT_FAILURES = (
    "refused",      # ECONNREFUSED: nothing listens there
    "timeout",      # no answer within the connect timeout
    "unreachable",  # no route to the host or network
    "resolve",      # the name did not resolve
    "other",        # any other socket error
)
_FAILURE_OF_ERRNO = {errno.ECONNREFUSED: "refused", errno.ENOENT: "refused",
                     errno.ETIMEDOUT: "timeout", errno.EHOSTUNREACH: "unreachable",
                     errno.ENETUNREACH: "unreachable"}
# Why a client was turned away at accept.
REFUSAL_REASONS = (
    "full",          # --max-connections reached
    "fd_limit",      # accept() failed: out of file descriptors (the client waits in the backlog)
    "select_limit",  # the descriptor is too high for select() (FD_SETSIZE)
)
# struct tcp_info (linux/tcp.h): where its byte counts are.
# Other systems' TCP_INFO (macOS's, say) is another struct: Linux only.
TCP_INFO: Any = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
TCPI_BYTES_RECEIVED = 128
TCPI_BYTES_SENT = 200  # then tcpi_bytes_retrans
TCP_INFO_SIZE = 216
# The three counts in one unpack, from tcpi_bytes_received: it runs at every close.
BYTE_COUNTS = struct.Struct(f"=Q{TCPI_BYTES_SENT - TCPI_BYTES_RECEIVED - 8}xQQ")
# TCP states (tcpi_state, linux/tcp_states.h) in which the peer's FIN has arrived.
PEER_FIN_ARRIVED = frozenset({6, 8, 9, 11})  # TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING
# Turn durations in seconds: 50 us (a quiet turn) to 1 s (a handler that blocks).
TURN_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 1.0)


class Counters:
    """The running counts of one transport (the stream listener, UDP, outbound).

    The server owns one per transport and hands it to every connection,
    which adds its figures when it ends (`connection_ended`) and counts rare
    events (refusals, crashes, pauses) as they happen.  Attributes only, in
    slots: a count is one attribute load, an add and a store.
    """

    __slots__ = ("bytes_received", "bytes_sent", "messages_received", "messages_sent",
                 "accepted", "refused", "closed", "protocol_errors", "handler_crashes",
                 "backpressure_pauses", "tls_handshakes", "tls_failures", "proxy_rejected",
                 "connect_failures")

    def __init__(self) -> None:
        self.bytes_received = 0
        self.bytes_sent = 0
        self.messages_received = 0
        self.messages_sent = 0
        self.accepted = 0
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self.closed = dict.fromkeys(CLOSE_REASONS, 0)
        self.protocol_errors = 0
        self.handler_crashes = 0
        self.backpressure_pauses = 0
        self.tls_handshakes = 0
        self.tls_failures = 0
        self.proxy_rejected = 0
        self.connect_failures = dict.fromkeys(CONNECT_FAILURES, 0)

    def open_failed(self, why: str, tls: bool, error: OSError | None) -> None:
        """A connection that could not open, by the reason metrics count."""
        if why == "connect_failed":
            if isinstance(error, socket.gaierror):
                reason = "resolve"
            else:
                reason = _FAILURE_OF_ERRNO.get(getattr(error, "errno", None) or 0, "other")
            self.connect_failures[reason] += 1
        elif why == "proxy_rejected":
            self.proxy_rejected += 1
        elif tls and why in ("tls_failed", "handshake_timeout"):
            self.tls_failures += 1

    def connection_ended(self, sock: socket.socket | None, reads: int, replies: int,
                         ended_by: str | None, eof_read: bool = False) -> None:
        """Add a connection's figures, just before its socket closes
        (`eof_read`: the connection read the peer's EOF)."""
        self.messages_received += reads
        self.messages_sent += replies
        received, sent = kernel_bytes(sock, eof_read) if sock is not None else (0, 0)
        self.bytes_received += received
        self.bytes_sent += sent
        self.closed[ended_by or "error"] += 1

    def traffic(self, live: Iterable[LiveConnection] = ()) -> Traffic:
        """The counts so far, with those of the connections still open."""
        traffic = [self.bytes_received, self.bytes_sent, self.messages_received,
                   self.messages_sent]
        for connection in live:
            sock = connection.sock
            received, sent = kernel_bytes(sock) if sock is not None else (0, 0)
            traffic[0] += received
            traffic[1] += sent
            traffic[2] += connection.reads
            traffic[3] += connection.replies
        return Traffic(*traffic)


class LiveConnection(Protocol):
    """What `Counters.traffic` reads of an open connection."""

    sock: socket.socket | None
    reads: int
    replies: int


def kernel_bytes(sock: socket.socket, eof_read: bool = False) -> tuple[int, int]:
    """(received, sent) bytes of a TCP socket's payload, as the kernel counts
    them (TCP_INFO, Linux 4.19+); (0, 0) where there is no such count (a Unix
    socket, another system).

    Sent is tcpi_bytes_sent less tcpi_bytes_retrans: what left once.
    Received is tcpi_bytes_received, which counts in sequence numbers, where
    the peer's FIN takes one: it is taken off if the FIN was read
    (`eof_read`), or if the state says it arrived unread."""
    if TCP_INFO is None:
        return 0, 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, TCP_INFO_SIZE)
    except OSError:  # a Unix socket (EOPNOTSUPP), or closed already
        return 0, 0
    if len(info) < TCP_INFO_SIZE:  # an older kernel
        return 0, 0
    received, sent, retransmitted = BYTE_COUNTS.unpack_from(info, TCPI_BYTES_RECEIVED)
    fin = eof_read or info[0] in PEER_FIN_ARRIVED
    return max(received - fin, 0), sent - retransmitted


class TurnHistogram(Instrument):
    """Turn durations in TURN_BUCKETS: an instrument whose `after_turn` the loop calls."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = TURN_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def after_turn(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def snapshot(self) -> Histogram:
        cumulative = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            running += count
            cumulative.append((bound, running))
        return Histogram(tuple(cumulative), self.total, running)


def make_stats(counters: Counters, datagram: Counters | None, live: Iterable[LiveConnection], *,
               transport: str, handler: str, connections_open: int, timers_pending: int,
               turns: TurnHistogram | None, outbound: Counters | None = None,
               outbound_live: Collection[LiveConnection] = ()) -> Stats:
    """A `Stats` from the running counts (the datagram side and the outbound
    connections add their crashes and errors)."""
    extra = [c for c in (datagram, outbound) if c is not None]
    errors = counters.protocol_errors + sum(c.protocol_errors for c in extra)
    crashes = counters.handler_crashes + sum(c.handler_crashes for c in extra)
    out = outbound or Counters()
    return Stats(
        transport=transport, handler=handler,
        connections_open=connections_open, connections_accepted=counters.accepted,
        connections_refused=dict(counters.refused), connections_closed=dict(counters.closed),
        stream=counters.traffic(live), datagram=datagram.traffic() if datagram else None,
        protocol_errors=errors, handler_crashes=crashes,
        backpressure_pauses=counters.backpressure_pauses,
        tls_handshakes=counters.tls_handshakes, tls_failures=counters.tls_failures,
        proxy_rejected=counters.proxy_rejected, timers_pending=timers_pending,
        turn_seconds=turns.snapshot() if turns is not None else None,
        outbound=Outbound(open=len(outbound_live), attempted=out.accepted,
                          failed=dict(out.connect_failures), closed=dict(out.closed),
                          traffic=out.traffic(outbound_live)))
