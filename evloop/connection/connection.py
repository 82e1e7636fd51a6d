"""One TCP connection: a socket, an output buffer, a state machine, and its parts.

The connection moves bytes between its socket and its handler, driven by
the loop (its reader and writer) and by timers; once open, it is the only
place that reads or writes its socket.  It holds its parts rather than
inheriting them, as h11's connection holds its state: the handshakes
before open, the TLS session, the handler's side (`context`, the only
object the handler sees, and the one error path for handler code), the
lingerer after our FIN, and its `owner` (a server, or a loop's own).

`_transition` is the one place the state changes (the table and each
state's entry actions: evloop.connection.states), `_update_interest` the
one place that tells the loop what to watch, and `end()` the one path by
which a connection ends: in order (stop reading, send the replies due,
FIN, close) or, with `now`, at once; every reason it ends for (the handler,
a socket error, a failed handshake, a slow reader, a shutdown) goes there.

Rules
-----
* Read: one `read()` per wake-up, so one busy client cannot starve the
  others, handed to the handler as it is.
* Write: `write()` is tried at once when nothing is queued; what the kernel
  does not take waits in `out`, and a writer is watched only meanwhile.
* Backpressure: past `high_water` of output, reading stops and the handler
  hears `pause_writing()`, until `out` drains to `low_water`; `max_output`
  bounds what other connections push (chat, a relay), which backpressure
  cannot slow down.
* The peer's EOF closes the connection once the replies due are sent,
  unless `eof_received()` answers True (asyncio's rule).
* The hot path (`on_readable`) makes the system calls on the descriptor
  (`os.read`/`os.write`, which `set_io` lets TLS replace and instruments
  wrap), sizes its reads as evloop.connection.read_sizes says, and does not
  test the state (the loop calls it only while it is the installed reader)
  nor the type of a non-empty answer (os.write() refuses what is not bytes).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any
from typing import Protocol

from evloop.connection.handshakes import Failure
from evloop.connection.handshakes import Handshakes
from evloop.connection.lingering import Lingerer
from evloop.connection.lingering import shut_output
from evloop.connection.owner import Owner
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import after_large_read
from evloop.connection.splicing import Pipe
from evloop.connection.splicing import available as splice_available
from evloop.connection.states import Action
from evloop.connection.states import BEFORE_OPEN
from evloop.connection.states import CLOSED
from evloop.connection.states import CONNECTING
from evloop.connection.states import EOF_READ_STATES
from evloop.connection.states import EOF_SENT_STATES
from evloop.connection.states import Event
from evloop.connection.states import FIN_SENT
from evloop.connection.states import FLUSHING_STATES
from evloop.connection.states import HANDSHAKING
from evloop.connection.states import INPUT_ONLY
from evloop.connection.states import LIVE_STATES
from evloop.connection.states import ON_ENTRY
from evloop.connection.states import OPEN
from evloop.connection.states import OUTPUT_ONLY
from evloop.connection.states import PROXY_HEADER
from evloop.connection.states import READERS
from evloop.connection.states import Reader
from evloop.connection.states import SENDING_STATES
from evloop.connection.states import State
from evloop.connection.states import WRITABLE_STATES
from evloop.connection.states import next_state
from evloop.connection.tls import TLSSession
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters
from evloop.settings.config import Config
from evloop.settings.limits import RESUME_PENDING_WORK

log = logging.getLogger("evloop")

LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
SPLICE = splice_available()


class HandlerSide(Context, Protocol):
    """The handler's context, and what the connection asks of it (evloop.connection.context)."""

    def attach(self, connection: Connection) -> None: ...
    def opened(self) -> None: ...
    def answer(self, what: str, call: Callable[..., Reply], args: tuple[Any, ...]) -> None: ...
    def tell(self, what: str, call: Callable[..., object], *args: Any) -> None: ...
    def failed(self, what: str, exc: Exception, answer: object = None) -> None: ...
    def protocol_error(self, err: ProtocolError) -> None: ...
    def peer_eof(self) -> bool | None: ...
    def ended(self) -> None: ...


