"""--trace: the loop narrates what it does, for people learning how it works.

Each wake-up prints the ready file descriptors; each connection prints what
it received, what its handler answered, what `send()` took, and every state
change.  Tracing is added by wrapping (a socket proxy, a handler proxy, a
Connection subclass) only when asked for, so the untraced hot path carries
no `if tracing:` test at all.  Lines go to stderr, one per step::

    trace: wake-up: 1 ready: fd 6 R
    trace: fd 7 127.0.0.1:50122: recv 19 B
    trace: fd 7 127.0.0.1:50122: handler LenPrefixHandler -> 19 B reply
    trace: fd 7 127.0.0.1:50122: send 19 B, all sent
    trace: fd 7 127.0.0.1:50122: OPEN -> INPUT_CLOSED (peer_eof)
"""

import sys

from evloop.connection import TRANSITIONS
from evloop.connection import Connection
from evloop.loop import EVENT_READ
from evloop.loop import EVENT_WRITE


def say(text):
    print(f"trace: {text}", file=sys.stderr, flush=True)


class Tracer:
    """Called by the loop after every select()."""

    def on_wakeup(self, loop, events, timeout):
        waited = "no timeout" if timeout is None else f"timeout {timeout * 1000:.0f} ms"
        ready = ", ".join(f"fd {key.fd} {mask_name(mask)}" for key, mask in events)
        say(f"wake-up ({waited}): {len(events)} ready" + (f": {ready}" if ready else ""))


def mask_name(mask):
    return ("R" if mask & EVENT_READ else "") + ("W" if mask & EVENT_WRITE else "")


class TracedSocket:
    """A socket proxy that reports recv, send and shutdown."""

    def __init__(self, sock, label):
        self._sock = sock
        self._label = label

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def fileno(self):
        return self._sock.fileno()

    def recv(self, size):
        data = self._sock.recv(size)
        say(f"{self._label}: recv {len(data)} B" + (" (EOF: the peer closed its side)" if not data else ""))
        return data

    def send(self, data):
        sent = self._sock.send(data)
        rest = len(data) - sent
        say(f"{self._label}: send {sent} B" + (f", {rest} B left queued" if rest else ", all sent"))
        return sent

    def shutdown(self, how):
        say(f"{self._label}: shutdown(SHUT_WR): FIN sent")
        return self._sock.shutdown(how)


class TracedHandler:
    """A handler proxy that reports each answer."""

    def __init__(self, handler, label):
        self._handler = handler
        self._label = label

    def __getattr__(self, name):
        return getattr(self._handler, name)

    def __setattr__(self, name, value):
        # The connection sets `offload` on its handler (--offload): the real one.
        if name.startswith("_"):
            return super().__setattr__(name, value)
        setattr(self._handler, name, value)

    def data_received(self, data):
        reply = self._handler.data_received(data)
        name = type(self._handler).__name__
        answer = "no complete message yet" if reply is None else f"{len(reply)} B reply"
        say(f"{self._label}: handler {name} -> {answer}")
        return reply


class TracedConnection(Connection):
    """A Connection that reports its state changes."""

    def __init__(self, loop, sock, peer, handler, limits, on_closed, offloader=None):
        label = f"fd {sock.fileno()} {peer}"
        say(f"{label}: accepted")
        super().__init__(loop, TracedSocket(sock, label), peer,
                         TracedHandler(handler, label), limits, on_closed, offloader)
        self.label = label

    def _transition(self, event):
        # Report before acting, so the steps print in the order they happen.
        new = TRANSITIONS.get((self.state, event))
        say(f"{self.label}: {self.state!r} -> {new!r} ({event})")
        super()._transition(event)

    def _update_interest(self):
        before = self.events
        super()._update_interest()
        if self.events != before:
            say(f"{self.label}: watching {mask_name(self.events) or 'nothing'}")


def enable(loop, server):
    loop.tracer = Tracer()
    server.connection_class = TracedConnection
