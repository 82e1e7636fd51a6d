"""The access log: one line for each client connection, when it has closed.

With `access_log` (`--access-log`), a server writes one line for each
connection its listener accepted, once, as it closes, whatever ended it:
the peer's EOF, a reset, the idle timeout, a protocol error, a handler
that raised, a TLS handshake or PROXY header that failed, the shutdown.
TLS and Unix-socket connections have theirs like TCP ones.  UDP has no
connection, and neither the metrics endpoint's scrapes nor the outbound
connections of handlers are the listener's: none of them is logged.

The line goes to the logger "evloop.access" at INFO: where the other lines
go, unless logging's configuration sends it elsewhere (a handler of its
own, `propagate = False`) or silences it.  It is key=value pairs in a
fixed order, to grep and to split:

    peer=127.0.0.1:51000 duration=0.532s in=120B/3 out=120B/3 reason=peer_eof worker=1

`peer` is the client (the one a PROXY header names); `duration`, from
accept to close; `in` and `out`, bytes and messages each way; `reason`,
why it ended, as the metrics' `reason` label says it
(evloop.metrics.counters.CLOSE_REASONS); `worker`, the --workers slot, or
"-" for a single server.  The same values go into the record (`extra=`) as
peer, duration (seconds), bytes_in, messages_in, bytes_out, messages_out,
reason and worker (None for "-"), for the JSON lines (evloop.settings.logs)
and for any formatter a program brings.

`AccessLog` is an instrument on the server's loop (the hooks of
evloop.connection.instruments): it notes when a connection starts, wraps
its two system calls to count bytes as the handler's side sees them (over
TLS, the plaintext; over a Unix socket, which the kernel does not count
for the metrics, all the same), and writes the line as the connection
enters CLOSED.  Messages are the connection's own counts, as the metrics
define them: a message received is one `data_received` call, a message
sent one reply or push.  Without `access_log` nothing is installed and a
connection pays nothing; with it, each read and write costs one call more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.instruments import ConnectionInstrument
from evloop.connection.states import CLOSED
from evloop.connection.states import Event
from evloop.connection.states import State
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters
from evloop.settings.config import Config
from evloop.settings.logs import current_worker

LOGGER = "evloop.access"
log = logging.getLogger(LOGGER)

LINE = "peer=%s duration=%.3fs in=%dB/%d out=%dB/%d reason=%s worker=%s"

Read = Callable[[int, int], bytes]
Write = Callable[[int, Any], int]


class Visit:
    """One connection's figures while it is open: when it began, the bytes each way."""

    __slots__ = ("started", "bytes_in", "bytes_out")

    def __init__(self, started: float) -> None:
        self.started = started
        self.bytes_in = 0
        self.bytes_out = 0


class AccessLog(ConnectionInstrument):
    """Logs each connection counted in `counters` (the listener's) as it closes."""

    def __init__(self, counters: Counters) -> None:
        # The listener's counters, not its metrics endpoint's nor its outbound
        # connections' (each has its own): counted there, a connection is a client's.
        self.counters = counters
        self.open: dict[Connection, Visit] = {}

    def connection_started(self, connection: Connection) -> None:
        # (One refused inside its start, a descriptor past select()'s FD_SETSIZE,
        # never closes: its Visit stays, as the tracer's lane does.)
        if connection.counters is self.counters:
            self.open[connection] = Visit(connection.loop.time())

    def wrap_io(self, connection: Connection, read: Read, write: Write) -> tuple[Read, Write]:
        visit = self.open.get(connection)
        if visit is None:
            return read, write
        return counted_read(visit, read), counted_write(visit, write)

    def state_changed(self, connection: Connection, old: State, new: State,
                      event: Event) -> None:
        if new is CLOSED:  # before its entry actions: the figures are final, nothing is lost
            visit = self.open.pop(connection, None)
            if visit is not None:
                write_line(connection, visit, connection.loop.time() - visit.started)


def counted_read(visit: Visit, read: Read) -> Read:
    def sys_read(fd: int, size: int) -> bytes:
        data = read(fd, size)
        visit.bytes_in += len(data)
        return data
    return sys_read


def counted_write(visit: Visit, write: Write) -> Write:
    def sys_write(fd: int, data: Any) -> int:
        sent = write(fd, data)
        visit.bytes_out += sent
        return sent
    return sys_write


def write_line(connection: Connection, visit: Visit, seconds: float) -> None:
    """The connection's line, with its values in the record too (see the module docstring)."""
    worker = current_worker()
    reason = connection.ended_by or "error"  # as the metrics count one that gave none
    fields = {"peer": connection.peer, "duration": round(seconds, 6),
              "bytes_in": visit.bytes_in, "messages_in": connection.reads,
              "bytes_out": visit.bytes_out, "messages_out": connection.replies,
              "reason": reason, "worker": worker}
    log.info(LINE, connection.peer, seconds, visit.bytes_in, connection.reads, visit.bytes_out,
             connection.replies, reason, "-" if worker is None else worker, extra=fields)


def install_access_log(loop: BaseLoop, config: Config, counters: Counters) -> AccessLog | None:
    """The access log of the connections counted in `counters`, installed on
    `loop`, if `config.access_log` asks for one; else None, and nothing installed."""
    if not config.access_log:
        return None
    access_log = AccessLog(counters)
    loop.add_instrument(access_log)
    return access_log
