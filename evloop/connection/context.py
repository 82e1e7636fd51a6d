"""The handler's side of a connection: its context, and the one error path.

A handler is sans-IO: it is handed a context in `connection_made` and
asks it to send, close, wait, offload or connect (the powers listed in
evloop.handlers.context).  Under evloop that context is a
`ConnectionContext`, a part of the connection
(evloop.connection.connection) and the only part the handler sees: the
socket, the buffers and the state machine stay out of its reach.  The same
object makes the handler's calls that are not on the hot path
(connection_made, eof_received, connection_lost, pause_writing, timers and
offloaded work) and is the one error path for handler code.

Rules
-----
* `close()` stops reading at once, and the connection checks that its
  output has drained after the call it was made in, so a handler that
  answers "bye" and closes in the same `data_received` gets its "bye" sent
  first.  Before an outbound connection is open, `close()` and
  `write_eof()` are remembered, and done once it opens and has sent what
  was pushed to it.
* `pause_reading()` stops reading until `resume_reading()`, whatever the
  output does; backpressure (pause_writing) stops it too, on its own.
* Offloaded work (`--offload`) counts as a reply still due: closing waits
  for it, and a client with too much of it in flight stops being read.  A
  call that raises is given to `error=`, if the handler passed one, whose
  answer is sent like `then`'s; without one, it is the handler's bug.
* One error path: whatever handler code raises (other than ProtocolError),
  and any answer that is not bytes, is reported through the loop's
  exception handler with the peer's address, and this connection alone is
  aborted.  `connection_lost` is delivered with `call_soon`, after the call
  that ended the connection, never in the middle of it (asyncio's rule),
  so a chat broadcast that disconnects a member does not change the room
  while it is being walked.
* The idle clock (no complete message: evloop.handlers.base) is armed
  once per idle period: a message only stores the loop's clock in
  `last_progress`, and a timeout that finds progress re-arms for the time
  left.  The first arming joins the loop's queue of timeouts of that
  length (evloop.loop.timeouts), a dict store where a timer costs a heap
  push; the shorter re-arming is a timer of its own on the loop's heap.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.handler_timers import HandlerPeriodic
from evloop.connection.handler_timers import HandlerTimer
from evloop.connection.handler_timers import HandlerTimers
from evloop.connection.states import CLOSED
from evloop.connection.states import FLUSHING_STATES
from evloop.connection.states import LINGERING
from evloop.connection.states import LIVE_STATES
from evloop.connection.states import REPLYING_STATES
from evloop.connection.tls import ClientTLS
from evloop.handlers.addresses import Address
from evloop.handlers.base import BYTES_TYPES
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.base import WrongReturn
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.context import ServerContext
from evloop.handlers.context import offload_inline
from evloop.loop.offload import outcome
from evloop.loop.timeouts import Timeouts
from evloop.loop.timers import Timer
from evloop.settings.limits import MAX_PENDING_WORK

log = logging.getLogger("evloop")


class ConnectionContext:
    """A connection's context (evloop.handlers.context.Context), and its handler's calls."""

    __slots__ = ("connection", "timers", "idle")

    connection: Connection  # set by the connection it is given to (`attach`)

    def __init__(self) -> None:
        self.timers: HandlerTimers | None = None  # made at the first timer
        self.idle: Timer | Timeouts | None = None  # where the idle clock is armed (`_arm_idle`)

    def attach(self, connection: Connection) -> None:
        """Be `connection`'s handler side: the connection calls this as it is built."""
        self.connection = connection

    def __repr__(self) -> str:
        return f"<context of {self.connection!r}>"

    # -- for the handler -------------------------------------------------------------

    @property
    def peer(self) -> str:
        return self.connection.peer

    @property
    def peer_subject(self) -> str | None:
        tls = self.connection.tls
        return None if tls is None else tls.peer_subject()

    @property
    def server(self) -> ServerContext | None:
        return self.connection.owner.server_context

    def push(self, data: bytes | bytearray | memoryview) -> None:
        # No test of the type here: write() refuses what is not bytes-like (a str)
        # with TypeError, the handler's bug, and a relay pushes every message.
        self.connection.write(data)

    def close(self) -> None:
        self.connection.end("handler_close", after_call=True)

    def write_eof(self) -> None:
        self.connection.write_eof()

    def forward_to(self, other: Context | None) -> None:
        if other is not None and not isinstance(other, ConnectionContext):
            raise TypeError(f"forward_to() takes another TCP connection's context, or None, "
                            f"not {type(other).__name__}")
        self.connection.forward_to(None if other is None else other.connection)

    def abort(self) -> None:
        self.connection.end("handler_abort", now=True, reason="aborted by its handler")

    def is_closing(self) -> bool:
        return self.connection.is_closing()

    def pause_reading(self) -> None:
        self.connection.pause_reading(True)

    def resume_reading(self) -> None:
        self.connection.pause_reading(False)

    def set_idle_timeout(self, seconds: float | None) -> None:
        connection = self.connection
        connection.config = dataclasses.replace(connection.config, idle_timeout=seconds or 0)
        self._disarm_idle()
        if connection.state in LIVE_STATES:
            self._arm_idle()

    def time(self) -> float:
        return self.connection.loop.time()

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> HandlerTimer:
        handle = self._timers().add(delay, callback, args)
        if self.connection.state is CLOSED:
            handle.cancel()  # nobody will be there to call
        return handle

    def call_every(self, interval: float, callback: Callable[..., object],
                   *args: Any) -> HandlerPeriodic:
        handle = self._timers().every(interval, callback, args)
        if self.connection.state is CLOSED:
            handle.cancel()
        return handle

    def _timers(self) -> HandlerTimers:
        if self.timers is None:  # made at the first call, as most handlers set none
            self.timers = HandlerTimers(self.connection.loop, self._run_callback)
        return self.timers

    def offload(self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], Reply],
                error: Callable[[Exception], Reply] | None = None) -> Reply:
        offloader = self.connection.owner.offloader
        if offloader is None:
            return offload_inline(fn, args, then, error)  # type: ignore[no-any-return]
        connection = self.connection
        connection.pending_work += 1  # its reply is due: closing waits for it
        if connection.pending_work > MAX_PENDING_WORK:
            connection.output_full()  # backpressure on work, as on output
        offloader.submit(fn, args, lambda future: self._offloaded(future, then, error))
        return None

    def connect(self, address: Address | Sequence[Address], handler: Handler, *,
                tls: ClientTLS = None, server_hostname: str | None = None,
                timeout: float = 10.0, round_robin: bool = False) -> Context:
        return self.connection.owner.connect(address, handler, tls=tls,
                                             server_hostname=server_hostname, timeout=timeout,
                                             round_robin=round_robin)

    # -- for the connection: the handler's calls off the hot path ---------------------

    def opened(self) -> None:
        """The connection is open: the idle clock starts, and the handler."""
        self._arm_idle()
        self.answer("connection_made", self.connection.handler.connection_made, (self,))

    def answer(self, what: str, call: Callable[..., Reply], args: tuple[Any, ...]) -> None:
        """A handler call whose answer, if bytes, is sent."""
        reply = None
        try:
            reply = call(*args)
            if reply is not None:
                self.connection.last_progress = self.connection.loop.now
                self.push(reply)
        except ProtocolError as err:
            self.protocol_error(err)
        except Exception as exc:
            self.failed(what, exc, reply)

    def tell(self, what: str, call: Callable[..., object], *args: Any) -> None:
        """A handler call whose answer is not a reply."""
        if self.connection.state is CLOSED and what != "connection_lost":
            return
        try:
            call(*args)
        except ProtocolError as err:
            self.protocol_error(err)
        except Exception as exc:
            self.failed(what, exc)

    def _run_callback(self, what: str, call: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.tell(what, call, *args)

    def peer_eof(self) -> bool | None:
        """eof_received: True if the handler keeps the connection, False if not,
        None if it failed (the connection is gone then)."""
        connection = self.connection
        final = None
        try:
            final = connection.handler.eof_received()
            if final is True:
                return True
            if final is not None and final is not False:  # False: asyncio's "close"
                self.push(final)
        except ProtocolError as err:
            self._refuse(err)  # the peer's EOF, which follows, closes the connection
        except Exception as exc:
            self.failed("eof_received", exc, final)
            return None
        return False

    def protocol_error(self, err: ProtocolError) -> None:
        """The handler refused the peer's input: the answers due, then the close."""
        self._refuse(err)
        self.connection.end("protocol_error")

    def _refuse(self, err: ProtocolError) -> None:
        """One log line and one count for a ProtocolError, and its reply sent, if bytes."""
        connection = self.connection
        log.info("%s: protocol error: %s; closing", connection.peer, err.reason)
        connection.counters.protocol_errors += 1
        connection.ending("protocol_error")
        if err.reply and isinstance(err.reply, BYTES_TYPES):
            try:
                connection.write(err.reply)
            except RuntimeError:  # after write_eof: the reply cannot go
                pass

    def failed(self, what: str, exc: Exception, answer: object = None) -> None:
        """The one error path for handler code: report it, drop this connection."""
        connection = self.connection
        name = type(connection.handler).__name__
        if isinstance(exc, WrongReturn):  # the author's method, whatever helper called it
            problem = f"{name}.{exc.method} returned {type(exc.answer).__name__}, not bytes"
        elif answer is not None and not isinstance(answer, BYTES_TYPES):
            problem = f"{name}.{what} returned {type(answer).__name__}, not bytes"
        else:
            problem = f"{name} raised in {what}"
        gone = "" if connection.state is CLOSED else "; dropping this connection"
        connection.counters.handler_crashes += 1
        connection.loop.call_exception_handler({
            "message": f"{connection.peer}: handler {problem}{gone}", "exception": exc,
            "peer": connection.peer, "handler": connection.handler})
        connection.end("handler_error", now=True, reason=f"handler {problem}")

    def ended(self) -> None:
        """The connection is closed: no call the handler asked for runs now."""
        self._disarm_idle()
        if self.timers is not None:
            self.timers.cancel_all()

    # -- the idle clock (see the module docstring) ------------------------------------

    def _arm_idle(self, delay: float | None = None) -> None:
        timeout = self.connection.config.idle_timeout
        if not timeout:
            return
        if delay is None:
            queue = self.connection.loop.timeouts(timeout, ConnectionContext._on_idle)
            queue.arm(self)
            self.idle = queue
        else:
            self.idle = self.connection.loop.call_later(delay, self._on_idle)

    def _disarm_idle(self) -> None:
        idle = self.idle
        if idle is not None:
            self.idle = None
            if isinstance(idle, Timeouts):
                idle.disarm(self)
            else:
                idle.cancel()

    def _on_idle(self) -> None:
        self.idle = None
        connection = self.connection
        idle_timeout = connection.config.idle_timeout
        remaining = connection.last_progress + idle_timeout - connection.loop.now
        if remaining > 0:  # progress since the timer was armed
            return self._arm_idle(remaining)
        if connection.state in LIVE_STATES:
            log.info("%s: no complete message for %gs (--idle-timeout): closing",
                     connection.peer, idle_timeout)
            connection.last_progress = connection.loop.now
            connection.end("idle_timeout")
            if connection.state in FLUSHING_STATES:
                self._arm_idle()  # flushing to a client that does not read
        elif connection.state is not LINGERING:
            connection.end("idle_timeout", now=True, level=logging.INFO,
                           reason=f"no progress for {idle_timeout:g}s while "
                                  f"{connection.state.value} (--idle-timeout): dropping")

    # -- replies that come later -------------------------------------------------------

    def _offloaded(self, future: Future[Any], then: Callable[[Any], Reply],
                   error: Callable[[Exception], Reply] | None) -> None:
        """Work the handler offloaded (evloop.loop.offload) is done: answer with it."""
        connection = self.connection
        connection.work_done()
        if connection.state not in REPLYING_STATES or future.cancelled():
            return  # the client is gone, or we are closing: nobody wants it
        what, callback, argument = outcome(future, then, error)
        if callback is not None:
            self.answer(what, callback, (argument,))
        else:
            self.failed(what, argument if isinstance(argument, Exception) else Exception(argument))
        connection.check_flushed()  # that may have been the last reply due before closing
