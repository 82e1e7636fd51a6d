"""The handler's context: what a handler may ask of whoever runs it.

A handler is sans-IO, so it cannot send, close or wait by itself.  Instead
`connection_made(context)` hands it one object, the context, and nothing
else.  `Context` lists its powers, each with its rules: who the peer is
(`peer`, `peer_subject`); sending and ending (`push`, `close`, `abort`,
`write_eof`, `is_closing`); reading (`pause_reading`, `resume_reading`);
time (`call_later`, `set_idle_timeout`); work away from the loop
(`offload`); other servers (`connect`); and the whole server (`server`).

Under evloop the context is the connection's handler side
(evloop.connection.context); the benchmark's thread and asyncio servers
bring their own.  This module only describes it, as a `typing.Protocol`,
so handlers can be type-checked against any of them.

`ServerContext` is what a handler class's `server_started` and
`server_stopping` get (evloop.handlers.base): `call_later` and `connect` on
the server's loop, `connections` (the contexts of the clients it serves),
`offload`, `options` (the handler's own, as configured), and `shared`, a
dict for the handler's own server-wide objects.  `offload_inline` is what
`offload` does wherever there is no pool.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import MutableMapping
from typing import Any
from typing import Protocol
from typing import Union

from evloop.handlers.addresses import Address

#: What a handler may return as a reply: bytes, or None for "no message yet".
Reply = Union[bytes, bytearray, memoryview, None]


class Cancellable(Protocol):
    """What `Context.call_later` returns."""

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

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` in `delay` seconds, in the same thread as the
        handler's other calls, unless cancelled first (the handle's `cancel()`);
        closing the connection cancels it."""

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

    def set_idle_timeout(self, seconds: float | None) -> None:
        """This connection's own idle timeout; None (or 0): never, for a
        client that only listens."""

    def connect(self, address: Address, handler: Any, *, tls: Any = None,
                server_hostname: str | None = None, timeout: float = 10.0) -> Context:
        """Open a connection to `address`, served by `handler`, from the same loop.

        Returns its context at once; what is pushed to it before it is up is
        queued.  `handler.connection_made(context)` comes once it is up; if it
        cannot be (refused, timed out, unreachable, a TLS failure),
        `handler.connection_lost(exc)` comes instead.  `tls`: True (the
        system's CAs), a CA file's path, or an ssl.SSLContext.
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

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` in `delay` seconds; cancelled when the server stops."""

    def connect(self, address: Address, handler: Any, *, tls: Any = None,
                server_hostname: str | None = None, timeout: float = 10.0) -> Context:
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
