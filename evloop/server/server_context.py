"""Work that belongs to the whole server: the server-wide context.

Some work outlives every connection: a clock that ticks to every client
that listens, a connection to a backend that all clients share, a cache
that expires its entries.  Riding it on one client's connection breaks
when that client leaves (its timers are cancelled with it).  So a handler
class may have two class methods, `server_started(server)` and
`server_stopping(server)` (evloop.handlers.base), which the server calls
once each, with its `ServerWideContext`:

* `call_later(delay, fn, *args)` and `call_every(interval, fn, *args)`:
  timers of the server's, cancelled only when the server stops (a ticker
  that pushes to every client is one `call_every`);
* `connect(address, handler, ...)`: an outbound connection of the server's
  own (evloop.connection.outbound), as a connection's context opens them;
* `connections`: the contexts of the clients the server serves now, open
  ones only (a clock pushes to each);
* `offload(fn, *args, then=..., error=...)`: the server's pool, or inline;
* `options`: the handler's own options, as the server was given them (or
  their defaults);
* `shared`: a dict for the handler's own server-wide objects, reached from
  a connection as `context.server.shared`;
* `stopping`: None while the server serves; in `server_stopping`, why it
  stops: "shutdown" (SIGINT, SIGTERM, `Server.shutdown()`), or "retire"
  (under --workers, a reload or SIGTTOU: other workers serve on, so a
  handler may tell its long-lived clients to reconnect now; the old
  worker then ends as soon as they have, within --reload-grace).

A callback that raises is reported through the loop's exception handler,
as any other, and costs only that call: there is no connection to drop.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.handler_timers import HandlerPeriodic
from evloop.connection.handler_timers import HandlerTimer
from evloop.connection.handler_timers import HandlerTimers
from evloop.connection.states import LIVE_STATES
from evloop.handlers.context import Context
from evloop.handlers.context import offload_inline
from evloop.loop.base import BaseLoop
from evloop.loop.offload import Offloader
from evloop.loop.offload import outcome


class ServerWideContext:
    """One server's server-wide context (evloop.handlers.context.ServerContext).

    Methods for the handler class: those of `ServerContext`.  Methods for the
    server: `run_hook(what, hook)` (server_started), `stopping_because(why,
    hook)` (server_stopping) and `stop()`.
    """

    def __init__(self, loop: BaseLoop, name: str, connections: Collection[Connection],
                 connect: Callable[..., Context], offloader: Offloader | None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.loop = loop
        self.name = name  # the handler class's, for messages
        self._connections = connections  # the server's own set, live
        self._connect = connect
        self.offloader = offloader
        self.options = types.MappingProxyType(dict(options or {}))
        self.shared: dict[str, Any] = {}
        self.timers = HandlerTimers(loop, self._run)
        # Why the server stops, once it does: "shutdown", or "retire" (a reload's new
        # workers, or the others after SIGTTOU, serve on: its clients may reconnect).
        self.stopping: str | None = None

    def __repr__(self) -> str:
        return f"<server-wide context of {self.name}: {len(self._connections)} connection(s)>"

    @property
    def connections(self) -> tuple[Context, ...]:
        return tuple(connection.context for connection in self._connections
                     if connection.state in LIVE_STATES)

    def time(self) -> float:
        return self.loop.time()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> HandlerTimer:
        return self.timers.add(delay, callback, args)

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> HandlerPeriodic:
        return self.timers.every(interval, callback, args)

    def connect(self, address: Any, handler: Any, *, tls: Any = None,
                server_hostname: str | None = None, timeout: float = 10.0,
                round_robin: bool = False) -> Context:
        return self._connect(address, handler, tls=tls, server_hostname=server_hostname,
                             timeout=timeout, round_robin=round_robin)

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], object],
                error: Callable[[Exception], object] | None = None) -> None:
        if self.offloader is None:
            offload_inline(fn, args, then, error)
            return
        self.offloader.submit(fn, args, lambda future: self._offloaded(future, then, error))

    def run_hook(self, what: str, hook: Callable[[Any], object]) -> None:
        """Call a handler class's server_started or server_stopping."""
        self._run(what, hook, (self,))

    def stopping_because(self, why: str, hook: Callable[[Any], object]) -> None:
        """The server begins to stop: `server_stopping` (`hook`), once, told why."""
        if self.stopping is None:
            self.stopping = why
            self.run_hook("server_stopping", hook)

    def stop(self) -> None:
        """The server is stopping: no server-wide timer fires from now on."""
        self.timers.cancel_all()

    def _offloaded(self, future: Future[Any], then: Callable[[Any], object],
                   error: Callable[[Exception], object] | None) -> None:
        if future.cancelled():
            return
        what, callback, argument = outcome(future, then, error)
        if callback is not None:
            self._run(what, callback, (argument,))
        else:
            self._report(what, argument)

    def _run(self, what: str, call: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            call(*args)
        except Exception as exc:
            self._report(what, exc)

    def _report(self, what: str, exc: BaseException) -> None:
        self.loop.call_exception_handler({
            "message": f"{self.name}: server-wide {what} raised", "exception": exc})
