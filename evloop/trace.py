"""--trace: the loop narrates what it does, for people learning how it works.

Each wake-up prints the ready file descriptors; each connection prints what
it received, what its handler answered, what `send()` took, and every state
change.  Tracing is added by wrapping (the connection's two system calls, a
handler proxy, a Connection subclass) only when asked for, so the untraced
hot path carries no `if tracing:` test at all.  Lines go to stderr, one per
step::

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
    """Called by the loop after every wait, with the (fd, event) pairs it got."""

    def on_wakeup(self, loop, ready, timeout):
        waited = "no timeout" if timeout is None else f"timeout {timeout * 1000:.0f} ms"
        names = ", ".join(f"fd {fd} {mask_name(loop.event_mask(event))}" for fd, event in ready)
        say(f"wake-up ({waited}): {len(ready)} ready" + (f": {names}" if names else ""))


def mask_name(mask):
    return ("R" if mask & EVENT_READ else "") + ("W" if mask & EVENT_WRITE else "")


def traced_read(label, read):
    """A read(fd, size) that reports what it got."""
    def sys_read(fd, size):
        data = read(fd, size)
        say(f"{label}: recv {len(data)} B" + (" (EOF: the peer closed its side)" if not data else ""))
        return data
    return sys_read


def traced_write(label, write):
    """A write(fd, data) that reports how much the kernel took."""
    def sys_write(fd, data):
        sent = write(fd, data)
        rest = len(data) - sent
        say(f"{label}: send {sent} B" + (f", {rest} B left queued" if rest else ", all sent"))
        return sent
    return sys_write


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
    """A Connection that reports its system calls and state changes."""

    def __init__(self, loop, sock, peer, handler, limits, on_closed, offloader=None):
        label = f"fd {sock.fileno()} {peer}"
        say(f"{label}: accepted")
        super().__init__(loop, sock, peer, TracedHandler(handler, label), limits, on_closed,
                         offloader)
        self.label = label
        self.sys_read = traced_read(label, self.sys_read)
        self.sys_write = traced_write(label, self.sys_write)

    def _transition(self, event):
        # Report before acting, so the steps print in the order they happen.
        new = TRANSITIONS.get((self.state, event))
        say(f"{self.label}: {self.state!r} -> {new!r} ({event})")
        super()._transition(event)

    def _update_interest(self):
        before = self.loop.watching(self.fd)
        super()._update_interest()
        after = self.loop.watching(self.fd)
        if after != before:
            say(f"{self.label}: watching {mask_name(after) or 'nothing'}")

    def _send_fin(self):
        say(f"{self.label}: shutdown(SHUT_WR): FIN sent")
        super()._send_fin()


def enable(loop, server):
    loop.tracer = Tracer()
    server.connection_class = TracedConnection
