"""Traced connections: their system calls, handler calls and state changes, as steps.

Tracing wraps, so the untraced hot path carries no test: the connection's
two system calls (`set_io`), a proxy in front of the handler, and a
Connection subclass that reports its transitions, interest, pauses, the
PROXY header and the FIN.  evloop.trace.enable makes the subclass, with
the server's `Steps` as a class attribute.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from evloop.connection.connection import Connection
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.loop.base import BaseLoop
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.addresses import format_address
from evloop.connection.states import TRANSITIONS
from evloop.connection.states import Event
from evloop.trace.recording import preview
from evloop.trace.steps import Steps
from evloop.trace.steps import answer_text
from evloop.trace.steps import mask_name


def traced_read(conn: TracedConnection, read: Callable[[int, int], bytes]
                ) -> Callable[[int, int], bytes]:
    """A read(fd, size) that reports what it got."""
    steps = conn.steps

    def sys_read(fd: int, size: int) -> bytes:
        data = read(fd, size)
        steps.instant(conn.lane, "io", "recv",
                      f"recv {len(data)} B" + ("" if data else " (EOF: the peer closed its side)"),
                      bytes=len(data), preview=preview(data))
        return data
    return sys_read


def traced_write(conn: TracedConnection, write: Callable[[int, Any], int]
                 ) -> Callable[[int, Any], int]:
    """A write(fd, data) that reports how much the kernel took."""
    steps = conn.steps

    def sys_write(fd: int, data: Any) -> int:
        sent = write(fd, data)
        rest = len(data) - sent
        steps.instant(conn.lane, "io", "send",
                      f"send {sent} B" + (f", {rest} B left queued" if rest else ", all sent"),
                      bytes=sent, left=rest, preview=preview(memoryview(data)[:sent]))
        return sent
    return sys_write


class TracedHandler(Handler):
    """A handler proxy that reports each call, its answer and its time."""

    def __init__(self, handler: Handler, conn: TracedConnection) -> None:
        self._handler = handler
        self._conn = conn
        self._name = type(handler).__name__

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)

    def _call(self, name: str, argument: str, call: Callable[..., Any], *args: Any) -> Any:
        steps, lane = self._conn.steps, self._conn.lane
        start = steps.begin(lane, f"handler {self._name}.{name}({argument})")
        result: Any = None
        try:
            result = call(*args)
            return result
        except BaseException as exc:
            result = exc
            raise
        finally:
            text = (f"raised {type(result).__name__}" if isinstance(result, BaseException)
                    else answer_text(name, result))
            steps.end(lane, name, start, self._name, text)

    def connection_made(self, context: Context) -> Reply:
        return self._call("connection_made", "", self._handler.connection_made, context)  # type: ignore[no-any-return]

    def data_received(self, data: bytes) -> Reply:
        return self._call("data_received", f"{len(data)} B", self._handler.data_received, data)  # type: ignore[no-any-return]

    def eof_received(self) -> Reply | bool:
        return self._call("eof_received", "", self._handler.eof_received)  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._call("connection_lost", "" if exc is None else type(exc).__name__,
                   self._handler.connection_lost, exc)

    def pause_writing(self) -> None:
        self._call("pause_writing", "", self._handler.pause_writing)

    def resume_writing(self) -> None:
        self._call("resume_writing", "", self._handler.resume_writing)



class TracedConnection(Connection):
    """A Connection that reports its system calls and state changes."""

    __slots__ = ("lane",)
    steps: Steps  # set on the subclass that enable() makes

    def __init__(self, loop: BaseLoop, sock: socket.socket | None, peer: str, handler: Handler,
                 *args: Any, **kwargs: Any) -> None:
        steps = self.steps
        if sock is not None:
            fd = sock.fileno()
            self.lane = steps.lane(f"fd {fd} {peer}", "client", fd)
            listener = steps.listener_lane
            steps.instant(listener, "io", "accept", None, peer=peer, fd=fd)
            steps.instant(self.lane, "io", "accepted", f"accepted by {listener.name}",
                          peer=peer)
        else:
            self.lane = steps.lane(f"out {peer}", "outbound")
            steps.instant(self.lane, "io", "connect", "connecting", address=peer)
        super().__init__(loop, sock, peer, TracedHandler(handler, self), *args, **kwargs)
        self.set_io(self.sys_read, self.sys_write)

    def set_io(self, read: Callable[[int, int], bytes], write: Callable[[int, Any], int]) -> None:
        super().set_io(traced_read(self, read), traced_write(self, write))

    def _opened(self, event: Event, sock: socket.socket, peer: str) -> None:
        name = f"fd {sock.fileno()} {peer}"
        if name != self.lane.name:
            self.steps.instant(self.lane, "io", "connected", f"now {name}", fd=sock.fileno())
            self.steps.rename(self.lane, name, sock.fileno())
            self.set_io(os.read, os.write)
        super()._opened(event, sock, peer)

    def _transition(self, event: Event) -> None:
        # Report before acting, so the steps print in the order they happen.
        old, new = self.state, TRANSITIONS.get((self.state, event))
        self.steps.instant(self.lane, "state", f"{old!r} -> {new!r}",
                           f"{old!r} -> {new!r} ({event.value})",
                           **{"from": repr(old), "to": repr(new), "event": event.value})
        super()._transition(event)

    def _release(self, eof_read: bool = False) -> None:
        fd = self.fd
        super()._release(eof_read)
        self.steps.forget(self.lane, fd)  # the kernel may give the number to the next one

    def _update_interest(self) -> None:
        before = self.loop.watching(self.fd) if self.fd >= 0 else 0
        super()._update_interest()
        after = self.loop.watching(self.fd) if self.fd >= 0 else 0
        if after != before:
            what = f"watching {mask_name(after) or 'nothing'}"
            self.steps.instant(self.lane, "flow", what, what)

    def _header_read(self, header: ProxyHeader) -> None:
        who = "the original client" if header.source else "a LOCAL header: the proxy itself"
        self.steps.instant(self.lane, "io", "proxy header",
                           f"PROXY v{header.version} header: {who}"
                           + (f" is {format_address(header.source)}" if header.source else ""))

    def _shut_output(self) -> bool:
        self.steps.instant(self.lane, "io", "shutdown", "shutdown(SHUT_WR): FIN sent")
        return super()._shut_output()

    def pause_reading(self, paused: bool) -> None:
        if paused != self.reading_paused:
            name = "pause_reading" if paused else "resume_reading"
            self.steps.instant(self.lane, "flow", name,
                               "handler " + ("pauses" if paused else "resumes") + " reading")
        super().pause_reading(paused)
