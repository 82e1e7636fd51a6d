"""One TCP connection: a socket, a handler, an output buffer, a state machine.

The connection moves bytes between its socket and its handler.  It is
driven by the loop (`on_readable`, `on_writable`) and by timers, and it is
the only place that reads or writes a client socket.

Rules
-----
* Read: one `read()` per wake-up, so one busy client cannot starve the
  others, handed to the handler as it is.  What is read depends on the
  state, and so does the reader the loop holds: `on_readable` while OPEN,
  `_discard_input` while LINGERING, none in the other states.
* Write: `write()` is tried at once when nothing is queued (most replies
  leave right there, with no selector call); what the kernel does not take is
  queued in `out`, and a writer is watched only while `out` is not empty.
* Backpressure: when `out` grows past `high_water`, reading stops (PAUSED)
  until it drains to `low_water`, so a client that sends and never reads
  cannot grow the server's memory.  `max_output` is the hard bound for bytes
  pushed by *other* clients (chat), which backpressure cannot slow down.
* Closing is orderly: replies already due are sent, then FIN
  (`shutdown(SHUT_WR)`), then input is read and discarded until the peer's
  EOF.  Closing with unread input would make the kernel send RST, and an RST
  can destroy replies still in flight to the client.
* ECONNRESET, EPIPE and friends are ordinary disconnects, logged at debug.

The states and their transitions are in evloop.states; `_transition` below
is the one place the state changes, and `_update_interest` the one place
that tells the loop what to watch.

The hot path
------------
Ping-pong echo spends about 85% of the server's CPU in the kernel (the
recv(), the send() and the loopback delivery to the peer), so the Python
around them is what this module can save.  `on_readable` is written for
that, and each choice was counted with callgrind (user-space instructions
per 100-byte message, 100 clients; `scripts/count-instructions`):

* `os.read()` / `os.write()` on the descriptor instead of `sock.recv()` /
  `sock.send()`: as many system calls (strace), without the socket
  methods' argument parsing and timeout handling: about 1,000 fewer
  instructions per message.  The kernel's read()/write() path is a little
  longer than recvfrom()/sendto()'s, but less so than the parsing saved
  (`python -m bench.micro_io`; the README gives the figures).  The
  descriptor is set to -1 when the socket closes, so a late call fails
  with EBADF instead of reaching whatever file reuses the number.
* Reads start small (SMALL_READ): a bytes object of up to 479 bytes comes
  from Python's own small-object allocator, a 64 KiB one from malloc() and
  is then shrunk with realloc(): about 700 instructions more.  A read that
  fills the buffer switches to LARGE_READ, 64 KiB (more may be waiting,
  and large messages want few system calls): enough to batch a pipelined
  client's messages, small enough for glibc's heap (asyncio's 256 KiB reads
  mmap and munmap a buffer per call in a fresh process until glibc adapts).
  SMALL_READS_TO_SHRINK small reads in a row switch back; not one, because
  a 64 KiB message crosses loopback in two segments, of 65,483 and 53
  bytes, and its tail alone must not make the next message cost two reads
  (it did: 10 clients of 64 KiB messages lost 10% of their MB/s).
* No state test: the loop calls `on_readable` only while it is the
  installed reader, that is, while OPEN.
"""

import logging
import os
import socket
import struct

from evloop.handlers.base import ProtocolError
from evloop.limits import RESUME_PENDING_WORK
from evloop.states import (CLOSED, CLOSING, FLUSHING_STATES, INPUT_CLOSED, LINGERING,  # noqa: F401
                           OPEN, PAUSED, TRANSITIONS, State)  # (some re-exported)
from evloop.closing import ConnectionClosing

log = logging.getLogger("evloop")

LARGE_READ = 65536
SMALL_READ = 479  # + the bytes object's 33-byte header = 512, pymalloc's largest block
SMALL_READS_TO_SHRINK = 4
READERS = {OPEN: "on_readable", LINGERING: "_discard_input"}  # by state; others do not read


