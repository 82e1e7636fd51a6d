"""The handler API: sans-IO protocol objects that turn bytes into replies.

A handler never sees a socket.  Whoever runs it feeds it what `recv()`
returned and sends whatever it answers; the same handler class therefore
runs unchanged under evloop's loop, a thread per client, a socketserver, or
asyncio (see bench/).  This is the h11 idea: protocol code is a pure
function of its input, which makes it easy to test byte by byte.

The grammar of calls, as in asyncio's protocols, is::

    connection_made(context)  data_received(data)*  eof_received()?  connection_lost(exc)

and every call except the last may answer bytes to send.  A connection the
handler opened itself (`context.connect`) that could not be opened hears
only `connection_lost(exc)`, with the reason.  `connection_lost` comes
after the call that ended the connection has returned, never in the
middle of it, so a chat broadcast that disconnects a member is safe.
`pause_writing()` / `resume_writing()` may come in between: the client is
not reading its replies fast enough, and has stopped being read (see
evloop.settings.limits).  What each answer means, the work of the whole
server (`server_started`) and UDP (`datagram_received`) are in the
methods' docstrings.

To reject bad input, raise `ProtocolError(reason, reply=...)`: the
connection sends `reply` (the answers due before the bad input), logs the
reason with the peer's address, and closes.  Any other exception, and any
answer that is not bytes, costs the handler its connection only: it is
logged with its traceback and the connection is dropped.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.context import ServerContext

#: The longest message a handler buffers before it refuses the input (--max-message).
DEFAULT_MAX_MESSAGE = 64 * 1024

BYTES_TYPES = (bytes, bytearray, memoryview)


class ProtocolError(Exception):
    """The peer broke the protocol; `reply` holds the answers due before."""

    def __init__(self, reason: str, reply: bytes | bytearray | memoryview = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


class WrongReturn(TypeError):
    """A method the handler's author wrote returned something other than bytes (or
    None), found by the helper class that called it (LineHandler's data_received, for
    its line_received): the error report names that method, not the helper."""

    def __init__(self, method: str, answer: object) -> None:
        super().__init__(f"{method} returned {type(answer).__name__}, not bytes")
        self.method = method
        self.answer = answer


@dataclasses.dataclass(frozen=True)
class Option:
    """One option a handler class takes from its server's configuration.

    The command line offers it as `--NAME` (underscores as dashes), and
    `Config(handler_options={NAME: value})` sets it from Python.  Given or
    not, its value goes through `type` (a default too, as if it were given
    as the flag's text), and the handler's `__init__` gets it as the keyword
    NAME; the server checks at start-up that `__init__` takes it.
    """

    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    choices: tuple[Any, ...] | None = None

    def check(self, name: str, value: Any) -> Any:
        """`value` converted by `type`; ValueError naming the option if it is wrong."""
        try:
            converted = value if isinstance(value, bool) else self.type(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"handler option {name} ({value!r}) is not valid: {exc}") from None
        if self.choices is not None and converted not in self.choices:
            raise ValueError(f"handler option {name} ({value!r}) must be one of: "
                             f"{', '.join(map(str, self.choices))}")
        return converted


class Handler:
    """Base class for evloop handlers.  Subclass it and override `data_received`.

    Methods that may be overridden: `data_received` (required),
    `connection_made`, `eof_received`, `connection_lost`, `pause_writing`,
    `resume_writing`, `datagram_received`, and the class methods `factory`,
    `server_started` and `server_stopping`.

    Attributes a handler may use: `self.context` (set by `connection_made`;
    see evloop.handlers.context) and `self.max_message`.

    Class variables: `supports_udp`, `shared_over_udp`, `busy_message`, `options`,
    `backpressure_stops_reading`.
    """

    #: Can the handler answer a datagram on its own (no connection state)?
    supports_udp: ClassVar[bool] = True
    #: Over UDP, may one instance answer every datagram?  True only if
    #: `datagram_received` keeps no state between calls (echo, uppercase).
    shared_over_udp: ClassVar[bool] = False
    #: Sent to a client refused because the server is full (line protocols).
    busy_message: ClassVar[bytes] = b""
    #: The options the handler takes from the server's configuration, by name.
    options: ClassVar[Mapping[str, Option]] = {}
    #: Does output above high water also stop reading this connection?  Right
    #: for a server (a client that sends and never reads must not grow its
    #: memory); wrong for a relay, whose side that waits to write must still be
    #: read, or both ends wait for each other.  pause_writing() comes either way.
    backpressure_stops_reading: ClassVar[bool] = True

    context: Context

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message = max_message

    @classmethod
    def factory(cls, max_message: int = DEFAULT_MAX_MESSAGE,
                **options: Any) -> Callable[[], Handler]:
        """Return a zero-argument callable making one handler per connection.

        `options` are the declared `options`, already checked.  Handlers that
        share state between connections (chat's room) override this to build
        the shared object once.
        """
        return functools.partial(cls, max_message=max_message, **options)

    def connection_made(self, context: Context) -> Reply:
        """A client connected.  Keeps `context`; return a greeting or None.

        An override should call `super().connection_made(context)` or keep
        the context itself.
        """
        self.context = context
        return None

    def data_received(self, data: bytes) -> Reply:
        """Bytes arrived.  Return the reply bytes, or None for "no message yet".

        None: no message was completed by this input (a partial message is
        buffered), and nothing is sent.  Bytes (or bytearray, memoryview),
        possibly empty: at least one message was completed; send these.  The
        difference matters to `--idle-timeout`, which closes a connection
        that completes no message for that long (a slowloris client
        dribbling one byte at a time completes none).  Any other answer (a
        str, say) is a bug in the handler, treated as if it had raised.
        """
        raise NotImplementedError(f"{type(self).__name__} must define data_received")

    def eof_received(self) -> Reply | bool:
        """The peer will send no more.  Return final bytes or None (then the
        connection closes once they are sent), or True to keep it open for writing,
        as in asyncio, until the handler closes it or sends its own EOF
        (`context.write_eof()`): a relay passes a half-close on this way."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (`exc`: the socket error, if one ended it)."""

    def pause_writing(self) -> None:
        """The client's unsent replies passed high water: it is not reading."""

    def resume_writing(self) -> None:
        """The client's unsent replies drained to low water."""

    @classmethod
    def server_started(cls, server: ServerContext) -> None:
        """Once per server, before its first client: start server-wide work here.

        Work that belongs to the whole server, not to one connection (a clock
        that ticks to every client, a connection to a backend shared by all),
        goes here and in `server_stopping`, with `server`, the server-wide
        context (evloop.handlers.context.ServerContext).
        """

    @classmethod
    def server_stopping(cls, server: ServerContext) -> None:
        """Once per server, when it begins to stop, before its clients are closed.

        `server.stopping` says why: "shutdown", or "retire" when other workers
        serve on (a reload, or SIGTTOU), so that long-lived clients may be told
        to reconnect.  On "shutdown" the timers set through `server` are
        cancelled after this; on "retire" they run until the worker ends.
        """

    def datagram_received(self, data: bytes, context: Context) -> Reply:
        """Answer one datagram as a whole conversation: by default made, data,
        end of input and lost, in one go, the replies sent back as one datagram."""
        parts = [self.connection_made(context), self.data_received(data), self.eof_received()]
        self.connection_lost(None)
        # None: nothing to send; a bool: eof_received's "keep open", which over UDP
        # means nothing.  Anything else that is not bytes fails in join(): a bug.
        return b"".join(part for part in parts if part is not None and not isinstance(part, bool))

