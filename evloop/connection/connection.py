"""One TCP connection: a socket, an output buffer, a state machine, and its parts.

The connection moves bytes between its socket and its handler.  It is
driven by the loop (its reader and writer) and by timers, and it is the
only place that reads or writes its socket once it is open.

It is one object around its state machine (evloop.connection.states), made of parts
it holds rather than inherits, as h11's connection holds its state:

* `opener` (evloop.connection.handshakes): the steps before open (the outbound connect,
  the PROXY header, the TLS handshake), which own the socket until done;
* `tls` (evloop.connection.tls): the TLS session, if any, which lends the hot path its
  read and write and sends close_notify at the end of output;
* `context` (evloop.connection.context): the handler's side, the only object the
  handler sees; it makes the handler's calls outside the hot path and holds
  the one error path for handler code;
* `home` (evloop.connection.owner): the server, or the loop, the connection belongs to,
  which lends it a pool, opens its outbound connections and hears when it
  closes; `counters`, its figures (evloop.metrics).

`_transition` is the one place the state changes, and `_update_interest`
the one place that tells the loop what to watch, from the state and two
named fields: `output_high` (the handler was told pause_writing) and
`reading_paused` (the handler's own pause_reading()).

Rules
-----
* Read: one `read()` per wake-up, so one busy client cannot starve the
  others, handed to the handler as it is.
* Write: `write()` is tried at once when nothing is queued (most replies
  leave right there, with no selector call); what the kernel does not take
  is queued in `out`, and a writer is watched only while `out` is not
  empty.  Before an outbound connection is up, writes are only queued.
* Backpressure: when `out` passes `high_water`, reading stops and the
  handler hears `pause_writing()`, until `out` drains to `low_water`
  (`resume_writing()`), so a client that sends and never reads cannot grow
  the server's memory.  `max_output` is the hard bound for bytes pushed by
  *other* connections (chat, a relay's other side), which backpressure
  cannot slow down.
* Closing is orderly (evloop.connection.lingering): the replies due are sent, then FIN,
  then input is read and discarded until the peer's EOF.  A handler's
  `close()` stops reading at once, and the output is checked for "drained"
  after the call it was made in, so the reply of that call is sent first.
* The peer's EOF closes the connection once the replies due are sent,
  unless `eof_received()` answers True (asyncio's rule): then it stays open
  for writing until the handler closes it or sends its own EOF.
* Handler code fails through one path (evloop.connection.context): reported through
  the loop's exception handler, and this connection alone is aborted.
  `connection_lost` comes with `call_soon`, after the call that ended the
  connection.  ECONNRESET, EPIPE and friends are ordinary disconnects.

The hot path
------------
Ping-pong echo spends most of the server's CPU in the kernel (the read(),
the write() and the loopback delivery to the peer), so the Python around
them is what this module can save.  `on_readable` is written for that, and
each choice was counted with callgrind (user-space instructions per
100-byte message; `python3 -m bench.instructions`):

* `os.read()` / `os.write()` on the descriptor instead of `sock.recv()` /
  `sock.send()`: as many system calls (strace), without the socket
  methods' argument parsing and timeout handling: about 1,000 fewer
  instructions per message (`python3 -m bench.micro_io`).  The descriptor
  is set to -1 when the socket closes, so a late call fails with EBADF
  instead of reaching whatever file reuses the number.
* Reads start small (SMALL_READ): a bytes object of up to 479 bytes comes
  from Python's own small-object allocator, a 64 KiB one from malloc() and
  is then shrunk with realloc(): about 700 instructions more.  A read that
  fills the buffer switches to LARGE_READ, 126 KiB, the most glibc's heap
  serves: from 128 KiB malloc() maps fresh pages, so a 256 KiB read
  (asyncio's) costs an mmap, an mremap and a munmap every time: 144 us per
  100 KiB message against 25 us at 126 KiB (a socketpair, one process).
  SMALL_READS_TO_SHRINK small reads in a row switch back; not one, because
  a 64 KiB message crosses loopback in two segments, of 65,483 and 53
  bytes, and its tail alone must not make the next message cost two reads.
* No state test and no test of the answer's type: the loop calls
  `on_readable` only while it is the installed reader (OPEN, not paused),
  and os.write() itself refuses what is not bytes-like (a str), which the
  `except` clause, free until something is raised, turns into the
  handler's error.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any
from typing import Protocol

from evloop.settings.config import Config
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply
from evloop.connection.lingering import Lingerer
from evloop.connection.lingering import shut_output
from evloop.connection.owner import Owner
from evloop.settings.limits import RESUME_PENDING_WORK
from evloop.loop.base import BaseLoop
from evloop.metrics.counters import Counters
from evloop.connection.handshakes import Failure
from evloop.connection.handshakes import Handshakes
from evloop.connection import states
from evloop.connection.states import BEFORE_OPEN
from evloop.connection.states import CLOSED
from evloop.connection.states import FLUSHING_STATES
from evloop.connection.states import INPUT_ONLY
from evloop.connection.states import LIVE_STATES
from evloop.connection.states import OPEN
from evloop.connection.states import WRITABLE_STATES
from evloop.connection.states import Event
from evloop.connection.states import State
from evloop.connection.tls import TLSSession

log = logging.getLogger("evloop")

LARGE_READ = 126 * 1024  # under glibc's 128 KiB mmap threshold, bytes header included
SMALL_READ = 479  # + the bytes object's 33-byte header = 512, pymalloc's largest block
SMALL_READS_TO_SHRINK = 4


class HandlerSide(Protocol):
    """What the connection asks of its handler's side (evloop.connection.context)."""

    def opened(self) -> None: ...
    def answer(self, what: str, call: Callable[..., Reply], args: tuple[Any, ...]) -> None: ...
    def tell(self, what: str, call: Callable[..., object], *args: Any) -> None: ...
    def failed(self, what: str, exc: Exception, answer: object = None) -> None: ...
    def protocol_error(self, err: ProtocolError) -> None: ...
    def peer_eof(self) -> bool | None: ...
    def ended(self) -> None: ...


