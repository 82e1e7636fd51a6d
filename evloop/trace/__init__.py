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

Connections the handlers open (context.connect) are traced the same way,
labelled `out HOST:PORT` until they are connected.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any
from typing import Protocol

from evloop.backends import EVENT_READ
from evloop.backends import EVENT_WRITE
from evloop.backends import event_mask
from evloop.connection import Connection
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.loop import Loop
from evloop.proxyproto import ProxyHeader
from evloop.sockets import format_address
from evloop.states import TRANSITIONS
from evloop.states import Event



class Traceable(Protocol):
    """A server, as far as tracing it goes: it builds connections of this class."""

    connection_class: type[Connection]


def say(text: str) -> None:
    print(f"trace: {text}", file=sys.stderr, flush=True)


class Tracer:
    """Called by the loop after every wait, with the (fd, event) pairs it got."""

    def on_wakeup(self, loop: Loop, ready: list[tuple[int, int]], timeout: float | None) -> None:
        waited = "no timeout" if timeout is None else f"timeout {timeout * 1000:.0f} ms"
        names = ", ".join(f"fd {fd} {mask_name(event_mask(event))}" for fd, event in ready)
        say(f"wake-up ({waited}): {len(ready)} ready" + (f": {names}" if names else ""))


def mask_name(mask: int) -> str:
    return ("R" if mask & EVENT_READ else "") + ("W" if mask & EVENT_WRITE else "")


def traced_read(label: str, read: Callable[[int, int], bytes]) -> Callable[[int, int], bytes]:
    """A read(fd, size) that reports what it got."""
    def sys_read(fd: int, size: int) -> bytes:
        data = read(fd, size)
        say(f"{label}: recv {len(data)} B" + (" (EOF: the peer closed its side)" if not data else ""))
        return data
    return sys_read


def traced_write(label: str, write: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
    """A write(fd, data) that reports how much the kernel took."""
    def sys_write(fd: int, data: Any) -> int:
        sent = write(fd, data)
        rest = len(data) - sent
        say(f"{label}: send {sent} B" + (f", {rest} B left queued" if rest else ", all sent"))
        return sent
    return sys_write


class TracedHandler(Handler):
    """A handler proxy that reports each answer; every other call goes through."""

    def __init__(self, handler: Handler, label: str) -> None:
        self._handler = handler
        self._label = label

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)

    def connection_made(self, context: Context) -> Reply:
        return self._handler.connection_made(context)

    def data_received(self, data: bytes) -> Reply:
        reply = self._handler.data_received(data)
        name = type(self._handler).__name__
        answer = "no complete message yet" if reply is None else (
            f"{len(reply)} B reply" if isinstance(reply, (bytes, bytearray, memoryview))
            else f"a {type(reply).__name__}, not bytes")
        say(f"{self._label}: handler {name} -> {answer}")
        return reply

    def eof_received(self) -> Reply | bool:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        say(f"{self._label}: handler told pause_writing()")
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        say(f"{self._label}: handler told resume_writing()")
        self._handler.resume_writing()


class TracedConnection(Connection):
    """A Connection that reports its system calls and state changes."""

    __slots__ = ("label",)

    def __init__(self, loop: Loop, sock: socket.socket | None, peer: str, handler: Handler,
                 *args: Any, **kwargs: Any) -> None:
        self.label = f"fd {sock.fileno()} {peer}" if sock is not None else f"out {peer}"
        say(f"{self.label}: " + ("accepted" if sock is not None else "connecting"))
        super().__init__(loop, sock, peer, TracedHandler(handler, self.label), *args, **kwargs)
        self.set_io(self.sys_read, self.sys_write)

    def set_io(self, read: Callable[[int, int], bytes], write: Callable[[int, Any], int]) -> None:
        super().set_io(traced_read(self.label, read), traced_write(self.label, write))

    def _opened(self, event: Event, sock: socket.socket, peer: str) -> None:
        label = f"fd {sock.fileno()} {peer}"
        if label != self.label:
            say(f"{self.label}: now {label}")
            self.label = label
            if isinstance(self.handler, TracedHandler):
                self.handler._label = label
            self.set_io(os.read, os.write)
        super()._opened(event, sock, peer)

    def _transition(self, event: Event) -> None:
        # Report before acting, so the steps print in the order they happen.
        new = TRANSITIONS.get((self.state, event))
        say(f"{self.label}: {self.state!r} -> {new!r} ({event.value})")
        super()._transition(event)

    def _update_interest(self) -> None:
        before = self.loop.watching(self.fd) if self.fd >= 0 else 0
        super()._update_interest()
        after = self.loop.watching(self.fd) if self.fd >= 0 else 0
        if after != before:
            say(f"{self.label}: watching {mask_name(after) or 'nothing'}")

    def _header_read(self, header: ProxyHeader) -> None:
        who = "the original client" if header.source else "a LOCAL header: the proxy itself"
        say(f"{self.label}: PROXY v{header.version} header: {who}"
            + (f" is {format_address(header.source)}" if header.source else ""))

    def _shut_output(self) -> bool:
        say(f"{self.label}: shutdown(SHUT_WR): FIN sent")
        return super()._shut_output()

    def pause_reading(self, paused: bool) -> None:
        if paused != self.reading_paused:
            say(f"{self.label}: handler " + ("pauses" if paused else "resumes") + " reading")
        super().pause_reading(paused)


def enable(loop: Loop, server: Traceable) -> None:
    loop.tracer = Tracer()
    server.connection_class = TracedConnection
