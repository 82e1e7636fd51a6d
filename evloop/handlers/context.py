"""The handler's context: what a handler may ask of whoever runs it.

A handler is sans-IO, so it cannot send, close or wait by itself.  Instead
`connection_made(context)` hands it one object, the context, with these
powers, and nothing else:

* `peer`: who is at the other end, as "host:port"; `peer_subject`, over TLS
  with client certificates, who the certificate says it is;
* `push(data)`: send bytes outside a reply (a chat line from someone else);
* `close()`: close once the replies due are sent (asyncio's transport.close);
* `abort()`: drop the connection now, with whatever is queued;
* `is_closing()`: has close() or abort() been asked for, or is the
  connection ending anyway?
* `call_later(delay, fn, *args)`: run `fn(*args)` in `delay` seconds, in the
  same thread as the handler's other calls; the returned handle's `cancel()`
  drops it, and closing the connection cancels it;
* `offload(fn, *args, then=...)`: run a blocking or heavy `fn(*args)` away
  from the event loop, then `then(result)`, whose bytes are sent as a reply.

Under evloop the context is the connection itself (evloop.connection);
the benchmark's thread and asyncio servers bring their own.  This module
only describes it, as a `typing.Protocol`, so handlers can be type-checked
against any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Protocol

#: What a handler may return as a reply: bytes, or None for "no message yet".
Reply = bytes | bytearray | memoryview | None


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
        """Send `data` after everything queued before it."""

    def close(self) -> None:
        """Close after the replies due (this one included) are sent."""

    def abort(self) -> None:
        """Close now; queued bytes are dropped."""

    def is_closing(self) -> bool:
        """True once close() or abort() was asked for, or the peer is gone."""

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable:
        """Call `callback(*args)` in `delay` seconds, unless cancelled first."""

    def offload(self, fn: Callable[..., Any], *args: Any,
                then: Callable[[Any], Reply]) -> Reply:
        """Run `fn(*args)` away from the loop, then send what `then(result)` returns.

        With a pool (`--offload thread|process`) this returns None at once and
        `then` runs later; without one, `fn` runs here and now and this returns
        what `then` returned, for the handler to send as (part of) its reply.
        """