class Connection(ConnectionClosing):
    """A client connection.  The server calls `start()`; the loop does the rest.

    `write(data)` queues bytes (handlers' `push` is this method), `close()`
    starts an orderly close, `abort(reason)` drops the connection at once.
    `on_closed(connection)` is called once when the state becomes CLOSED.
    """

    # Attributes in the object itself, not in a separate dict: 192 bytes a
    # connection instead of 248 (tracemalloc, 10,000 objects), and one
    # allocation fewer to touch per message.  With 10,000 busy clients, two
    # A/B runs of 15 rounds (bench.ab) measured 1.8-2.2% less CPU per message.
    __slots__ = ("loop", "sock", "fd", "sys_read", "sys_write", "read_size", "small_reads",
                 "peer", "handler", "on_closed", "state", "out", "reader", "writing", "limits",
                 "idle_timeout", "last_progress", "pending_work", "timer")

    def __init__(self, loop, sock, peer, handler, limits, on_closed, offloader=None):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        # The hot path's two system calls (see the module docstring); --trace
        # replaces them with versions that report what they did.
        self.sys_read = os.read
        self.sys_write = os.write
        self.read_size = SMALL_READ
        self.small_reads = 0  # small reads in a row while reading large
        self.peer = peer
        self.handler = handler
        self.on_closed = on_closed
        self.state = OPEN
        self.out = bytearray()
        self.reader = None  # the name of the reader the loop holds, or None
        self.writing = False  # is on_writable installed?
        self.limits = limits  # high_water, low_water, max_output
        self.idle_timeout = limits.idle_timeout
        self.last_progress = loop.now
        self.pending_work = 0  # offloaded calls whose replies are still due
        self.timer = None  # the one timer on the loop's heap (evloop.closing)
        if offloader is not None:
            offloader.bind(self)

    def __repr__(self):
        return f"<Connection {self.peer} {self.state!r} out={len(self.out)}>"

    def start(self):
        self._update_interest()
        self._arm_idle_timer()
        try:
            greeting = self.handler.connection_made(self.peer, self.write)
        except Exception:
            return self._handler_crashed("connection_made")
        if greeting:
            self.write(greeting)

    # -- events from the loop -----------------------------------------------

    def on_readable(self):
        """The reader while OPEN: the hot path (see the module docstring)."""
        size = self.read_size
        read = self.sys_read
        try:
            data = read(self.fd, size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self.abort(f"recv: {exc.strerror or exc}")
        if not data:
            return self._on_peer_eof()
        if len(data) == size:
            self.read_size = LARGE_READ  # the buffer was full: more may be waiting
        elif size == LARGE_READ:
            self._after_large_read(len(data))
        handler = self.handler
        try:
            reply = handler.data_received(data)
        except ProtocolError as err:
            return self._protocol_error(err)
        except Exception:
            return self._handler_crashed("data_received")
        if reply is not None:
            self.last_progress = self.loop.now
            if reply:
                if self.out:
                    self._queue(reply, 0)
                else:  # write()'s fast path, inlined: most replies leave here, and
                    # a call to write() would cost a Python call (~300 instructions)
                    write = self.sys_write
                    try:
                        sent = write(self.fd, reply)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except OSError as exc:
                        return self.abort(f"send: {exc.strerror or exc}")
                    if sent != len(reply):
                        self._queue(reply, sent)
        if handler.wants_close:
            self.close()

    def _after_large_read(self, size):
        """Back to small reads after SMALL_READS_TO_SHRINK small ones in a row."""
        self.small_reads = self.small_reads + 1 if size <= SMALL_READ else 0
        if self.small_reads >= SMALL_READS_TO_SHRINK:
            self.read_size, self.small_reads = SMALL_READ, 0

    def on_writable(self):
        """The writer, installed while `out` holds bytes the kernel did not take."""
        try:
            sent = self.sys_write(self.fd, self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self.abort(f"send: {exc.strerror or exc}")
        del self.out[:sent]
        self.last_progress = self.loop.now
        if self.state is PAUSED:
            if len(self.out) <= self.limits.low_water and self.pending_work <= RESUME_PENDING_WORK:
                self._transition("output_low")
        elif not self.out:
            if self.state in FLUSHING_STATES and not self.pending_work:
                self._transition("flushed")
            else:
                self._update_interest()

    # -- what handlers and the server call ------------------------------------

    def write(self, data):
        """Send `data` after everything queued before it."""
        if self.state is CLOSED or self.state is LINGERING:
            return
        if self.out:
            return self._queue(data, 0)
        try:
            sent = self.sys_write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            return self.abort(f"send: {exc.strerror or exc}")
        if sent != len(data):
            self._queue(data, sent)

    def _queue(self, data, sent):
        """Queue what the kernel did not take (`data[sent:]`); enforce the bounds."""
        out, was_empty = self.out, not self.out
        out += memoryview(data)[sent:] if sent else data
        if was_empty:
            self._update_interest()
        if len(out) > self.limits.max_output:
            return self.abort(f"{len(out)} bytes of output pending, over --max-output "
                              f"{self.limits.max_output}: disconnecting a slow reader",
                              level=logging.WARNING)
        if len(out) > self.limits.high_water:
            self.pause()

    def pause(self):
        """Backpressure: stop reading until output and offloaded work drain."""
        if self.state is OPEN:
            self._transition("output_high")

    def close(self):
        """Stop reading, deliver the replies due, send FIN, then close."""
        if self.state is not CLOSED:
            self._transition("close")

    def abort(self, reason, level=logging.DEBUG, reset=False):
        """Drop the connection now, with whatever is queued; `reset` sends RST."""
        if self.state is CLOSED:
            return
        log.log(level, "%s: %s", self.peer, reason)
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST: the peer
            # sees an error, never a clean EOF after a torn reply.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transition("abort")

    def offloaded(self, future, then):
        """Work the handler offloaded (evloop.offload) is done: answer with it."""
        self.pending_work -= 1
        if (self.state is PAUSED and self.pending_work <= RESUME_PENDING_WORK
                and len(self.out) <= self.limits.low_water):
            self._transition("output_low")
        if self.state is CLOSED or self.state is LINGERING or future.cancelled():
            return  # the client is gone, or we are closing: nobody wants it
        try:
            reply = then(future.result())
        except Exception:
            return self._handler_crashed("offloaded work")
        if reply is not None:
            self.last_progress = self.loop.now
            if reply:
                self.write(reply)
        if self.handler.wants_close:
            self.close()
        elif self.state in FLUSHING_STATES and not self.out and not self.pending_work:
            self._transition("flushed")  # that was the last reply due before closing

    # -- the state machine ----------------------------------------------------

    def _transition(self, event):
        try:
            new = TRANSITIONS[self.state, event]
        except KeyError:
            raise RuntimeError(f"{self!r}: no transition on {event!r}") from None
        self.state = new
        if new is CLOSED:
            self._release()
        elif new is LINGERING:
            self._send_fin()
        elif new in FLUSHING_STATES and not self.out and not self.pending_work:
            self._transition("flushed")
        else:
            self._update_interest()

    def _update_interest(self):
        """Make the loop hold the reader the state calls for, and a writer while
        output is pending.  The only place that adds or removes them."""
        reader = READERS.get(self.state)
        if reader != self.reader:
            if reader is None:
                self.loop.remove_reader(self.fd)
            else:
                self.loop.add_reader(self.fd, getattr(self, reader))
            self.reader = reader
        writing = bool(self.out)
        if writing != self.writing:
            if writing:
                self.loop.add_writer(self.fd, self.on_writable)
            else:
                self.loop.remove_writer(self.fd)
            self.writing = writing

    def _release(self):
        if self.reader is not None:
            self.loop.remove_reader(self.fd)
            self.reader = None
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        self._cancel_timer()
        self.out.clear()
        self.sock.close()
        self.fd = -1  # a late read or write fails (EBADF), never reaching a reused number
        try:
            self.handler.connection_lost()
        except Exception:
            log.exception("%s: handler %s raised in connection_lost",
                          self.peer, type(self.handler).__name__)
        self.on_closed(self)

    # -- peer EOF and errors -------------------------------------------------

    def _on_peer_eof(self):
        # Only on_readable calls this, and the loop calls it only while OPEN.
        try:
            final = self.handler.eof_received()
        except ProtocolError as err:
            log.info("%s: protocol error: %s", self.peer, err.reason)
            final = err.reply
        except Exception:
            return self._handler_crashed("eof_received")
        if final:
            self.write(final)
        if self.state is not CLOSED:
            self._transition("peer_eof")

    def _protocol_error(self, err):
        log.info("%s: protocol error: %s; closing", self.peer, err.reason)
        if err.reply:
            self.write(err.reply)
        self.close()

    def _handler_crashed(self, method):
        log.exception("%s: handler %s raised in %s; closing this connection",
                      self.peer, type(self.handler).__name__, method)
        self.close()
