"""Reaching out: connections opened from the loop, served by handlers.

A server that only answers the client in front of it cannot be a proxy, a
gateway or a cache in front of a database.  `context.connect(address,
handler)` opens a connection to another server from the same loop, served
by a handler like any accepted one, and returns its context at once:

* the connect does not block (evloop.connection.dialing): a numeric
  address is used as it is, a name is looked up in a pool, and every
  address it has is tried within one `timeout`;
* bytes pushed before it is up wait in its output, bounded by `max_output`
  like any output, and `close()` or `write_eof()` asked before then are
  done once it opens and those bytes are sent;
* when it is up, `handler.connection_made(context)`; if it cannot be
  (refused, timed out, unreachable, a TLS handshake that fails),
  `handler.connection_lost(exc)` with the reason, and never
  `connection_made`;
* it gets the server's limits (water marks, `max_output`, idle timeout),
  the same fault isolation, `--trace` lines and metrics
  (`direction="out"`), since it is the same `Connection` class.

`open_connection()` is that call, for every owner: the server's (for its
handlers and its server-wide context) and a bare loop's.  `Loop` here is
evloop's loop with `connect()` for programs of your own, which is what
`evloop.Loop` is; the loop itself (evloop.loop.base) knows no handler, and
`LoopOwner` is where the connections of such a program belong.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.context import ConnectionContext
from evloop.connection.dialing import Dialer
from evloop.connection.dialing import Resolver
from evloop.connection.dialing import rotated
from evloop.connection.owner import Owner
from evloop.connection.starting import start_connection
from evloop.connection.tls import ClientTLS
from evloop.connection.tls import TLSSession
from evloop.connection.tls import client_context
from evloop.handlers.addresses import Address
from evloop.handlers.addresses import check_address
from evloop.handlers.addresses import format_address
from evloop.handlers.addresses import tls_name
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import ServerContext
from evloop.loop.base import BaseLoop
from evloop.loop.offload import Offloader
from evloop.metrics.counters import Counters
from evloop.settings.config import Config

DEFAULT_CONNECT_TIMEOUT = 10.0


def check_handler_instance(handler: object) -> Handler:
    """`handler` if it can serve a connection; TypeError saying what it is instead."""
    if isinstance(handler, Handler):
        return handler
    if isinstance(handler, type) and issubclass(handler, Handler):
        raise TypeError(f"connect() takes a handler object, not the class: "
                        f"{handler.__name__}() instead of {handler.__name__}")
    raise TypeError(f"connect() takes an evloop.Handler object, not {type(handler).__name__}")


class Lookups:
    """Where names are looked up: the server's offload pool if it has one, else a
    small thread pool of its own, made at the first name (a Resolver:
    evloop.connection.dialing)."""

    THREADS = 4  # lookups wait on the network; they do not compute

    def __init__(self, loop: BaseLoop, offloader: Offloader | None = None) -> None:
        self.loop = loop
        self.offloader = offloader
        self.own: Offloader | None = None

    def __call__(self, host: str, port: int,
                 then: Callable[[Future[list[Any]]], object]) -> None:
        pool = self.offloader
        if pool is None:
            if self.own is None:
                self.own = Offloader(self.loop, "thread", self.THREADS)
            pool = self.own
        pool.submit(socket.getaddrinfo, (host, port, 0, socket.SOCK_STREAM), then)

    def close(self) -> None:
        if self.own is not None:
            self.own.close()
            self.own = None


def check_addresses(address: object) -> list[Address]:
    """One address, or a list (or tuple of addresses) to try in turn, as a list;
    ValueError saying what is wrong."""
    if isinstance(address, list) or (isinstance(address, tuple) and address
                                     and all(isinstance(a, (tuple, list)) for a in address)):
        if not address:
            raise ValueError("connect() needs at least one address, not an empty list")
        return [check_address(tuple(a) if isinstance(a, list) else a) for a in address]
    return [check_address(address)]


def open_connection(loop: BaseLoop, owner: Owner, address: Address | Sequence[Address],
                    handler: Handler, *, config: Config, counters: Counters, resolve: Resolver,
                    tracked: set[Connection], tls: ClientTLS = None,
                    server_hostname: str | None = None,
                    timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                    round_robin: bool = False) -> ConnectionContext:
    """Start connecting to `address` (or the first of a list that answers), served by
    `handler`, kept in `tracked`; its context at once (`.connection` is the
    connection).  ValueError for a bad address, timeout or TLS argument, TypeError
    for something that is not a handler."""
    addresses = check_addresses(address)
    handler = check_handler_instance(handler)
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout ({timeout}) must be more than 0 seconds, or None")
    if round_robin:
        addresses = rotated(addresses)
    session = None
    tls_context = client_context(tls)
    if tls_context is not None:
        if server_hostname is None:  # checked against the certificate, as asyncio does
            server_hostname = tls_name(addresses)
        session = TLSSession(tls_context, server_side=False, server_hostname=server_hostname)

    def dialer(handshakes: Any) -> Dialer:
        def connected(sock: socket.socket) -> None:
            if len(addresses) > 1:  # named after the one that answered
                handshakes.peer = format_address(dialing.address)
            handshakes.connected(sock)

        dialing = Dialer(loop, addresses, timeout, resolve, connected, handshakes.connect_failed)
        return dialing

    counters.accepted += 1  # for an outbound connection: connects begun
    return start_connection(loop, None, format_address(addresses[0]), handler, config, owner,
                            counters, tracked, tls=session, dialer=dialer)


class LoopOwner:
    """The owner of connections a program opens on a bare loop (`Loop.connect`)."""

    offloader: Offloader | None = None
    server_context: ServerContext | None = None

    def __init__(self, loop: BaseLoop, config: Config | None = None) -> None:
        self.loop = loop
        self.config = config if config is not None else Config()
        self.counters = Counters()
        self.connections: set[Connection] = set()
        self.resolve = Lookups(loop)

    def connect(self, address: Address | Sequence[Address], handler: Handler, *,
                tls: ClientTLS = None, server_hostname: str | None = None,
                timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                round_robin: bool = False) -> Context:
        return open_connection(self.loop, self, address, handler, config=self.config,
                               counters=self.counters, resolve=self.resolve,
                               tracked=self.connections, tls=tls,
                               server_hostname=server_hostname, timeout=timeout,
                               round_robin=round_robin)

    def connection_closed(self, connection: Any) -> None:
        self.connections.discard(connection)


class Loop(BaseLoop):
    """evloop's event loop (evloop.loop.base), and `connect()` for programs of your own.

    Methods for the caller, besides the loop's: `connect(address, handler,
    tls=..., server_hostname=..., timeout=..., config=...)`, which opens a
    connection served by `handler` and returns its context at once (see
    evloop.connection.outbound); `config` sets the limits of the connections
    this loop opens (the first call's, or the defaults of evloop.Config).
    """

    def __init__(self, selector: Any = "auto") -> None:
        super().__init__(selector)
        self._owner: LoopOwner | None = None

    def connect(self, address: Address | Sequence[Address], handler: Handler, *,
                tls: ClientTLS = None, server_hostname: str | None = None,
                timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                config: Config | None = None, round_robin: bool = False) -> Context:
        if self._owner is None:
            self._owner = LoopOwner(self, config)
        return self._owner.connect(address, handler, tls=tls, server_hostname=server_hostname,
                                  timeout=timeout, round_robin=round_robin)

    def close(self, ignore: Any = ()) -> None:
        if self._owner is not None:
            for connection in list(self._owner.connections):
                connection.end("shutdown", now=True, reset=True, reason="the loop closed")
            self._owner.resolve.close()
        super().close(ignore)
