"""The connection as its handler's context, and the one error path for handler code.

A handler is sans-IO: it is handed a context in `connection_made` and may
ask it to `push` bytes, `close`, `abort`, `call_later` and `offload`
(evloop.handlers.context).  Under evloop the context is the connection
itself, and this module is that half of it: `ConnectionContext` is a base
class of `evloop.connection.Connection` (and itself built on the clock,
evloop.closing), kept apart because it is what the connection does *for*
its handler, not the hot path that moves its bytes.

Rules
-----
* `close()` takes effect after the call it was made in has answered (it is
  queued with `call_soon`), so a handler that answers "bye" and closes in
  the same `data_received` gets its "bye" sent first.
* Timers a handler sets are `HandlerTimer`s, kept in a set while pending,
  so that the end of the connection cancels them all.  A handler that
  re-arms a timeout on every message cancels the old one; the loop compacts
  its heap (evloop.loop), so nothing piles up.
* Offloaded work (`--offload`) counts as a reply still due: closing waits
  for it, and a client with too much of it in flight stops being read.
* One error path: whatever handler code raises (other than ProtocolError),
  and any answer that is not bytes, is reported through the loop's
  exception handler with the peer's address, and this connection alone is
  aborted.  `connection_lost` is delivered with `call_soon`, after the call
  that ended the connection, never in the middle of it (asyncio's rule), so
  a chat broadcast that disconnects a member does not change the room while
  it is being walked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING
from typing import Any

from evloop.closing import ConnectionClosing
from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply
from evloop.limits import MAX_PENDING_WORK
from evloop.limits import RESUME_PENDING_WORK
from evloop.loop import Loop
from evloop.metrics import Counters
from evloop.timers import Timer
from evloop.offload import Offloader
from evloop.states import CLOSED
from evloop.states import FLUSHING_STATES
from evloop.states import LINGERING
from evloop.states import OPEN
from evloop.states import PAUSED

if TYPE_CHECKING:
    from evloop.config import Config
    from evloop.states import State

log = logging.getLogger("evloop")


class HandlerTimer:
    """What `context.call_later()` returns: `cancel()` drops the call."""

    __slots__ = ("connection", "callback", "args", "timer")

    def __init__(self, connection: ConnectionContext, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.connection = connection
        self.callback = callback
        self.args = args
        self.timer: Timer | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        timers = self.connection.handler_timers
        if timers is not None:
            timers.discard(self)

    def cancelled(self) -> bool:
        return self.timer is None

    def fire(self) -> None:
        connection = self.connection
        self.timer = None
        if connection.handler_timers is not None:
            connection.handler_timers.discard(self)
        if connection.state is CLOSED:
            return
        try:
            self.callback(*self.args)
        except ProtocolError as err:
            connection._protocol_error(err)
        except Exception as exc:
            connection._handler_failed("a call_later callback", exc)


class ConnectionContext(ConnectionClosing):
    """The handler's context: `peer`, `push`, `close`, `abort`, `is_closing`,
    `call_later`, `offload` (abort is the connection's own)."""

    __slots__ = ("handler", "peer", "offloader", "pending_work", "close_requested",
                 "handler_timers", "error", "counters")
    handler: Handler
    peer: str
    offloader: Offloader | None
    pending_work: int  # offloaded calls whose replies are still due
    close_requested: bool
    handler_timers: set[HandlerTimer] | None
    error: Exception | None  # the socket error that ended it, for connection_lost
    counters: Counters  # the server's, shared by its connections (evloop.metrics)

    if TYPE_CHECKING:  # what this mixin uses of Connection
        loop: Loop
        state: State
        out: bytearray
        config: Config

        def write(self, data: bytes | bytearray | memoryview) -> None: ...
        def pause(self) -> None: ...
        def begin_close(self, why: str = ...) -> None: ...
        def abort(self, reason: str = ..., level: int = ..., reset: bool = ...,
                  why: str = ...) -> None: ...
        def _transition(self, event: str) -> None: ...

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` after everything queued before it (the context's push)."""
        if not isinstance(data, BYTES_TYPES):
            raise TypeError(f"push() takes bytes, not {type(data).__name__}")
        self.write(data)

    def close(self) -> None:
        """Close after the replies due, once the current call has answered."""
        if not self.close_requested and self.state is not CLOSED:
            self.close_requested = True
            self.loop.call_soon(self.begin_close)

    @property
    def peer_subject(self) -> str | None:
        """The client certificate's subject; None without TLS (evloop.tls)."""
        return None

    def is_closing(self) -> bool:
        return self.close_requested or (self.state is not OPEN and self.state is not PAUSED)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> HandlerTimer:
        """Call `callback(*args)` in `delay` s in the loop's thread; cancelled at close."""
        if self.handler_timers is None:
            self.handler_timers = set()
        handle = HandlerTimer(self, callback, args)
        handle.timer = self.loop.call_later(delay, handle.fire)
        if self.state is CLOSED:
            handle.cancel()
        else:
            self.handler_timers.add(handle)
        return handle

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply]) -> Reply:
        """Run `fn(*args)` in the server's pool, then `then(result)`; inline without one."""
        offloader = self.offloader
        if offloader is None:
            return then(fn(*args))
        self.pending_work += 1  # its reply is due: closing waits for it
        if self.pending_work > MAX_PENDING_WORK:
            self.pause()  # backpressure on work, as on output
        offloader.submit(fn, args, lambda future: self.offloaded(future, then))
        return None

    # -- replies that come later -------------------------------------------------

    def offloaded(self, future: Future[Any], then: Callable[[Any], Reply]) -> None:
        """Work the handler offloaded (evloop.offload) is done: answer with it."""
        self.pending_work -= 1
        if (self.state is PAUSED and self.pending_work <= RESUME_PENDING_WORK
                and len(self.out) <= self.config.low_water):
            self._transition("output_low")
        if self.state is CLOSED or self.state is LINGERING or future.cancelled():
            return  # the client is gone, or we are closing: nobody wants it
        reply = None
        try:
            reply = then(future.result())
            if reply is not None:
                self.last_progress = self.loop.now
                self.push(reply)
        except ProtocolError as err:
            return self._protocol_error(err)
        except Exception as exc:
            return self._handler_failed("offloaded work", exc, reply)
        if self.state in FLUSHING_STATES and not self.out and not self.pending_work:
            self._transition("flushed")  # that was the last reply due before closing

    # -- the handler's errors, and the peer's end --------------------------------

    def _deliver_lost(self, exc: Exception | None) -> None:
        self._tell_handler("connection_lost", self.handler.connection_lost, exc)

    def _tell_handler(self, method: str, call: Callable[..., object], *args: Any) -> None:
        """A handler call whose answer is not a reply; its failure is the handler's."""
        try:
            call(*args)
        except Exception as exc:
            self._handler_failed(method, exc)

    def _on_peer_eof(self) -> None:
        # Only on_readable calls this, and the loop calls it only while OPEN.
        final = None
        try:
            final = self.handler.eof_received()
            if final is not None:
                self.push(final)
        except ProtocolError as err:
            log.info("%s: protocol error: %s", self.peer, err.reason)
            self.counters.protocol_errors += 1
            self._ending("protocol_error")
            if err.reply:
                self.write(err.reply)
        except Exception as exc:
            return self._handler_failed("eof_received", exc, final)
        self._ending("peer_eof")
        if self.state is not CLOSED:
            self._transition("peer_eof")

    def _protocol_error(self, err: ProtocolError) -> None:
        log.info("%s: protocol error: %s; closing", self.peer, err.reason)
        self.counters.protocol_errors += 1
        if err.reply and isinstance(err.reply, BYTES_TYPES):
            self.write(err.reply)
        self.begin_close("protocol_error")

    def _handler_failed(self, method: str, exc: Exception, answer: object = None) -> None:
        """The one error path for handler code: report it, drop this connection."""
        name = type(self.handler).__name__
        if answer is not None and not isinstance(answer, BYTES_TYPES):
            what = f"{name}.{method} returned {type(answer).__name__}, not bytes"
        else:
            what = f"{name} raised in {method}"
        gone = "" if self.state is CLOSED else "; dropping this connection"
        self.counters.handler_crashes += 1
        self.loop.call_exception_handler({
            "message": f"{self.peer}: handler {what}{gone}", "exception": exc,
            "peer": self.peer, "handler": self.handler})
        self.abort(f"handler {what}", why="handler_error")

    def _empty_reply(self, reply: object) -> None:
        """A false answer that is not None: b"" (a message, nothing to send) or a bug."""
        if not isinstance(reply, BYTES_TYPES):
            raise TypeError(f"the answer must be bytes or None, not {type(reply).__name__}")
        self.last_progress = self.loop.now

    def _cancel_handler_timers(self) -> None:
        timers, self.handler_timers = self.handler_timers, None
        for handle in timers or ():
            handle.cancel()
