"""Fake contexts: a handler driven from a plain test function, with no socket and no loop.

A handler is sans-IO, but most handlers ask things of their context: they
push, close, set timers, connect out, or reach the whole server.  A
`FakeContext` grants each of those powers and records what was asked, as
Twisted's `StringTransport` does for a protocol; a `FakeServerContext`
(evloop.testing.server_context) does the same for a handler class's
`server_started` and `server_stopping`.  Both set their timers on one `ManualClock`, through
the same timer code a server runs (evloop.connection.handler_timers), so
`clock.advance(1.0)` fires what a second would, at once.

The fake also plays the server's part in the grammar of calls:
`open(handler)` calls `connection_made`, `feed(data)` calls
`data_received`, `feed_eof()` calls `eof_received`; each answer is sent (it
goes to `sent`, with what the handler pushed, in order) and returned.  As
on a server, an answer that is not bytes or None is a `WrongReturn`, and
once the handler closed or aborted (or `eof_received` did not ask to stay
open), `connection_lost(None)` comes once the call that ended the
connection has returned and its answer is sent (a close asked from outside
the handler's calls: at the clock's next `advance`), and the connection's
timers are cancelled.  Unlike on
a server, an exception the handler raises is not logged away: it reaches
the test.  What a server adds around a handler (buffers, backpressure,
idle timeouts, the logs) is not faked; test those against a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evloop.connection.handler_timers import HandlerPeriodic
from evloop.connection.handler_timers import HandlerTimer
from evloop.connection.handler_timers import HandlerTimers
from evloop.handlers.addresses import format_address
from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import WrongReturn
from evloop.handlers.context import Reply
from evloop.handlers.context import offload_inline
from evloop.testing.clock import ManualClock


class Dialled:
    """One `connect()` a handler made: where to, with what, and the new connection's
    fake context.  The test decides what happens: `open()` or `refuse(exc)`."""

    def __init__(self, address: Any, handler: Any, context: FakeContext,
                 options: dict[str, Any]) -> None:
        self.address = address
        self.handler = handler
        self.context = context
        self.options = options  # tls, server_hostname, timeout

    def __repr__(self) -> str:
        return f"<connect to {self.address!r}: {self.context.state}>"

    def open(self) -> Reply:
        """The connection is up: the handler's connection_made (its answer is sent)."""
        return self.context.open(self.handler)

    def refuse(self, exc: Exception | None = ConnectionRefusedError(111, "Connection refused")
               ) -> None:
        """The connection could not be made (by default, refused): the handler hears
        only connection_lost(exc)."""
        self.context.handler = self.handler
        self.context.lose(exc)


class Offloaded:
    """One `offload()` call waiting in a fake pool (FakeContext(pool=True)):
    `finish()` runs it, then sends what `then` (or `error`) answers."""

    def __init__(self, context: FakeContext, fn: Callable[..., Any], args: tuple[Any, ...],
                 then: Callable[[Any], Reply], error: Callable[[Exception], Reply] | None) -> None:
        self.context = context
        self.fn, self.args, self.then, self.error = fn, args, then, error

    def finish(self) -> Reply:
        return self.context._answer("offload's then", offload_inline, self.fn, self.args,
                                    self.then, self.error)


