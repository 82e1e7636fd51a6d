"""A fake server-wide context: a handler class's server_started and server_stopping, tested.

Work that belongs to the whole server (a ticker, a shared backend, a health
check) lives in a handler class's `server_started` and `server_stopping`,
with the server-wide context.  `FakeServerContext` is that context without
a server: it holds the class's options as a server would (each default
through its option's type, then what the test gives, checked the same
way), makes the clients' handlers with the one factory the class gives a
server (so a chat room is shared), keeps the open clients' FakeContexts in
`connections`, and sets its timers on the same `ManualClock` as theirs.
`stop(why)` plays the two ends of a server: "shutdown", or "retire", a
reload's old worker, whose timers run on until it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from evloop.connection.handler_timers import HandlerPeriodic
from evloop.connection.handler_timers import HandlerTimer
from evloop.connection.handler_timers import HandlerTimers
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.context import offload_inline
from evloop.testing.clock import ManualClock
from evloop.testing.contexts import Dialled
from evloop.testing.contexts import FakeContext
from evloop.testing.contexts import record_connect


def _run(what: str, callback: Callable[..., object], args: tuple[Any, ...]) -> object:
    return callback(*args)  # a raise is the test's to see


class FakeServerContext:
    """An evloop.ServerContext for a handler class's server_started and server_stopping.

    `connections` lists the open FakeContexts made with `server=` this one;
    `options` holds the handler's options as a server would (defaults through
    their types, then what is given), `shared` the handler's own objects.
    `client()` connects a new handler, made as the server makes them.
    """

    def __init__(self, handler_class: type[Handler] | None = None, *,
                 clock: ManualClock | None = None, max_message: int = DEFAULT_MAX_MESSAGE,
                 **options: Any) -> None:
        self.handler_class = handler_class
        self.clock = clock or ManualClock()
        self.max_message = max_message
        self._factory: Callable[[], Any] | None = None
        declared = getattr(handler_class, "options", {}) or {}
        unknown = set(options) - set(declared)
        if handler_class is not None and unknown:
            raise TypeError(f"{handler_class.__name__} declares no option "
                            f"{', '.join(sorted(unknown))}")
        values = {name: option.check(name, option.default) if option.default is not None else None
                  for name, option in declared.items()}
        values.update({name: declared[name].check(name, value) if name in declared else value
                       for name, value in options.items()})
        self.options: Mapping[str, Any] = values
        self.shared: dict[str, Any] = {}
        self.connections: list[FakeContext] = []
        self.connects: list[Dialled] = []
        self.timers = HandlerTimers(self.clock, _run)
        self.stopping: str | None = None

    def start(self) -> None:
        """The server starts: the handler class's server_started(self)."""
        if self.handler_class is not None:
            self.handler_class.server_started(self)

    def stop(self, why: str = "shutdown") -> None:
        """The server stops: server_stopping(self) with `stopping` set to `why`
        ("shutdown", or "retire": a reload's old worker); on "shutdown", its
        timers are then cancelled."""
        if why not in ("shutdown", "retire"):
            raise ValueError(f"a server stops for a shutdown or to retire, not {why!r}")
        if self.stopping is None:
            self.stopping = why
            if self.handler_class is not None:
                self.handler_class.server_stopping(self)
        if why == "shutdown":
            self.timers.cancel_all()

    def handler(self) -> Any:
        """A handler of the class, made as the server makes them: by the one factory
        the class's `factory()` returned for this server (a chat room is shared)."""
        if self.handler_class is None:
            raise TypeError("FakeServerContext(handler_class) makes handlers; this one has none")
        if self._factory is None:
            self._factory = self.handler_class.factory(max_message=self.max_message,
                                                       **self.options)
        return self._factory()

    def client(self, peer: str = "127.0.0.1:50000") -> tuple[Any, FakeContext]:
        """A new client of this server: (its handler, its open FakeContext)."""
        handler = self.handler()
        context = FakeContext(peer, server=self)
        context.open(handler)
        return handler, context

    def time(self) -> float:
        return self.clock.time()

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> HandlerTimer:
        return self.timers.add(delay, callback, args)

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> HandlerPeriodic:
        return self.timers.every(interval, callback, args)

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], object],
                error: Callable[[Exception], object] | None = None) -> None:
        offload_inline(fn, args, then, error)

    def connect(self, address: Any, handler: Any, *, tls: Any = None,
                server_hostname: str | None = None, timeout: float = 10.0,
                round_robin: bool = False) -> FakeContext:
        """As FakeContext.connect: recorded in `connects`, opened or refused by the test."""
        return record_connect(self.connects, self, self.clock, address, handler,
                     {"tls": tls, "server_hostname": server_hostname, "timeout": timeout,
                      "round_robin": round_robin})
