"""Starting a connection for its owner: built with its handler's side, started, tracked.

Every owner of connections (a server's accepted clients, its metrics
scrapes, the outbound connections of a server or of a bare loop) does the
same three things, in this order, through `start_connection`: build the
connection with a fresh `ConnectionContext` (one step: the connection
attaches its side as it is built), start it (greet the handler, or begin
the connect or the handshakes), and keep it in the owner's set unless it
closed already while starting.  The owner's `connection_closed` takes it
out of the set again.  A descriptor the loop's backend refuses (select()'s
FD_SETSIZE) raises FdLimitError, which each owner answers its own way.
"""

from __future__ import annotations

import socket
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.context import ConnectionContext
from evloop.connection.owner import Owner
from evloop.connection.states import CLOSED
from evloop.connection.tls import TLSSession
from evloop.handlers.base import Handler
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters
from evloop.settings.config import Config


def start_connection(loop: BaseLoop, sock: socket.socket | None, peer: str, handler: Handler,
                     config: Config, owner: Owner, counters: Counters,
                     tracked: set[Connection], *, tls: TLSSession | None = None,
                     proxy_header: bool = False, dialer: Any = None) -> ConnectionContext:
    """A new connection, started, and in `tracked` while it is not closed; its
    context (the handler's, `.connection` is the connection)."""
    context = ConnectionContext()
    connection = Connection(loop, sock, peer, handler, config, owner, counters, context=context,
                            tls=tls, proxy_header=proxy_header, dialer=dialer)
    connection.start()
    if connection.state is not CLOSED:
        tracked.add(connection)
    return context