class FakeContext:
    """An evloop.Context that records what its handler asks for.

    Records: `sent` (every chunk sent, replies and pushes, in order),
    `pushed` (the pushes alone), `closed`, `aborted`, `eof_sent`, `reading`,
    `forwarding` (the context `forward_to` names, whose push `feed` calls),
    `idle_timeout` ("default" until set), `connects` (a `Dialled` each),
    `offloaded` (with `pool=True`, an `Offloaded` each) and `state` ("new",
    "open", "closed").  `clock` is shared with `server`'s.
    """

    def __init__(self, peer: str = "127.0.0.1:50000", *, server: Any = None,
                 clock: ManualClock | None = None, peer_subject: str | None = None,
                 pool: bool = False, outbound: bool = False) -> None:
        self.peer = peer
        self.outbound = outbound  # opened by connect(): not one of the server's clients
        self.peer_subject = peer_subject
        self.server = server
        self.clock = clock or (server.clock if server is not None else ManualClock())
        self.handler: Any = None
        self.state = "new"
        self.sent: list[bytes] = []
        self.pushed: list[bytes] = []
        self.closed = self.aborted = self.eof_sent = False
        self.reading = True
        self.forwarding: FakeContext | None = None  # forward_to's other context
        self.idle_timeout: float | str | None = "default"
        self.connects: list[Dialled] = []
        self.pool = pool
        self.offloaded: list[Offloaded] = []
        self.timers = HandlerTimers(self.clock, self._timer)
        self.lost_with: Exception | None = None
        self.calls = 0  # the handler's calls under way (connection_lost waits for them)

    def __repr__(self) -> str:
        return f"<FakeContext {self.peer} {self.state}: {len(self.sent)} chunk(s) sent>"

    # -- the server's part: calls into the handler ----------------------------------

    def open(self, handler: Any) -> Reply:
        """Serve `handler` on this context: its connection_made."""
        self.handler = handler
        self.state = "open"
        if self.server is not None and not self.outbound:
            self.server.connections.append(self)
        return self._answer("connection_made", handler.connection_made, self)

    def feed(self, data: bytes) -> Reply:
        """Bytes from the peer: the handler's data_received, whose answer is sent; or,
        while it forwards (`forward_to`), the other context's push."""
        self._must_be_open("feed")
        if self.forwarding is not None:
            self.forwarding.push(bytes(data))
            return None
        return self._answer("data_received", self.handler.data_received, bytes(data))

    def feed_eof(self) -> Reply | bool:
        """The peer's EOF: eof_received; unless it answers True, the connection closes."""
        self._must_be_open("feed_eof")
        try:
            answer = self._call("eof_received", self.handler.eof_received)
            if answer is True:
                return True
            self.closed = True
            self._sent(f"{type(self.handler).__name__}.eof_received", answer)
            return answer  # type: ignore[no-any-return]
        finally:
            self._after()

    def _must_be_open(self, what: str) -> None:
        if self.state != "open":
            raise RuntimeError(f"{what}() on a connection that is {self.state}: a server "
                               f"calls the handler only between open() and its end")

    def lose(self, exc: Exception | None = None) -> None:
        """The connection is gone: the handler's connection_lost(exc); timers cancelled."""
        if self.state == "closed":
            return
        self.state = "closed"
        self.lost_with = exc
        self.timers.cancel_all()
        if self.server is not None and self in self.server.connections:
            self.server.connections.remove(self)
        if self.handler is not None:
            self.handler.connection_lost(exc)

    def take(self) -> bytes:
        """Everything sent so far, joined, and forgotten (as StringTransport.value()
        and clear())."""
        data = b"".join(self.sent)
        self.sent.clear()
        return data

    # -- the handler's powers ---------------------------------------------------------

    def push(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, BYTES_TYPES):
            raise TypeError(f"push() takes bytes, not {type(data).__name__}")
        self.pushed.append(bytes(data))
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True
        self._ending()

    def abort(self) -> None:
        self.aborted = True
        self._ending()

    def is_closing(self) -> bool:
        return self.closed or self.aborted or self.state == "closed"

    def write_eof(self) -> None:
        self.eof_sent = True

    def forward_to(self, other: Any) -> None:
        if other is not None and not isinstance(other, FakeContext):
            raise TypeError(f"forward_to() takes another connection's context, or None, "
                            f"not {type(other).__name__}")
        if other is self:
            raise ValueError("a connection cannot forward to itself")
        self.forwarding = other

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_idle_timeout(self, seconds: float | None) -> None:
        self.idle_timeout = seconds

    def time(self) -> float:
        return self.clock.time()

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> HandlerTimer:
        handle = self.timers.add(delay, callback, args)
        if self.state == "closed":
            handle.cancel()  # nobody will be there to call, as on a server
        return handle

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> HandlerPeriodic:
        handle = self.timers.every(interval, callback, args)
        if self.state == "closed":
            handle.cancel()
        return handle

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply],
                error: Callable[[Exception], Reply] | None = None) -> Reply:
        """Without a pool (`pool=False`), as a server without --offload: here and now.
        With one, recorded in `offloaded` (None now); its `finish()` runs it later."""
        if not self.pool:
            return offload_inline(fn, args, then, error)  # type: ignore[no-any-return]
        self.offloaded.append(Offloaded(self, fn, args, then, error))
        return None

    def connect(self, address: Any, handler: Any, *, tls: Any = None,
                server_hostname: str | None = None, timeout: float = 10.0,
                round_robin: bool = False) -> FakeContext:
        """Recorded in `connects`; it stays unopened until the test opens or refuses it."""
        return record_connect(self.connects, self.server, self.clock, address, handler,
                     {"tls": tls, "server_hostname": server_hostname, "timeout": timeout,
                      "round_robin": round_robin})

    # -- as a server does it ------------------------------------------------------------

    def _call(self, what: str, callback: Callable[..., object], *args: Any) -> Any:
        """One call into the handler (its answer, if any, is the caller's to send)."""
        self.calls += 1
        try:
            return callback(*args)
        finally:
            self.calls -= 1

    def _timer(self, what: str, callback: Callable[..., object], args: tuple[Any, ...]) -> object:
        try:
            return self._call(what, callback, *args)
        finally:
            self._after()

    def _answer(self, method: str, call: Callable[..., Reply], *args: Any) -> Reply:
        try:
            answer: Reply = self._call(method, call, *args)
            self._sent(f"{type(self.handler).__name__}.{method}", answer)
            return answer
        finally:
            self._after()

    def _sent(self, method: str, answer: object) -> None:
        if answer is None or isinstance(answer, bool):
            return
        if not isinstance(answer, BYTES_TYPES):
            raise WrongReturn(method, answer)
        if answer and not self.aborted:
            self.sent.append(bytes(answer))

    def _after(self) -> None:
        """connection_lost once the call that ended the connection has returned and its
        answer is sent, as on a server."""
        if (self.closed or self.aborted) and self.state == "open" and not self.calls:
            self.lose(None)

    def _ending(self) -> None:
        # Asked from outside the handler's own calls (a chat member closed by another's
        # message): on a server the end comes in a later step of the loop, so here at
        # the clock's next advance (`clock.advance(0)` will do).
        if self.state == "open" and not self.calls:
            self.clock.call_later(0, self._after)


def record_connect(record: list[Dialled], server: Any, clock: ManualClock, address: Any,
                   handler: Any, options: dict[str, Any]) -> FakeContext:
    """A connect() of a fake context (or server), recorded; its new fake context."""
    first = address[0] if isinstance(address, list) else address
    context = FakeContext(format_address(first), server=server, clock=clock, outbound=True)
    record.append(Dialled(address, handler, context, options))
    return context
