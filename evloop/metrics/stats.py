"""What `Server.stats()` returns: one moment's figures, as frozen values.

`Stats` is what a server reports, `Traffic` the bytes and messages of one
transport, `Histogram` the loop's turn durations, `Outbound` the
connections its handlers opened.  They are values, built once by
`evloop.metrics.counters.make_stats` from the running counts, and never
change after: `--metrics-port` renders them (evloop.metrics.prometheus),
tests compare them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Traffic:
    """Bytes and messages in and out of one transport (see the module docstring)."""

    bytes_received: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    messages_sent: int = 0


@dataclasses.dataclass(frozen=True)
class Histogram:
    """Cumulative counts: `buckets` is ((upper bound, observations at or below it), ...)."""

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int


@dataclasses.dataclass(frozen=True)
class Outbound:
    """The connections a server's handlers opened (context.connect)."""

    open: int  # open now, or still connecting
    attempted: int  # connects begun
    failed: Mapping[str, int]  # connects that did not succeed, by CONNECT_FAILURES
    closed: Mapping[str, int]  # ended, by CLOSE_REASONS (connect_failed among them)
    traffic: Traffic


@dataclasses.dataclass(frozen=True)
class Stats:
    """What `Server.stats()` returns: one moment's figures, never changing after."""

    transport: str  # "tcp" or "unix": the stream listener's
    handler: str
    connections_open: int
    connections_accepted: int
    connections_refused: Mapping[str, int]  # by REFUSAL_REASONS
    connections_closed: Mapping[str, int]  # by CLOSE_REASONS
    stream: Traffic
    datagram: Traffic | None  # None without UDP
    protocol_errors: int
    handler_crashes: int
    backpressure_pauses: int
    tls_handshakes: int
    tls_failures: int
    proxy_rejected: int
    timers_pending: int
    turn_seconds: Histogram | None  # None unless metrics are served
    outbound: Outbound = Outbound(0, 0, {}, {}, Traffic())
