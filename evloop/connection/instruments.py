"""The hooks a connection calls, beside the loop's own: an instrument's view of connections.

A connection is not the loop's business (the loop knows no connection), so
its moments are named here, as the methods of `ConnectionInstrument`, an
`Instrument` (evloop.loop.instruments) with six more hooks.  A connection
finds them on its loop (`loop.instruments`) and calls only those an
installed instrument overrides, at these points:

* `connection_started(connection)`: as it starts, accepted or connecting;
* `wrap_handler(connection, handler)`: then, the handler it serves,
  returning the one to use (a tracer's proxy that reports each call);
* `wrap_io(connection, read, write)`: whenever its two system calls are
  chosen (at the start, for TLS, for the lingering close), returning the
  pair to use: a tracer wraps them, so the untraced hot path has no test;
* `state_changed(connection, old, new, event)`: at every transition, after
  the state changed and before the new state's entry actions;
* `reading_paused(connection, paused)`: the handler's pause_reading() or
  resume_reading() changed something;
* `proxy_header_read(connection, header)`: the PROXY header was taken.

evloop.trace's ConnectionTracer is the instrument that uses all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.states import Event
from evloop.connection.states import State
from evloop.handlers.base import Handler
from evloop.loop.instruments import Instrument
from evloop.loop.instruments import default_hook

Read = Callable[[int, int], bytes]
Write = Callable[[int, Any], int]


class ConnectionInstrument(Instrument):
    """The loop's hooks and a connection's (see the module docstring); override any."""

    __slots__ = ()

    @default_hook
    def connection_started(self, connection: Connection) -> None:
        """`connection` is about to start: accepted, or connecting out."""

    @default_hook
    def wrap_handler(self, connection: Connection, handler: Handler) -> Handler:
        """The handler `connection` is about to serve: return it, or a wrapper."""
        return handler

    @default_hook
    def wrap_io(self, connection: Connection, read: Read, write: Write) -> tuple[Read, Write]:
        """The system calls `connection` is about to use: return them, or wrappers."""
        return read, write

    @default_hook
    def state_changed(self, connection: Connection, old: State, new: State, event: Event) -> None:
        """`connection` went from `old` to `new` on `event` (evloop.connection.states)."""

    @default_hook
    def reading_paused(self, connection: Connection, paused: bool) -> None:
        """The handler paused (True) or resumed (False) reading."""

    @default_hook
    def proxy_header_read(self, connection: Connection, header: ProxyHeader) -> None:
        """The PROXY header (evloop.connection.proxy_protocol) was taken off the socket."""
