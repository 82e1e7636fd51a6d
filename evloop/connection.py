"""One TCP connection: a socket, a handler, an output buffer, a state machine.

The connection moves bytes between its socket and its handler.  It is
driven by the loop (`on_event`) and by timers, and it is the only place
that calls `recv()` and `send()` on a client socket.

Rules
-----
* Read: at most RECV_SIZE bytes per `recv()`, handed to the handler as they
  are.  A ready socket is read once per wake-up, so one busy client cannot
  starve the others.
* Write: `send()` is tried at once when nothing is queued (most replies
  leave right there, with no selector call); what the kernel does not take is
  queued in `out`, and EVENT_WRITE is watched only while `out` is not empty.
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
is the one place the state changes.
"""

import logging
import socket
import struct

from evloop.handlers.base import ProtocolError
from evloop.loop import EVENT_READ
from evloop.limits import RESUME_PENDING_WORK
from evloop.loop import EVENT_WRITE
from evloop.states import (CLOSED, CLOSING, FLUSHING_STATES, INPUT_CLOSED, LINGERING,  # noqa: F401
                           OPEN, PAUSED, READING_STATES, TRANSITIONS, State)  # (some re-exported)

log = logging.getLogger("evloop")

# 64 KiB per recv(): enough to batch a pipelined client's messages, small enough
# for glibc's heap.  asyncio's 256 KiB reads mmap/munmap a buffer per call in a
# fresh process (3.7x slower small-message echo, bench/results) until glibc adapts.
RECV_SIZE = 65536
LINGER_TIMEOUT = 2.0  # how long a closing connection waits for EOF after our FIN


class Connection:
    """A client connection.  The server calls `start()`; the loop does the rest.

    `write(data)` queues bytes (handlers' `push` is this method), `close()`
    starts an orderly close, `abort(reason)` drops the connection at once.
    `on_closed(connection)` is called once when the state becomes CLOSED.
    """

    def __init__(self, loop, sock, peer, handler, limits, on_closed, offloader=None):
        self.loop = loop
        self.sock = sock
        self.peer = peer
        self.handler = handler
        self.on_closed = on_closed
        self.state = OPEN
        self.out = bytearray()
        self.events = 0
        self.timer = None
        self.limits = limits  # high_water, low_water, max_output
        self.idle_timeout = limits.idle_timeout
        self.last_progress = loop.now
        self.pending_work = 0  # offloaded calls whose replies are still due
        if offloader is not None:
            offloader.bind(self)

    def __repr__(self):
        return f"<Connection {self.peer} {self.state!r} out={len(self.out)}>"

    def start(self):
        self._update_interest()
        if self.idle_timeout:
            self._arm_timer(self.idle_timeout, self._on_idle_timer)
        try:
            greeting = self.handler.connection_made(self.peer, self.write)
        except Exception:
            return self._handler_crashed("connection_made")
        if greeting:
            self.write(greeting)

    # -- events from the loop -----------------------------------------------

    def on_event(self, mask):  # `out` is emptied when CLOSED: no write after close
        if mask & EVENT_READ:
            self.on_readable()
        if mask & EVENT_WRITE and self.out:
            self.on_writable()

    def on_readable(self):
        # The hot path.  The reply's first send() is inlined (no write() call); with
        # fastepoll: echo 6.82 -> 6.50 us CPU/msg, 100 clients, 9 A/B rounds.
        if self.state is CLOSED:  # closed by an earlier callback this turn
            return
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self.abort(f"recv: {exc.strerror or exc}")
        if not data:
            return self._on_peer_eof()
        if self.state is LINGERING:
            return  # discarding input after our FIN
        handler = self.handler
        try:
            reply = handler.data_received(data)
        except ProtocolError as err:
            return self._protocol_error(err)
        except Exception:
            return self._handler_crashed("data_received")
        if reply is not None:
            self.last_progress = self.loop.now
            if reply and self.out:
                self.write(reply)
            elif reply:  # write()'s fast path: nothing queued, so send now
                try:
                    sent = sock.send(reply)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    return self.abort(f"send: {exc.strerror or exc}")
                if sent != len(reply):
                    self._queue(reply, sent)
        if handler.wants_close:
            self.close()

    def on_writable(self):
        try:
            sent = self.sock.send(self.out)
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
            sent = self.sock.send(data)
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
        events = EVENT_READ if self.state in READING_STATES else 0
        if self.out:
            events |= EVENT_WRITE
        if events == self.events:
            return
        if not self.events:
            self.loop.register(self.sock, events, self.on_event)
        elif not events:
            self.loop.unregister(self.sock)
        else:
            self.loop.modify(self.sock, events, self.on_event)
        self.events = events

    def _send_fin(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            return self.abort(f"shutdown: {exc.strerror or exc}")
        self._update_interest()
        self._arm_timer(LINGER_TIMEOUT, self._transition, "timeout")

    def _release(self):
        if self.events:
            self.loop.unregister(self.sock)
            self.events = 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.out.clear()
        self.sock.close()
        try:
            self.handler.connection_lost()
        except Exception:
            log.exception("%s: handler %s raised in connection_lost",
                          self.peer, type(self.handler).__name__)
        self.on_closed(self)

    # -- peer EOF, errors, timers -------------------------------------------

    def _on_peer_eof(self):
        if self.state is OPEN:
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

    def _arm_timer(self, delay, callback, *args):
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(delay, callback, *args)

    def _on_idle_timer(self):
        # One timer per connection, re-armed only when it fires: a message
        # costs one attribute store (last_progress), not a heap operation.
        self.timer = None
        remaining = self.last_progress + self.idle_timeout - self.loop.now
        if remaining > 0:
            return self._arm_timer(remaining, self._on_idle_timer)
        if self.state is OPEN:
            log.info("%s: no complete message for %gs (--idle-timeout): closing",
                     self.peer, self.idle_timeout)
            self.last_progress = self.loop.now
            self.close()
            if self.state is not CLOSED and self.state is not LINGERING:
                self._arm_timer(self.idle_timeout, self._on_idle_timer)
        elif self.state is not LINGERING:
            self.abort(f"no progress for {self.idle_timeout:g}s while {self.state.value} "
                       f"(--idle-timeout): dropping", level=logging.INFO)
