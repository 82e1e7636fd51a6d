"""A connection's owner: what every connection needs from whoever made it.

A connection is accepted by a server, opened by a handler through its
context, or opened by a program of its own on a loop.  Whichever it was,
the connection asks the same four things of the place it belongs to, its
*owner*, and nothing else:

* `offloader`: the pool for `context.offload()` (None: inline);
* `server_context`: the server-wide context of `context.server` (None for
  a connection of a loop's own);
* `connect(...)`: open an outbound connection from the same loop, with the
  same limits, counted with the others (`context.connect()`);
* `connection_closed(connection)`: told once, when a connection is closed.

`Owner` says so as a `typing.Protocol`: evloop.server's `Server` and
`MetricsEndpoint` are owners, and evloop.connection.outbound's `LoopOwner`
is the one a bare loop uses.  Each starts its connections with
evloop.connection.starting's `start_connection`, which adds them to the
owner's set, and its `connection_closed` takes them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import Protocol

from evloop.connection.tls import ClientTLS
from evloop.handlers.addresses import Address
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import ServerContext
from evloop.loop.offload import Offloader


class Owner(Protocol):
    """Where a connection belongs (see the module docstring)."""

    @property
    def offloader(self) -> Offloader | None: ...

    @property
    def server_context(self) -> ServerContext | None: ...

    def connect(self, address: Address | Sequence[Address], handler: Handler, *,
                tls: ClientTLS = None, server_hostname: str | None = None,
                timeout: float = 10.0, round_robin: bool = False) -> Context: ...

    def connection_closed(self, connection: Any) -> None: ...
