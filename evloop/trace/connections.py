"""Traced connections: their system calls, handler calls and state changes, as steps.

`ConnectionTracer` is an instrument (evloop.loop.instruments) with the
hooks a connection calls (evloop.connection.instruments): as a connection
starts it gets a lane of its own (its descriptor and peer, or "out HOST:PORT"
until an outbound one connects), a proxy in front of its handler that
reports each call, its answer and its time, and traced system calls
(`wrap_io`); then each state change, each change in what the loop watches
for it, its pauses, the PROXY header and our FIN become steps.  Tracing
wraps, so an untraced connection's hot path carries no test at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evloop.connection.connection import Connection
from evloop.connection.instruments import ConnectionInstrument
from evloop.connection.proxy_protocol import ProxyHeader
from evloop.connection.states import CLOSED
from evloop.connection.states import Event
from evloop.connection.states import FIN_SENT
from evloop.connection.states import LINGERING
from evloop.connection.states import State
from evloop.handlers.addresses import format_address
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.trace.recording import preview
from evloop.trace.steps import Lane
from evloop.trace.steps import Steps
from evloop.trace.steps import answer_text
from evloop.trace.steps import mask_name

Read = Callable[[int, int], bytes]
Write = Callable[[int, Any], int]


def traced_read(steps: Steps, lane: Lane, read: Read) -> Read:
    """A read(fd, size) that reports what it got."""

    def sys_read(fd: int, size: int) -> bytes:
        data = read(fd, size)
        steps.instant(lane, "io", "recv",
                      f"recv {len(data)} B" + ("" if data else " (EOF: the peer closed its side)"),
                      bytes=len(data), preview=preview(data))
        return data
    return sys_read


def traced_write(steps: Steps, lane: Lane, write: Write) -> Write:
    """A write(fd, data) that reports how much the kernel took."""

    def sys_write(fd: int, data: Any) -> int:
        sent = write(fd, data)
        rest = len(data) - sent
        steps.instant(lane, "io", "send",
                      f"send {sent} B" + (f", {rest} B left queued" if rest else ", all sent"),
                      bytes=sent, left=rest, preview=preview(memoryview(data)[:sent]))
        return sent
    return sys_write


class TracedHandler(Handler):
    """A handler proxy that reports each call, its answer and its time."""

    def __init__(self, handler: Handler, steps: Steps, lane: Lane) -> None:
        self._handler = handler
        self._steps = steps
        self._lane = lane
        self._name = type(handler).__name__
        # The handler's own settings (a relay's backpressure_stops_reading): Handler's
        # class attributes, which this class inherits, would hide them from __getattr__.
        for name, value in vars(Handler).items():
            if not name.startswith("_") and not callable(value) and not isinstance(value, property):
                setattr(self, name, getattr(handler, name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)

    def _call(self, name: str, argument: str, call: Callable[..., Any], *args: Any) -> Any:
        steps, lane = self._steps, self._lane
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
        reply: Reply = self._call("connection_made", "", self._handler.connection_made, context)
        return reply

    def data_received(self, data: bytes) -> Reply:
        reply: Reply = self._call("data_received", f"{len(data)} B", self._handler.data_received,
                                  data)
        return reply

    def eof_received(self) -> Reply | bool:
        return self._call("eof_received", "", self._handler.eof_received)  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._call("connection_lost", "" if exc is None else type(exc).__name__,
                   self._handler.connection_lost, exc)

    def pause_writing(self) -> None:
        self._call("pause_writing", "", self._handler.pause_writing)

    def resume_writing(self) -> None:
        self._call("resume_writing", "", self._handler.resume_writing)


class ConnectionTracer(ConnectionInstrument):
    """Every connection of a loop, narrated on `steps` (see the module docstring)."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.lanes: dict[Connection, Lane] = {}
        self.by_fd: dict[int, Lane] = {}  # a closed one's stays until its number is reused

    def connection_started(self, connection: Connection) -> None:
        steps, peer = self.steps, connection.peer
        if connection.sock is not None:
            fd = connection.fd
            lane = steps.lane(f"fd {fd} {peer}", "client", fd)
            listener = steps.listener_lane
            steps.instant(listener, "io", "accept", None, peer=peer, fd=fd)
            steps.instant(lane, "io", "accepted", f"accepted by {listener.name}", peer=peer)
            self.by_fd[fd] = lane
        else:
            lane = steps.lane(f"out {peer}", "outbound")
            steps.instant(lane, "io", "connect", "connecting", address=peer)
        self.lanes[connection] = lane

    def wrap_handler(self, connection: Connection, handler: Handler) -> Handler:
        lane = self.lanes.get(connection)
        return handler if lane is None else TracedHandler(handler, self.steps, lane)

    def wrap_io(self, connection: Connection, read: Read, write: Write) -> tuple[Read, Write]:
        lane = self.lanes.get(connection)
        if lane is None:
            return read, write
        return traced_read(self.steps, lane, read), traced_write(self.steps, lane, write)

    def state_changed(self, connection: Connection, old: State, new: State,
                      event: Event) -> None:
        steps, lane = self.steps, self.lanes.get(connection)
        if lane is None:
            return
        name = f"fd {connection.fd} {connection.peer}"
        if connection.fd >= 0 and name != lane.name:  # an outbound one, connected now
            steps.instant(lane, "io", "connected", f"now {name}", fd=connection.fd)
            steps.rename(lane, name, connection.fd)
            self.by_fd[connection.fd] = lane
        # Reported before the state's entry actions, so steps print in the order they happen.
        steps.instant(lane, "state", f"{old!r} -> {new!r}", f"{old!r} -> {new!r} ({event.value})",
                      **{"from": repr(old), "to": repr(new), "event": event.value})
        if new is not old and old is not FIN_SENT and (new is FIN_SENT or new is LINGERING):
            steps.instant(lane, "io", "shutdown", "shutdown(SHUT_WR): FIN sent")
        if new is CLOSED:
            del self.lanes[connection]
            steps.forget(lane, connection.fd)  # the kernel may give the number to the next one

    def watch_changed(self, fd: int, events: int) -> None:
        lane = self.by_fd.get(fd)
        if lane is not None:
            what = f"watching {mask_name(events) or 'nothing'}"
            self.steps.instant(lane, "flow", what, what)

    def reading_paused(self, connection: Connection, paused: bool) -> None:
        lane = self.lanes.get(connection)
        if lane is not None:
            name = "pause_reading" if paused else "resume_reading"
            self.steps.instant(lane, "flow", name,
                               "handler " + ("pauses" if paused else "resumes") + " reading")

    def proxy_header_read(self, connection: Connection, header: ProxyHeader) -> None:
        lane = self.lanes.get(connection)
        if lane is None:
            return
        who = "the original client" if header.source else "a LOCAL header: the proxy itself"
        self.steps.instant(lane, "io", "proxy header",
                           f"PROXY v{header.version} header: {who}"
                           + (f" is {format_address(header.source)}" if header.source else ""))
