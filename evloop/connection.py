"""One TCP connection: a socket, a handler, an output buffer, a state machine.

The connection moves bytes between its socket and its handler.  It is
driven by the loop (`on_readable`, `on_writable`) and by timers, it is the
only place that reads or writes a client socket, and it is the handler's
context (evloop.handlers.context): `push`, `close`, `abort`, `is_closing`,
`call_later`, `offload` and `peer` are its methods and attribute.

Rules
-----
* Read: one `read()` per wake-up, so one busy client cannot starve the
  others, handed to the handler as it is.  What is read depends on the
  state, and so does the reader the loop holds: `on_readable` while OPEN,
  `_discard_input` while LINGERING, `_read_proxy_header` while PROXY_HEADER
  (evloop.prelude), none in the other states (READERS).
* Write: `write()` is tried at once when nothing is queued (most replies
  leave right there, with no selector call); what the kernel does not take is
  queued in `out`, and a writer is watched only while `out` is not empty.
* Backpressure: when `out` grows past `high_water`, reading stops (PAUSED)
  and the handler hears `pause_writing()`, until `out` drains to `low_water`
  (`resume_writing()`), so a client that sends and never reads cannot grow
  the server's memory.  `max_output` is the hard bound for bytes pushed by
  *other* clients (chat), which backpressure cannot slow down.
* Closing is orderly: replies already due are sent, then FIN
  (`shutdown(SHUT_WR)`), then input is read and discarded until the peer's
  EOF.  Closing with unread input would make the kernel send RST, and an RST
  can destroy replies still in flight to the client.  A handler's `close()`
  takes effect after the call it was made in, so its reply is sent first.
* One error path, for the handler's code: whatever it raises (other than
  ProtocolError), and any answer that is not bytes, goes to the loop's
  exception handler with the peer's address and aborts this connection
  only.  `connection_lost` is called with `call_soon`, after the call that
  ended the connection, as asyncio does.
* ECONNRESET, EPIPE and friends are ordinary disconnects, logged at debug.

The states and their transitions are in evloop.states; `_transition` below
is the one place the state changes, and `_update_interest` the one place
that tells the loop what to watch.

The hot path
------------
Ping-pong echo spends about 85% of the server's CPU in the kernel (the
read(), the write() and the loopback delivery to the peer), so the Python
around them is what this module can save.  `on_readable` is written for
that, and each choice was counted with callgrind (user-space instructions
per 100-byte message, 100 clients; `scripts/count-instructions`):

* `os.read()` / `os.write()` on the descriptor instead of `sock.recv()` /
  `sock.send()`: as many system calls (strace), without the socket
  methods' argument parsing and timeout handling: about 1,000 fewer
  instructions per message.  The kernel's read()/write() path is a little
  longer than recvfrom()/sendto()'s, but less so than the parsing saved
  (`python3 -m bench.micro_io`; docs/06-performance.md gives the figures).
  The descriptor is set to -1 when the socket closes, so a late call fails
  with EBADF instead of reaching whatever file reuses the number.
* Reads start small (SMALL_READ): a bytes object of up to 479 bytes comes
  from Python's own small-object allocator, a 64 KiB one from malloc() and
  is then shrunk with realloc(): about 700 instructions more.  A read that
  fills the buffer switches to LARGE_READ, 126 KiB (more may be waiting,
  and large messages want few system calls), the most glibc's heap serves:
  from 128 KiB malloc() maps fresh pages, and the shrink to the bytes read
  keeps its threshold from ever rising, so a 256 KiB read (asyncio's) costs
  an mmap, an mremap and a munmap every time: 144 us per 100 KiB message
  against 25 us at 126 KiB and 35 us at 64 KiB (a socketpair, one process).
  Served, 100 KiB messages ran 1.09-1.10x faster at 126 KiB than at 64 KiB
  (bench.ab, 10 connections, 7 rounds); a reused 256 KiB buffer read with
  readv() and copied out did as well but pays the copy.  SMALL_READS_TO_SHRINK
  small reads in a row switch back; not one, because a 64 KiB message
  crosses loopback in two segments, of 65,483 and 53 bytes, and its tail
  alone must not make the next message cost two reads (it did: 10 clients
  of 64 KiB messages lost 10% of their MB/s).
* No state test and no test of the answer's type: the loop calls
  `on_readable` only while it is the installed reader, that is, while OPEN,
  and os.write() itself refuses what is not bytes-like (a str), which the
  `except` clause, free until something is raised, turns into the handler's
  error.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any
from typing import ClassVar

from evloop.config import Config
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.prelude import ConnectionPrelude
from evloop.limits import RESUME_PENDING_WORK
from evloop.loop import Loop
from evloop.metrics import Counters
from evloop.offload import Offloader
from evloop.states import CLOSED
from evloop.states import FLUSHING_STATES
from evloop.states import INPUT_CLOSED
from evloop.states import LINGERING
from evloop.states import OPEN
from evloop.states import PAUSED
from evloop.states import PROXY_HEADER
from evloop.states import TRANSITIONS
from evloop.states import State

log = logging.getLogger("evloop")

LARGE_READ = 126 * 1024  # under glibc's 128 KiB mmap threshold, bytes header included
SMALL_READ = 479  # + the bytes object's 33-byte header = 512, pymalloc's largest block
SMALL_READS_TO_SHRINK = 4


class Connection(ConnectionPrelude):
    """A client connection.  The server calls `start()`; the loop does the rest.

    Methods for the handler (its context): `push(data)`, `close()`,
    `abort()`, `is_closing()`, `call_later(delay, fn, *args)`,
    `offload(fn, *args, then=...)`, and the attribute `peer`.
    Methods for the server: `start()`, `write(data)`, `begin_close()`,
    `abort(reason, level, reset)`.  `on_closed(connection)` is called once
    when the state becomes CLOSED.
    """

    # Attributes in the object itself, not in a separate dict: 192 bytes a
    # connection instead of 248 with 19 of them (tracemalloc, 10,000
    # objects), and one allocation fewer to touch per message.  With 10,000
    # busy clients, two A/B runs of 15 rounds (bench.ab) measured 1.8-2.2%
    # less CPU per message.
    __slots__ = ("loop", "sock", "fd", "sys_read", "sys_write", "read_size", "small_reads",
                 "on_closed", "state", "out", "reader", "writing", "config",
                 "reads", "replies")  # + its bases'

    #: The reader the loop holds in each state (READERS, below; evloop.tls adds one).
    readers: ClassVar[dict[State, Callable[[Any], None]]]

    def __init__(self, loop: Loop, sock: socket.socket, peer: str, handler: Handler,
                 config: Config, on_closed: Callable[[Connection], object],
                 offloader: Offloader | None = None, counters: Counters | None = None) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        # The hot path's two system calls (see the module docstring); --trace
        # replaces them with versions that report what they did.
        self.sys_read: Callable[[int, int], bytes] = os.read
        self.sys_write: Callable[[int, Any], int] = os.write
        self.read_size = SMALL_READ
        self.small_reads = 0  # small reads in a row while reading large
        self.peer = peer
        self.handler = handler
        self.on_closed = on_closed
        self.state = PROXY_HEADER if config.proxy_protocol else OPEN
        self.out = bytearray()
        self.reader: Callable[[Connection], None] | None = None  # READERS[state] installed
        self.writing = False  # is on_writable installed?
        self.config = config  # high_water, low_water, max_output, idle_timeout
        self.last_progress = loop.now
        self.timer = None
        self.pending_work = 0
        self.offloader = offloader
        self.close_requested = False
        self.handler_timers = None
        self.error = None
        self.counters = counters if counters is not None else Counters()
        self.ended_by = None
        self.reads = 0  # data_received calls, and replies sent (evloop.metrics)
        self.replies = 0
        self.prelude = bytearray() if config.proxy_protocol else None

    def __repr__(self) -> str:
        return f"<Connection {self.peer} {self.state!r} out={len(self.out)}>"

    def start(self) -> None:
        """Watch the socket; then greet (connection_made), or first read the
        proxy's header (evloop.prelude) or shake hands (evloop.tls) within
        --handshake-timeout."""
        self._update_interest()
        if self.state is not OPEN:
            return self._arm_timer(self.config.handshake_timeout, self._on_handshake_timer)
        self._open()

    def _set_io(self, read: Callable[[int, int], bytes], write: Callable[[int, Any], int]) -> None:
        """The two system calls of the hot path (--trace wraps them; TLS replaces them)."""
        self.sys_read, self.sys_write = read, write

    def _open(self) -> None:
        """The handler starts: the idle timer, then connection_made."""
        self.prelude = None
        self._arm_idle_timer()
        greeting = None
        try:
            greeting = self.handler.connection_made(self)
            if greeting is not None:
                self.push(greeting)
        except ProtocolError as err:
            self._protocol_error(err)
        except Exception as exc:
            self._handler_failed("connection_made", exc, greeting)

    # -- events from the loop -----------------------------------------------

    def on_readable(self) -> None:
        """The reader while OPEN: the hot path (see the module docstring)."""
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
                self._empty_reply(reply)
        except ProtocolError as err:
            self._protocol_error(err)
        except Exception as exc:  # free in CPython 3.11+ until one is raised
            self._handler_failed("data_received", exc, reply)

    def _after_large_read(self, size: int) -> None:
        """Back to small reads after SMALL_READS_TO_SHRINK small ones in a row."""
        self.small_reads = self.small_reads + 1 if size <= SMALL_READ else 0
        if self.small_reads >= SMALL_READS_TO_SHRINK:
            self.read_size, self.small_reads = SMALL_READ, 0

    def on_writable(self) -> None:
        """The writer, installed while `out` holds bytes the kernel did not take."""
        try:
            sent = self.sys_write(self.fd, self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc, "send")
        del self.out[:sent]
        self.last_progress = self.loop.now
        if self.state is PAUSED:
            if len(self.out) <= self.config.low_water and self.pending_work <= RESUME_PENDING_WORK:
                self._transition("output_low")
        elif not self.out:
            if self.state in FLUSHING_STATES and not self.pending_work:
                self._transition("flushed")
            else:
                self._update_interest()

    # -- what the server and the offloader call --------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` after everything queued before it."""
        if self.state is CLOSED or self.state is LINGERING:
            return
        self.replies += 1
        if self.out:
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
            self.pause()

    def pause(self) -> None:
        """Backpressure: stop reading until output and offloaded work drain."""
        if self.state is OPEN:
            self.counters.backpressure_pauses += 1
            self._transition("output_high")

    # -- the state machine ----------------------------------------------------

    def _transition(self, event: str) -> None:
        try:
            new = TRANSITIONS[self.state, event]
        except KeyError:
            raise RuntimeError(f"{self!r}: no transition on {event!r}") from None
        old, self.state = self.state, new
        if new is CLOSED:
            self._release(eof_read=event == "peer_eof" or old is INPUT_CLOSED)
        elif new is LINGERING:
            self._send_fin()
        elif new in FLUSHING_STATES and not self.out and not self.pending_work:
            self._transition("flushed")
        else:
            self._update_interest()
            if event == "output_high":
                self._tell_handler("pause_writing", self.handler.pause_writing)
            elif event == "output_low":
                self._tell_handler("resume_writing", self.handler.resume_writing)

    def _update_interest(self) -> None:
        """Make the loop hold the reader the state calls for, and a writer while
        output is pending.  The only place that adds or removes them."""
        reader = self.readers.get(self.state)
        if reader is not self.reader:
            if reader is None:
                self.loop.remove_reader(self.fd)
            else:
                self.loop.add_reader(self.fd, reader.__get__(self))
            self.reader = reader
        writing = bool(self.out)
        if writing != self.writing:
            if writing:
                self.loop.add_writer(self.fd, self.on_writable)
            else:
                self.loop.remove_writer(self.fd)
            self.writing = writing

    def _release(self, eof_read: bool = False) -> None:
        """Close the socket and let go of everything; `eof_read`: the peer's FIN was read."""
        if self.reader is not None:
            self.loop.remove_reader(self.fd)
            self.reader = None
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        self._cancel_timer()
        self._cancel_handler_timers()
        self.out.clear()
        self.counters.connection_ended(self.sock, self.reads, self.replies, self.ended_by,
                                       eof_read)
        self.sock.close()
        self.fd = -1  # a late read or write fails (EBADF), never reaching a reused number
        if self.prelude is None:  # connection_made was called: connection_lost is due
            self.loop.call_soon(self._deliver_lost, self.error)
        self.on_closed(self)

    def _lost(self, exc: OSError, call: str) -> None:
        self.error = exc
        self.abort(f"{call}: {exc.strerror or exc}", why="error")


# The reader the loop holds in each state (the others do not read).
READERS: dict[State, Callable[[Connection], None]] = {
    PROXY_HEADER: Connection._read_proxy_header,
    OPEN: Connection.on_readable,
    LINGERING: Connection._discard_input,
}
Connection.readers = READERS
