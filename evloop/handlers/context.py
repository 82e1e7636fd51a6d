"""The handler's context: what a handler may ask of whoever runs it.

A handler is sans-IO, so it cannot send, close or wait by itself.  Instead
`connection_made(context)` hands it one object, the context, and nothing
else.  `Context` lists its powers, each with its rules: who the peer is
(`peer`, `peer_subject`); sending and ending (`push`, `close`, `abort`,
`write_eof`, `is_closing`); reading (`pause_reading`, `resume_reading`);
time (`time`, `call_later`, `call_every`, `set_idle_timeout`); work away from the loop
(`offload`); other servers (`connect`); and the whole server (`server`).

Under evloop the context is the connection's handler side
(evloop.connection.context); the benchmark's thread and asyncio servers
bring their own.  This module only describes it, as a `typing.Protocol`,
so handlers can be type-checked against any of them.

Every timer is set against the loop's clock, `time()`, which is
time.monotonic(): seconds that never jump back, from an arbitrary start.
It is not the time of day: label a tick with time.time() (or datetime.now())
when it fires, not with the deadline.

`ServerContext` is what a handler class's `server_started` and
`server_stopping` get (evloop.handlers.base): `call_later`, `call_every`
and `connect` on the server's loop, `connections` (the contexts of the clients it serves),
`offload`, `options` (the handler's own, as configured), and `shared`, a
dict for the handler's own server-wide objects.  `offload_inline` is what
`offload` does wherever there is no pool.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import MutableMapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import Union

from evloop.handlers.addresses import Address

#: What a handler may return as a reply: bytes, or None for "no message yet".
Reply = Union[bytes, bytearray, memoryview, None]


class Cancellable(Protocol):
    """What `Context.call_later` and `Context.call_every` return."""

    def cancel(self) -> None: ...


class Context(Protocol):
    """The powers a handler is given in `connection_made`."""

    @property
    def peer(self) -> str:
        """The other end, as "host:port" ("[::1]:5000" for IPv6)."""

    @property
    def peer_subject(self) -> str | None:
        """Over TLS with client certificates (--tls-ca), the client's subject
        ("CN=alice,O=Lab"); None otherwise."""

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` after everything queued before it, outside a reply (a
        chat line from someone else)."""

    def close(self) -> None:
        """Close after the replies due (this one included) are sent, as asyncio's
        transport.close() does."""

    def abort(self) -> None:
        """Close now; queued bytes are dropped."""

    def is_closing(self) -> bool:
        """True once close() or abort() was asked for, or the peer is gone."""

    def time(self) -> float:
        """The clock timers are set against: time.monotonic(), in seconds."""

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` in `delay` seconds, in the same thread as the
        handler's other calls, unless cancelled first (the handle's `cancel()`);
        closing the connection cancels it."""

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` every `interval` seconds, the first in one
        interval, until the handle's `cancel()` or the connection's end.

        The beats keep to a grid (start + n * interval), so they do not drift
        by the time each call takes; a beat the loop comes too late for is
        skipped, not made up in a burst.  A callback that raises costs the
        connection, as any other of its calls.
        """

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply],
                error: Callable[[Exception], Reply] | None = None) -> Reply:
        """Run `fn(*args)` away from the loop, then send what `then(result)` returns,
        or, if `fn` raised, what `error(exc)` returns (without `error`, it is a bug).

        With a pool (`--offload thread|process`) this returns None at once and
        `then` runs later; without one, `fn` runs here and now and this returns
        what `then` returned, for the handler to send as (part of) its reply.
        """

    def pause_reading(self) -> None:
        """Stop reading from the peer until resume_reading() (a relay whose
        other side does not keep up)."""

    def resume_reading(self) -> None:
        """Read from the peer again."""

    def write_eof(self) -> None:
        """Send EOF after what was pushed so far; reading goes on (a half-close)."""

    def forward_to(self, other: Context | None) -> None:
        """From now on, send what this connection reads straight to `other` (another
        TCP connection's context, such as `connect()` returns), as `other.push()`
        would, without calling `data_received`: a relay's inner loop, run by the
        server with no handler call per read.  `eof_received`, `pause_writing`,
        `resume_writing` and `connection_lost` still come.  None: bytes go to
        `data_received` again."""

    def set_idle_timeout(self, seconds: float | None) -> None:
        """This connection's own idle timeout; None (or 0): never, for a
        client that only listens."""

    def connect(self, address: Address | Sequence[Address], handler: Any, *,
                tls: Any = None, server_hostname: str | None = None,
                timeout: float = 10.0, round_robin: bool = False) -> Context:
        """Open a connection to `address`, served by `handler`, from the same loop.

        Returns its context at once; what is pushed to it before it is up is
        queued.  `tls`: True (the system's CAs), a CA file's path, or an
        ssl.SSLContext.  `address` may be a list: the addresses are tried in
        turn, each for up to `timeout` seconds, and the first that answers
        is the connection (its `peer` names it); with `round_robin`, each
        call starts one further along the list.

        What the handler hears, in order: `connection_made(context)` once it
        is up, then its other calls, and `connection_lost(exc)` last.  If it
        cannot be made (refused, timed out, unreachable, a TLS failure; with
        a list, only once every address has failed) it hears
        `connection_lost(exc)` alone, once, and never `connection_made`.
        Neither ever runs inside `connect()` itself: at the earliest in a
        later step of the loop, after the caller has the context.
        """

    @property
    def server(self) -> ServerContext | None:
        """The server-wide context, shared by every connection of the server, or
        None outside a server."""


class ServerContext(Protocol):
    """What a handler class's `server_started` and `server_stopping` get."""

    @property
    def connections(self) -> Collection[Context]:
        """The contexts of the clients the server holds now."""

    @property
    def shared(self) -> MutableMapping[str, Any]:
        """The handler's own server-wide objects, by name."""

    @property
    def options(self) -> Mapping[str, Any]:
        """The handler class's options, as the server was given them (or their defaults)."""

    @property
    def stopping(self) -> str | None:
        """None while serving; once stopping, why: "shutdown", or "retire" (other
        workers serve on, after a reload or SIGTTOU: clients may reconnect)."""

    def time(self) -> float:
        """The clock timers are set against: time.monotonic(), in seconds."""

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` in `delay` seconds; cancelled when the server stops."""

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """As Context.call_every, until `cancel()` or the server stops; a callback
        that raises is reported and costs only that beat."""

    def connect(self, address: Address | Sequence[Address], handler: Any, *,
                tls: Any = None, server_hostname: str | None = None,
                timeout: float = 10.0, round_robin: bool = False) -> Context:
        """As Context.connect, for the server itself."""

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], object],
                error: Callable[[Exception], object] | None = None) -> None:
        """Run `fn(*args)` in the server's pool, then `then(result)` (or `error(exc)`)."""


def offload_inline(fn: Callable[..., Any], args: tuple[Any, ...], then: Callable[[Any], Any],
                   error: Callable[[Exception], Any] | None) -> Any:
    """What `offload` does where there is no pool: `fn(*args)` here and now, and
    `then`'s answer to its result (or `error`'s to its exception; without
    `error`, the exception is the caller's, as any other the handler raises)."""
    try:
        result = fn(*args)
    except Exception as exc:
        if error is None:
            raise
        return error(exc)
    return then(result)