class Connection:
    """A connection, accepted or opened, built in one step with its handler's side.

    Methods for its owner: `start()`, `end(why, ...)`; the owner's
    `connection_closed(connection)` is called once, when it is CLOSED.
    Methods for the handler's side: `write`, `write_eof`, `end`,
    `pause_reading`, `is_closing`, `output_full`, `work_done`, `check_flushed`.
    """

    # Slots: no per-object dict, for memory (many idle connections) and for
    # the hot path's attribute reads.
    __slots__ = ("loop", "sock", "fd", "sys_read", "sys_write", "read_size", "small_reads",
                 "state", "out", "reader", "writer", "config", "handler", "context", "peer",
                 "owner", "counters", "reads", "replies", "pending_work", "output_high",
                 "reading_paused", "lost_due", "early_end", "error", "tls", "handshakes",
                 "lingerer", "last_progress", "ended_by", "forward", "pipe")

    def __init__(self, loop: BaseLoop, sock: socket.socket | None, peer: str, handler: Handler,
                 config: Config, owner: Owner, counters: Counters, *, context: HandlerSide,
                 tls: TLSSession | None = None, proxy_header: bool = False,
                 dialer: Any = None) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = -1 if sock is None else sock.fileno()
        self.sys_read: Callable[[int, int], bytes] = os.read
        self.sys_write: Callable[[int, Any], int] = os.write
        self.read_size = SMALL_READ
        self.small_reads = 0  # small reads in a row while reading large
        self.peer = peer
        self.handler = handler
        self.config = config  # high_water, low_water, max_output, idle_timeout
        self.owner = owner
        self.counters = counters
        self.out = bytearray()
        self.reader: Callable[[Connection], None] | None = None  # the installed reader
        self.writer: Callable[[Connection], None] | None = None  # and writer
        self.reads = 0  # data_received calls, and replies sent (evloop.metrics.counters)
        self.replies = 0
        self.pending_work = 0  # offloaded calls whose replies are still due
        self.output_high = False  # above high water: the handler was told pause_writing
        self.reading_paused = False  # the handler's pause_reading()
        self.lost_due = dialer is not None  # will the handler hear connection_lost?
        self.early_end: Event | None = None  # close/write_eof asked before it opened
        self.error: Exception | None = None  # what ended it, for connection_lost
        self.tls = tls
        self.lingerer: Lingerer | None = None
        self.last_progress = loop.now  # the loop's clock at the last complete message
        self.ended_by: str | None = None  # why it ended: the first reason given (metrics)
        self.forward: Connection | None = None  # where what is read goes (forward_to)
        self.pipe: Pipe | None = None  # for splicing what it forwards (evloop.connection.splicing)
        self.state = (CONNECTING if dialer is not None else PROXY_HEADER if proxy_header
                      else HANDSHAKING if tls is not None else OPEN)
        self.handshakes = None if self.state is OPEN else Handshakes(
            loop, sock, peer, dialer=dialer, proxy_header=proxy_header, tls=tls,
            proxy_allow=config.proxy_networks, handshake_timeout=config.handshake_timeout,
            on_step=self._transition, on_open=self._opened, on_fail=self._open_failed)
        self.context = context
        context.attach(self)

    def __repr__(self) -> str:
        return f"<Connection {self.peer} {self.state!r} out={len(self.out)}>"

    def start(self) -> None:
        """Greet (connection_made), or first connect, read the proxy's header or
        shake hands (evloop.connection.handshakes)."""
        instruments = self.loop.instruments
        if instruments.hooks:  # tracing: the instruments see it start, and may wrap it
            instruments.call("connection_started", self)
            for wrap in instruments.get("wrap_handler"):
                try:
                    self.handler = wrap(self, self.handler)
                except Exception as exc:
                    instruments.report(exc, wrap)
            self.set_io(self.sys_read, self.sys_write)  # the first pair, wrapped too
        if self.handshakes is not None:
            return self.handshakes.start()
        self._enter(OPEN, None, None)  # accepted, no handshake: open from the start

    # -- events from the loop: the hot path -------------------------------------

    def on_readable(self) -> None:
        """The reader while OPEN and not paused (see the module docstring)."""
        size = self.read_size
        try:
            data = self.sys_read(self.fd, size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not data:
            return self._on_peer_eof()
        self.reads += 1  # evloop.metrics: two counts a message, the other one below
        if len(data) == size:
            self.read_size = LARGE_READ  # the buffer was full: more may be waiting
        elif size == LARGE_READ and (self.small_reads or len(data) <= SMALL_READ):
            self.read_size, self.small_reads = after_large_read(len(data), self.small_reads)
        reply = None
        try:
            reply = self.handler.data_received(data)
            if reply:
                self.last_progress = self.loop.now
                if self.out:
                    self._queue(reply, 0)
                else:  # write()'s fast path, inlined: it runs once per message
                    try:
                        sent = self.sys_write(self.fd, reply)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except OSError as exc:
                        return self._lost(exc, "send")
                    if sent != len(reply):
                        self._queue(reply, sent)
                self.replies += 1  # reached only if the reply was bytes
            elif reply is not None:
                if reply.__class__ is not bytes and not isinstance(reply, (bytearray, memoryview)):
                    raise TypeError(f"the answer must be bytes or None, not "
                                    f"{type(reply).__name__}")
                self.last_progress = self.loop.now  # b"": a message, nothing to send
        except ProtocolError as err:
            self.context.protocol_error(err)
        except Exception as exc:  # free in CPython 3.11+ until one is raised
            self.context.failed("data_received", exc, reply)

    def on_writable(self) -> None:
        """The writer, installed while `out` holds bytes the kernel did not take."""
        out = self.out
        try:
            sent = self.sys_write(self.fd, out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "send")
        del out[:sent]
        self.last_progress = self.loop.now
        if (self.output_high and len(out) <= self.config.low_water
                and self.pending_work <= RESUME_PENDING_WORK):
            self._output_drained()
        if not out:
            if self.state in FLUSHING_STATES:
                self.check_flushed()
            else:
                self._update_interest()

    def _forwarding(self) -> None:
        """The reader while the handler forwards (`forward_to`): what is read is written
        to the other connection as it came, and no handler is called for it; a large
        read between plain sockets is spliced instead (evloop.connection.splicing)."""
        size = self.read_size
        target: Connection = self.forward  # type: ignore[assignment]  # set while installed
        if (size == LARGE_READ and SPLICE and not target.out and target.state is OPEN
                and self.sys_read is os.read and target.sys_write is os.write
                and self._splice(target)):
            return
        try:
            data = self.sys_read(self.fd, size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not data:
            return self._on_peer_eof()
        self.reads += 1
        if len(data) == size:
            self.read_size = LARGE_READ
        elif size == LARGE_READ and (self.small_reads or len(data) <= SMALL_READ):
            self.read_size, self.small_reads = after_large_read(len(data), self.small_reads)
        self.last_progress = now = self.loop.now
        if target.state is OPEN and not target.out:  # write()'s fast path, inlined: per read
            target.last_progress = now
            target.replies += 1
            try:
                sent = target.sys_write(target.fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                return target._lost(exc, "send")
            if sent != len(data):
                target._queue(data, sent)
            return
        try:
            target.write(data)
        except Exception as exc:  # the other side sent its EOF: the handler's bug
            self.context.failed("forward_to", exc)

    def _splice(self, target: Connection) -> bool:
        """One large forwarded read moved in the kernel; False if no pipe can be made."""
        pipe = self.pipe
        if pipe is None:
            try:
                pipe = self.pipe = Pipe()
            except OSError as exc:  # out of descriptors: copy this one
                log.debug("%s: cannot splice: %s", self.peer, exc.strerror)
                return False
        try:
            got = pipe.take(self.fd, LARGE_READ)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            self._lost(exc, "recv")
            return True
        if not got:
            self._on_peer_eof()
            return True
        self.reads += 1
        if self.small_reads or got <= SMALL_READ:
            self.read_size, self.small_reads = after_large_read(got, self.small_reads)
        self.last_progress = now = self.loop.now
        try:
            rest = pipe.give(target.fd, got)
        except OSError as exc:
            target._lost(exc, "send")
            return True
        if rest:  # what the other socket did not take: queued there, as a copy would be
            target.write(rest)
        else:
            target.replies += 1
            target.last_progress = now
        return True

    def forward_to(self, other: Connection | None) -> None:
        """From now on, what is read goes to `other` unread by the handler (None: to the
        handler again); EOF, flow control and the end still reach the handler."""
        if other is self:
            raise ValueError("a connection cannot forward to itself")
        self.forward = other
        if self.handshakes is None and self.state is not CLOSED:
            self._update_interest()

    def _read_without_replies(self) -> None:
        """The reader after our EOF (write_eof): the same, but no reply may go."""
        try:
            data = self.sys_read(self.fd, LARGE_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not data:
            return self._on_peer_eof()
        self.reads += 1
        self.context.answer("data_received", self.handler.data_received, (data,))

    # -- writing ------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` after everything queued before it (queued only, before open)."""
        state = self.state
        self.last_progress = self.loop.now  # being served: not idle
        if state is OPEN and not self.out:  # the common case, first: a relay's every push
            self.replies += 1
            try:
                sent = self.sys_write(self.fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                return self._lost(exc, "send")
            if sent != len(data):
                self._queue(data, sent)
            return
        if state not in WRITABLE_STATES:
            if state in EOF_SENT_STATES and data:
                raise RuntimeError("cannot send after write_eof()")
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"push() takes bytes, not {type(data).__name__}")
            return  # closed, or closing with FIN sent: nobody will read it
        self.replies += 1
        if self.out or state in BEFORE_OPEN:
            return self._queue(data, 0)
        try:
            sent = self.sys_write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            return self._lost(exc, "send")
        if sent != len(data):
            self._queue(data, sent)

    def _queue(self, data: bytes | bytearray | memoryview, sent: int) -> None:
        """Queue what the kernel did not take (`data[sent:]`); enforce the bounds."""
        out, was_empty = self.out, not self.out
        out += memoryview(data)[sent:] if sent else data
        if was_empty:
            self._update_interest()
        if len(out) > self.config.max_output:
            return self.end("slow_reader", now=True, level=logging.WARNING,
                            reason=f"{len(out)} bytes of output pending, over --max-output "
                                   f"{self.config.max_output}: disconnecting a slow reader")
        if len(out) > self.config.high_water:
            self.output_full()

    def output_full(self) -> None:
        """Backpressure: stop reading, and tell the handler, until output drains."""
        if not self.output_high and self.state is not CLOSED:
            self.output_high = True
            self.counters.backpressure_pauses += 1
            self._update_interest()
            self.context.tell("pause_writing", self.handler.pause_writing)

    def _output_drained(self) -> None:
        self.output_high = False
        self._update_interest()
        self.context.tell("resume_writing", self.handler.resume_writing)

    def work_done(self) -> None:
        """One offloaded call came back: reading may resume."""
        self.pending_work -= 1
        if (self.output_high and self.pending_work <= RESUME_PENDING_WORK
                and len(self.out) <= self.config.low_water):
            self._output_drained()

    # -- the state machine ----------------------------------------------------------

    def _transition(self, event: Event) -> None:
        """The one place the state changes: the new state, then its entry actions."""
        old = self.state
        new = self.state = next_state(old, event)
        hooks = self.loop.instruments.hooks.get("state_changed")
        if hooks:
            self.loop.instruments.notify(hooks, self, old, new, event)
        if new is not old:  # close while closing: nothing is entered, nothing runs again
            self._enter(new, old, event)

    def _enter(self, new: State, old: State | None, event: Event | None) -> None:
        """`new`'s entry actions, in order (ON_ENTRY); `old` and `event` are None when
        a connection starts in it (an accepted one with no handshake: OPEN)."""
        for action in ON_ENTRY[new]:
            ENTRY_ACTIONS[action](self, old, event)
            if self.state is not new:
                return  # the action ended the connection (a FIN the socket refused)

    def check_flushed(self) -> None:
        """The output drained (and, unless only the write side ends, the work due)."""
        state = self.state
        if (state in FLUSHING_STATES and not self.out
                and (not self.pending_work or state is INPUT_ONLY)):
            self._transition(Event.FLUSHED)

    def _update_interest(self) -> None:
        """Make the loop hold the reader and writer that the state and the fields
        call for.  The only place that adds or removes them, once open."""
        state = self.state
        reader = STATE_READERS.get(state)
        if reader is not None and self.forward is not None:
            reader = Connection._forwarding
        if self.reading_paused or (self.output_high and self.handler.backpressure_stops_reading):
            reader = None
        if reader is not self.reader:
            if reader is None:
                self.loop.remove_reader(self.fd)
            else:
                self.loop.add_reader(self.fd, reader.__get__(self))
                if self.tls is not None:
                    self.loop.call_soon(self._read_pending)  # OpenSSL may hold some
            self.reader = reader
        writer = Connection.on_writable if self.out and state in SENDING_STATES else None
        if writer is not self.writer:
            if writer is None:
                self.loop.remove_writer(self.fd)
            else:
                self.loop.add_writer(self.fd, self.on_writable)
            self.writer = writer

    def _read_pending(self) -> None:
        """Read what OpenSSL holds (plaintext that epoll cannot see), if reading."""
        if self.reader is not None:
            self.reader(self)

    # -- entry actions (evloop.connection.states.ON_ENTRY) ----------------------------

    def _enter_watching(self, old: State | None, event: Event | None) -> None:
        self._update_interest()

    def _enter_started(self, old: State | None, event: Event | None) -> None:
        """OPEN: the handler starts (evloop.connection.context), then what was asked before."""
        self.lost_due = True
        self.context.opened()
        if self.out and self.writer is not None:
            self.on_writable()  # what was pushed before the connection was up
        if self.early_end is Event.CLOSE and self.state is not CLOSED:
            self.end("handler_close", after_call=True)
        elif self.early_end is Event.WRITE_EOF and self.state is not CLOSED:
            self.write_eof()

    def _send_fin(self, old: State | None, event: Event | None) -> None:
        """Our FIN (after close_notify, over TLS), once; the socket's error ends it instead."""
        if old is FIN_SENT:
            return
        try:
            shut_output(self.sock, self.tls)  # type: ignore[arg-type]  # open: it is there
        except OSError as exc:
            self._lost(exc, "shutdown")

    def _enter_lingering(self, old: State | None, event: Event | None) -> None:
        """FIN is sent: a Lingerer drops the peer's input until its EOF (evloop.connection.lingering)."""
        if self.tls is not None:  # what is left to read is dropped, not decrypted
            self.set_io(os.read, os.write)
        self.lingerer = Lingerer(self.loop, self.fd, self.sys_read, self._lingered)
        self.lingerer.start()

    def _enter_closed(self, old: State | None, event: Event | None) -> None:
        """Close the socket and let go of everything; tell the handler and the owner."""
        eof_read = event is Event.PEER_EOF or event is Event.PEER_EOF_KEPT or old in EOF_READ_STATES
        self.output_high = False
        if self.reader is not None or self.writer is not None:
            self._update_interest()  # neither reader nor writer
        for part in (self.handshakes, self.lingerer):
            if part is not None:
                part.cancel()
        self.handshakes = self.lingerer = None
        self.forward = None
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        self.context.ended()  # its timers, the idle one among them
        self.out.clear()
        self.counters.connection_ended(self.sock, self.reads, self.replies, self.ended_by,
                                       eof_read)
        if self.sock is not None:
            self.sock.close()
        self.fd = -1  # a late read or write fails (EBADF), never reaching a reused number
        # Handler's own connection_lost does nothing: a handler that keeps it is not
        # called, and a connection under churn queues no callback for it.
        lost = self.handler.connection_lost
        if self.lost_due and getattr(lost, "__func__", None) is not Handler.connection_lost:
            self.loop.call_soon(self.context.tell, "connection_lost", lost, self.error)
        self.owner.connection_closed(self)

    # -- opening, and the handler's asks ------------------------------------------------

    def _opened(self, event: Event, sock: socket.socket, peer: str,
                header: ProxyHeader | None) -> None:
        """The handshakes are done: the socket (maybe now an SSL socket) is ours."""
        self.handshakes = None
        self.sock, self.fd, self.peer = sock, sock.fileno(), peer
        if header is not None:
            self.loop.instruments.call("proxy_header_read", self, header)
        if self.tls is not None:
            self.counters.tls_handshakes += 1
            self.set_io(*self.tls.io(lambda: self.loop.call_soon(self._read_pending)))
        self._transition(event)

    def set_io(self, read: Callable[[int, int], bytes], write: Callable[[int, Any], int]) -> None:
        """The hot path's two system calls: TLS replaces them, an instrument may wrap them
        (its `wrap_io(connection, read, write)` returns the pair to use)."""
        instruments = self.loop.instruments
        for wrap in instruments.get("wrap_io"):
            try:
                read, write = wrap(self, read, write)
            except Exception as exc:
                instruments.report(exc, wrap)
        self.sys_read, self.sys_write = read, write

    def _open_failed(self, failure: Failure) -> None:
        if self.handshakes is not None and self.handshakes.sock is not None:
            self.sock = self.handshakes.sock  # maybe an SSL socket now: the one to close
        self.handshakes = None
        self.counters.open_failed(failure.why, self.tls is not None, failure.error)
        self.end(failure.why, now=True, reason=failure.reason, error=failure.error,
                 level=logging.DEBUG if self.lost_due else logging.INFO)

    def _on_peer_eof(self) -> None:
        """The peer's EOF, read while reading (OPEN, INPUT_ONLY, FIN_SENT)."""
        kept = self.context.peer_eof()
        if kept is None or self.state is CLOSED:
            return  # the handler failed, and the connection is gone
        if not kept:
            self.ending("peer_eof")
        self._transition(Event.PEER_EOF_KEPT if kept else Event.PEER_EOF)
        self.check_flushed()  # the replies due may be sent already

    def write_eof(self) -> None:
        """The handler's write_eof(): our EOF once the replies due are sent, reading on
        (remembered until open, before it)."""
        state = self.state
        if state in BEFORE_OPEN:
            if self.early_end is None:
                self.early_end = Event.WRITE_EOF
        elif state is OPEN or state is OUTPUT_ONLY:
            self.ending("handler_close")  # the handler ends its half
            self._transition(Event.WRITE_EOF)
            self.loop.call_soon(self.check_flushed)  # after the handler's call, whose reply comes first

    def is_closing(self) -> bool:
        if self.state in BEFORE_OPEN:
            return self.early_end is Event.CLOSE
        return self.state not in LIVE_STATES

    def pause_reading(self, paused: bool) -> None:
        """The handler's pause_reading() (True) and resume_reading() (False)."""
        if paused != self.reading_paused:
            self.reading_paused = paused
            self.loop.instruments.call("reading_paused", self, paused)
            if self.handshakes is None and self.state is not CLOSED:
                self._update_interest()

    # -- ending ---------------------------------------------------------------------

    def end(self, why: str, *, now: bool = False, after_call: bool = False,
            reason: str | None = None, level: int = logging.DEBUG, reset: bool = False,
            error: Exception | None = None) -> None:
        """The one path that ends a connection.

        In order by default: stop reading, send the replies due, FIN, then
        close; with `after_call` (the handler's own close()), the reply of the
        call under way is sent first, and before open it is remembered until
        then.  With `now`: at once, whatever is queued (`reset` sends RST, so
        the peer sees an error, never a clean EOF after a torn reply).  `why`
        is the reason the metrics count (evloop.metrics.counters.CLOSE_REASONS,
        the first one given wins), `reason` a line for the log at `level`,
        `error` what connection_lost hears."""
        if reset and not now:
            raise ValueError("reset=True ends a connection now: pass now=True too")
        if after_call and now:
            raise ValueError("after_call is the handler's orderly close: not with now=True")
        state = self.state
        if state is CLOSED:
            return
        if after_call:
            if state in BEFORE_OPEN:
                self.early_end = Event.CLOSE
                return
            if state not in LIVE_STATES:
                return  # closing already
        self.ending(why)
        if error is not None:
            self.error = error
        if reason is not None:
            log.log(level, "%s: %s", self.peer, reason)
        if now:
            if reset and self.sock is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            return self._transition(Event.ABORT)
        self._transition(Event.CLOSE)
        if after_call:
            self.loop.call_soon(self.check_flushed)
        else:
            self.check_flushed()

    def ending(self, why: str) -> None:
        """Record why the connection ends, unless a reason came first."""
        if self.ended_by is None:
            self.ended_by = why

    def _lost(self, exc: OSError, call: str) -> None:
        """The socket failed (a reset, a broken pipe): the connection ends now."""
        self.end("error", now=True, reason=f"{call}: {exc.strerror or exc}", error=exc)

    def _lingered(self, event: Event, error: OSError | None) -> None:
        self.lingerer = None
        if error is not None:
            return self._lost(error, "recv")
        self._transition(event)


# The readers, and each state's entry actions, as the tables of
# evloop.connection.states name them.
READER_METHODS: dict[Reader, Callable[[Connection], None]] = {
    Reader.REPLYING: Connection.on_readable,
    Reader.NOT_REPLYING: Connection._read_without_replies,
}
STATE_READERS = {state: READER_METHODS[reader] for state, reader in READERS.items()}
ENTRY_ACTIONS: dict[Action, Callable[[Connection, State | None, Event | None], None]] = {
    Action.WATCH: Connection._enter_watching,
    Action.START: Connection._enter_started,
    Action.SEND_FIN: Connection._send_fin,
    Action.LINGER: Connection._enter_lingering,
    Action.RELEASE: Connection._enter_closed,
}