class Connection:
    """A connection, accepted or opened.  Its home calls `start()`; the loop does the rest.

    Methods for the handler's side: `write`, `ask` (close, write_eof), `abort`,
    `begin_close`, `pause_reading`, `is_closing`, `set_idle_timeout`,
    `output_full`, `work_done`, `check_flushed`.  Methods for the home:
    `start()`, `begin_close(why)`, `abort(reason, level, reset, why)`;
    `home.connection_closed(connection)` is called once, when the state
    becomes CLOSED.
    """

    # Attributes in the object itself, not in a separate dict: 192 bytes a
    # connection instead of 248 with 19 of them (tracemalloc, 10,000
    # objects), and one allocation fewer to touch per message.
    __slots__ = ("loop", "sock", "fd", "sys_read", "sys_write", "read_size", "small_reads",
                 "state", "out", "reader", "writer", "config", "handler", "context", "peer",
                 "home", "counters", "reads", "replies", "pending_work", "output_high",
                 "reading_paused", "lost_due", "early_end", "error", "tls", "opener", "lingerer",
                 "last_progress", "ended_by")

    def __init__(self, loop: BaseLoop, sock: socket.socket | None, peer: str, handler: Handler,
                 config: Config, home: Owner, counters: Counters, *,
                 tls: TLSSession | None = None, proxy_header: bool = False,
                 dialer: Any = None) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = -1 if sock is None else sock.fileno()
        # The hot path's two system calls; --trace wraps them, TLS replaces them.
        self.sys_read: Callable[[int, int], bytes] = os.read
        self.sys_write: Callable[[int, Any], int] = os.write
        self.read_size = SMALL_READ
        self.small_reads = 0  # small reads in a row while reading large
        self.peer = peer
        self.handler = handler
        self.context: HandlerSide | None = None  # set by the handler's side when it is made
        self.config = config  # high_water, low_water, max_output, idle_timeout
        self.home = home
        self.counters = counters
        self.out = bytearray()
        self.reader: Callable[[Connection], None] | None = None  # the installed reader
        self.writer: Callable[[Connection], None] | None = None  # and writer
        self.reads = 0  # data_received calls, and replies sent (evloop.metrics)
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
        self.state = (states.CONNECTING if dialer is not None
                      else states.PROXY_HEADER if proxy_header
                      else states.HANDSHAKING if tls is not None else states.OPEN)
        self.opener = None if self.state is states.OPEN else Handshakes(
            loop, sock, peer, dialer=dialer, proxy_header=proxy_header, tls=tls,
            handshake_timeout=config.handshake_timeout, on_step=self._transition,
            on_open=self._opened, on_fail=self._open_failed, on_header=self._header_read)

    def __repr__(self) -> str:
        return f"<Connection {self.peer} {self.state!r} out={len(self.out)}>"

    def start(self) -> None:
        """Greet (connection_made), or first connect, read the proxy's header or
        shake hands (evloop.connection.handshakes)."""
        if self.opener is not None:
            return self.opener.start()
        self._open()

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
        elif size == LARGE_READ:
            self._after_large_read(len(data))
        reply = None
        try:
            reply = self.handler.data_received(data)
            if reply:
                self.last_progress = self.loop.now
                if self.out:
                    self._queue(reply, 0)
                else:  # write()'s fast path, inlined: most replies leave here, and
                    # a call to write() would cost a Python call (~300 instructions)
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
            self.context.protocol_error(err)  # type: ignore[union-attr]  # open: it is there
        except Exception as exc:  # free in CPython 3.11+ until one is raised
            self.context.failed("data_received", exc, reply)  # type: ignore[union-attr]

    def _after_large_read(self, size: int) -> None:
        """Back to small reads after SMALL_READS_TO_SHRINK small ones in a row."""
        self.small_reads = self.small_reads + 1 if size <= SMALL_READ else 0
        if self.small_reads >= SMALL_READS_TO_SHRINK:
            self.read_size, self.small_reads = SMALL_READ, 0

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

    def _read_input_only(self) -> None:
        """The reader in INPUT_ONLY (after write_eof): the same, but no reply may go."""
        try:
            data = self.sys_read(self.fd, LARGE_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "recv")
        if not data:
            return self._on_peer_eof()
        self.reads += 1
        self.context.answer("data_received", self.handler.data_received,  # type: ignore
                            (data,))

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
            if state is INPUT_ONLY and data:
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
            return self.abort(f"{len(out)} bytes of output pending, over --max-output "
                              f"{self.config.max_output}: disconnecting a slow reader",
                              level=logging.WARNING, why="slow_reader")
        if len(out) > self.config.high_water:
            self.output_full()

    def output_full(self) -> None:
        """Backpressure: stop reading, and tell the handler, until output drains."""
        if not self.output_high and self.state is not CLOSED:
            self.output_high = True
            self.counters.backpressure_pauses += 1
            self._update_interest()
            if self.context is not None:
                self.context.tell("pause_writing", self.handler.pause_writing)

    def _output_drained(self) -> None:
        self.output_high = False
        self._update_interest()
        if self.context is not None:
            self.context.tell("resume_writing", self.handler.resume_writing)

    def work_done(self) -> None:
        """One offloaded call came back: reading may resume."""
        self.pending_work -= 1
        if (self.output_high and self.pending_work <= RESUME_PENDING_WORK
                and len(self.out) <= self.config.low_water):
            self._output_drained()

    # -- the state machine ----------------------------------------------------------

    def _transition(self, event: Event) -> None:
        try:
            new = TRANSITIONS[self.state, event]
        except KeyError:
            raise RuntimeError(f"{self!r}: no transition on {event!r}") from None
        old, self.state = self.state, new
        if new is CLOSED:
            eof_read = event is Event.PEER_EOF or event is Event.PEER_EOF_KEPT
            return self._release(eof_read or old in EOF_READ)
        if new is states.LINGERING or (new is INPUT_ONLY and event is Event.FLUSHED):
            if not self._shut_output():
                return
        if new is states.LINGERING:
            return self._linger()
        self._update_interest()
        if new in FLUSHING_STATES and (event is Event.PEER_EOF or event is Event.PEER_EOF_KEPT):
            self.check_flushed()

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
        reader = READERS.get(state)
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
        writer = Connection.on_writable if self.out and state in SENDING else None
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

    def _release(self, eof_read: bool = False) -> None:
        """Close the socket and let go of everything; `eof_read`: the peer's FIN was read."""
        self.output_high = False
        self.state = CLOSED
        self._update_interest()  # neither reader nor writer
        for part in (self.opener, self.lingerer):
            if part is not None:
                part.cancel()
        self.opener = self.lingerer = None
        if self.context is not None:
            self.context.ended()  # its timers, the idle one among them
        self.out.clear()
        self.counters.connection_ended(self.sock, self.reads, self.replies, self.ended_by,
                                       eof_read)
        if self.sock is not None:
            self.sock.close()
        self.fd = -1  # a late read or write fails (EBADF), never reaching a reused number
        if self.lost_due and self.context is not None:
            self.loop.call_soon(self.context.tell, "connection_lost",
                                self.handler.connection_lost, self.error)
        self.home.connection_closed(self)

    # -- opening, and the handler's asks ------------------------------------------------

    def _opened(self, event: Event, sock: socket.socket, peer: str) -> None:
        """The opener is done: the socket (maybe now an SSL socket) is ours."""
        self.opener = None
        self.sock, self.fd, self.peer = sock, sock.fileno(), peer
        if self.tls is not None:
            self.counters.tls_handshakes += 1
            self.set_io(*self.tls.io(lambda: self.loop.call_soon(self._read_pending)))
        self._transition(event)
        self._open()

    def set_io(self, read: Callable[[int, int], bytes], write: Callable[[int, Any], int]) -> None:
        """The hot path's two system calls (TLS replaces them; --trace wraps them)."""
        self.sys_read, self.sys_write = read, write

    def _header_read(self, header: Any) -> None:
        """The opener took a PROXY header (--trace narrates it)."""

    def _open_failed(self, failure: Failure) -> None:
        if self.opener is not None and self.opener.sock is not None:
            self.sock = self.opener.sock  # maybe an SSL socket now: the one to close
        self.opener = None
        self.error = failure.error
        self.counters.open_failed(failure.why, self.tls is not None, failure.error)
        self.abort(failure.reason, level=logging.DEBUG if self.lost_due else logging.INFO,
                   why=failure.why)

    def _open(self) -> None:
        """OPEN: the handler starts (evloop.connection.context), then what was asked before."""
        self._update_interest()
        self.lost_due = True
        assert self.context is not None
        self.context.opened()
        if self.out and self.writer is not None:
            self.on_writable()  # what was pushed before the connection was up
        if self.early_end is not None and self.state is not CLOSED:
            self.ask(self.early_end)

    def _on_peer_eof(self) -> None:
        """The peer's EOF, read in OPEN or INPUT_ONLY."""
        kept = self.context.peer_eof()  # type: ignore[union-attr]  # open: it is there
        if kept is None or self.state is CLOSED:
            return  # the handler failed, and the connection is gone
        if not kept:
            self.ending("peer_eof")
        self._transition(Event.PEER_EOF_KEPT if kept else Event.PEER_EOF)

    def ask(self, event: Event) -> None:
        """The handler's close() or write_eof(); remembered until open, if before."""
        state = self.state
        if state in BEFORE_OPEN:
            if self.early_end is None or event is Event.CLOSE:
                self.early_end = event
        elif state in LIVE_STATES and (event is Event.CLOSE or state is not INPUT_ONLY):
            self.ending("handler_close")  # write_eof too: the handler ends its half
            self._transition(event)
            # After the handler's call, whose reply comes first.
            self.loop.call_soon(self.check_flushed)

    def is_closing(self) -> bool:
        if self.state in BEFORE_OPEN:
            return self.early_end is Event.CLOSE
        return self.state not in LIVE_STATES

    def pause_reading(self, paused: bool) -> None:
        """The handler's pause_reading() (True) and resume_reading() (False)."""
        if paused != self.reading_paused:
            self.reading_paused = paused
            if self.opener is None and self.state is not CLOSED:
                self._update_interest()

    # -- ending: on the server's initiative, or on an error --------------------------

    def abort(self, reason: str = "aborted by its handler", level: int = logging.DEBUG,
              reset: bool = False, why: str = "handler_abort") -> None:
        """Drop the connection now, with whatever is queued; `reset` sends RST;
        `why` is the reason metrics count (evloop.metrics.CLOSE_REASONS)."""
        if self.state is CLOSED:
            return
        self.ending(why)
        log.log(level, "%s: %s", self.peer, reason)
        if reset and self.sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST: the peer
            # sees an error, never a clean EOF after a torn reply.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        self._transition(Event.ABORT)

    def begin_close(self, why: str = "handler_close") -> None:
        """Stop reading, deliver the replies due, send FIN, then close: now.
        `why` is the reason metrics count (evloop.metrics.CLOSE_REASONS)."""
        if self.state is not CLOSED:
            self.ending(why)
            self._transition(Event.CLOSE)
            self.check_flushed()

    def ending(self, why: str) -> None:
        """Record why the connection ends, unless a reason came first."""
        if self.ended_by is None:
            self.ended_by = why

    def _shut_output(self) -> bool:
        """FIN (after close_notify, over TLS); False if the socket failed instead."""
        try:
            shut_output(self.sock, self.tls)  # type: ignore[arg-type]  # open: it is there
        except OSError as exc:
            self._lost(exc, "shutdown")
            return False
        return True

    def _lost(self, exc: OSError, call: str) -> None:
        self.error = exc
        self.abort(f"{call}: {exc.strerror or exc}", why="error")

    def _linger(self) -> None:
        """FIN is sent: a Lingerer drops the peer's input until its EOF (evloop.connection.lingering)."""
        self._update_interest()  # the connection's reader and writer go
        if self.tls is not None:  # what is left to read is dropped, not decrypted
            self.set_io(os.read, os.write)
        self.lingerer = Lingerer(self.loop, self.fd, self.sys_read, self._lingered)
        self.lingerer.start()

    def _lingered(self, event: Event, error: OSError | None) -> None:
        self.lingerer = None
        if error is not None:
            return self._lost(error, "recv")
        self._transition(event)

LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
TRANSITIONS = states.TRANSITIONS
# The states that read the peer's EOF on their way (for the metrics' byte count).
EOF_READ = frozenset({states.INPUT_CLOSED, states.OUTPUT_ONLY})
# The states that send what is queued (before open it only waits in `out`).
SENDING = frozenset({states.OPEN, states.OUTPUT_ONLY, states.INPUT_ONLY, states.INPUT_CLOSED,
                     states.CLOSING})
# The reader the loop holds in each state, once open (before, the opener reads;
# after FIN, the lingerer).
READERS: dict[State, Callable[[Connection], None]] = {
    states.OPEN: Connection.on_readable,
    states.INPUT_ONLY: Connection._read_input_only,
}
