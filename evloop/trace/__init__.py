"""--trace and --trace-file: the loop shows what it does, for people learning how it works.

`--trace` narrates a run on stderr, one line per step, each with its time
since the start and the descriptor's name: every wake-up (how long the loop
slept, and what woke it), what each connection received, what its handler
answered and how long the handler took, what `send()` took, and every state
change.  `--trace-file run.json` records the same steps for a timeline
(evloop.trace.recording; `python3 -m evloop.trace view run.json` draws it).
A sample (times, ports and fds differ from run to run)::

    trace:     0.000 ms  loop: woke after 812.415 ms (no timeout): fd 6 listener R
    trace:     0.204 ms  fd 7 127.0.0.1:50122: accepted by fd 6 listener
    trace:     0.388 ms  loop: woke after 0.151 ms (timeout 300000 ms): fd 7 127.0.0.1:50122 R
    trace:     0.401 ms  fd 7 127.0.0.1:50122: recv 19 B
    trace:     0.415 ms  fd 7 127.0.0.1:50122: handler LenPrefixHandler.data_received(19 B) -> 19 B reply in 0.011 ms
    trace:     0.431 ms  fd 7 127.0.0.1:50122: send 19 B, all sent

The lines are in causal order: a handler that pushes while it runs (a chat
broadcast, a relay) gets its call line first, then the sends it caused,
then the line with its answer and its time.

Tracing is added by wrapping (the backend's poll, the connection's two
system calls, a handler proxy, a Connection subclass, the loop's ready
queue) only when asked for, so the untraced hot path carries no `if
tracing:` test at all.  Connections the handlers open (context.connect)
are traced the same way, named `out HOST:PORT` until they are connected.
Datagrams (--udp) are not traced.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from typing import Protocol

from evloop.backends import EVENT_READ
from evloop.backends import EVENT_WRITE
from evloop.backends import event_mask
from evloop.config import Config
from evloop.connection import Connection
from evloop.errors import callback_name
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.loop import Loop
from evloop.offload import Offloader
from evloop.proxyproto import ProxyHeader
from evloop.sockets import format_address
from evloop.states import TRANSITIONS
from evloop.states import Event
from evloop.trace.recording import TraceFile
from evloop.trace.recording import preview

__all__ = ["Steps", "TraceFile", "Traceable", "enable", "mask_name"]

log = logging.getLogger("evloop")


class Traceable(Protocol):
    """A server, as far as tracing it goes: it builds connections of this class,
    and has these sockets and this pool."""

    config: Config
    connection_class: type[Connection]
    listener: socket.socket | None
    datagram: Any
    metrics: Any
    offloader: Any


class Lane:
    """One descriptor's row: its name, and its lane in the trace file."""

    __slots__ = ("name", "kind", "number")

    def __init__(self, name: str, kind: str, number: int) -> None:
        self.name, self.kind, self.number = name, kind, number


def mask_name(mask: int) -> str:
    return ("R" if mask & EVENT_READ else "") + ("W" if mask & EVENT_WRITE else "")


NOTHING = {"data_received": "no complete message yet", "connection_made": "no greeting",
           "eof_received": "nothing more to send"}


def answer_text(call: str, reply: object) -> str:
    """What a handler's answer means, in words."""
    if reply is None or reply is False:
        return NOTHING.get(call, "done")
    if reply is True:
        return "keep the connection open for writing"
    if isinstance(reply, (bytes, bytearray, memoryview)):
        return f"{len(reply)} B reply"
    return f"a {type(reply).__name__}, not bytes"


class Steps:
    """Where traced steps go: the text narration on stderr, the trace file, or both.

    Every step names its lane; `begin`/`end` bracket a handler call, so that
    what the handler causes prints after the line that calls it.
    """

    def __init__(self, text: bool, file: TraceFile | None) -> None:
        self.text = text
        self.file = file
        self.clock = time.perf_counter  # the trace file's clock too
        self.started = file.started if file is not None else self.clock()
        self.loop_lane = Lane("loop", "loop", 0)
        self.by_fd: dict[int, Lane] = {}
        self.current: Lane | None = None  # whose handler is running, for offload
        # A handler call's line waits here until it returns, or until a step it
        # causes must print: then the call prints first (causal order).
        self._calls: list[list[Any]] = []
        self._lock = threading.Lock()

    # -- lanes ------------------------------------------------------------------

    def lane(self, name: str, kind: str, fd: int | None = None) -> Lane:
        number = self.file.lane(name, kind) if self.file is not None else 0
        lane = Lane(name, kind, number)
        if fd is not None:
            self.by_fd[fd] = lane
        return lane

    def rename(self, lane: Lane, name: str, fd: int) -> None:
        lane.name = name
        self.by_fd[fd] = lane
        if self.file is not None:
            self.file.rename(lane.number, name, lane.kind)

    def forget(self, lane: Lane, fd: int) -> None:
        if self.by_fd.get(fd) is lane:
            del self.by_fd[fd]

    # -- steps ------------------------------------------------------------------

    def say(self, lane: Lane, text: str, at: float | None = None) -> None:
        if not self.text:
            return
        self._flush_calls()
        self._print(lane, text, self.clock() if at is None else at)

    def _print(self, lane: Lane, text: str, at: float) -> None:
        ms = (at - self.started) * 1000
        print(f"trace: {ms:9.3f} ms  {lane.name}: {text}", file=sys.stderr, flush=True)

    def _flush_calls(self) -> None:
        for call in self._calls:
            if not call[3]:
                call[3] = True
                self._print(call[0], call[1], call[2])

    def instant(self, lane: Lane, cat: str, name: str, text: str | None, **args: Any) -> None:
        at = self.clock()
        if self.file is not None:
            self.file.instant(lane.number, cat, name, at, **args)
        if text is not None:
            self.say(lane, text, at)

    def begin(self, lane: Lane, call: str) -> float:
        start = self.clock()
        self._calls.append([lane, call, start, False])
        self.current = lane
        return start

    def end(self, lane: Lane, name: str, start: float, handler: str, result: str) -> None:
        end = self.clock()
        _, call, _, printed = self._calls.pop()
        self.current = self._calls[-1][0] if self._calls else None
        if self.file is not None:
            self.file.complete(lane.number, "handler", name, start, end, handler=handler,
                               reply=result)
        if self.text:
            took = f"in {(end - start) * 1000:.3f} ms"
            if printed:
                self._print(lane, f"handler {handler}.{name} -> {result} {took}", end)
            else:
                self._flush_calls()
                self._print(lane, f"{call} -> {result} {took}", start)

    def lane_of(self, fd: int) -> Lane | None:
        """The lane of a watched descriptor; the server's own sockets get theirs when first seen."""
        lane = self.by_fd.get(fd)
        if lane is None:
            named = self.server_socket(fd)
            if named is not None:
                lane = self.lane(f"fd {fd} {named[0]}", named[1], fd)
        return lane

    def name_of(self, fd: int) -> str:
        lane = self.lane_of(fd)
        return lane.name if lane is not None else f"fd {fd}"

    def server_socket(self, fd: int) -> tuple[str, str] | None:
        """(name, kind) of the server's own socket numbered `fd`; enable() replaces this."""
        return None

    @property
    def listener_lane(self) -> Lane:
        for lane in self.by_fd.values():
            if lane.kind == "listener":
                return lane
        return self.lane("listener", "listener")

    def finish(self) -> None:
        """Write the trace file, if there is one, and log where it went."""
        if self.file is None:
            return
        try:
            path = self.file.write()
        except OSError as exc:
            log.error("cannot write the trace file %s: %s", self.file.path, exc.strerror)
            return
        log.info("trace file %s: %d events; view it with: python3 -m evloop.trace view %s",
                 path, len(self.file.events), path)


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

    def __init__(self, loop: Loop, sock: socket.socket | None, peer: str, handler: Handler,
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


def traced_poll(steps: Steps, loop: Loop, poll: Callable[[float | None], list[tuple[int, int]]]
                ) -> Callable[[float | None], list[tuple[int, int]]]:
    """The backend's poll, timed: how long the loop slept, and what woke it."""
    backend = loop.selector_name

    def sys_poll(timeout: float | None) -> list[tuple[int, int]]:
        start = steps.clock()
        ready = poll(timeout)
        end = steps.clock()
        names = [f"{steps.name_of(fd)} {mask_name(event_mask(event))}" for fd, event in ready]
        waited = "no timeout" if timeout is None else f"timeout {timeout * 1000:.0f} ms"
        if steps.file is not None:
            steps.file.complete(0, "wait", backend, start, end,
                                timeout_ms=None if timeout is None else round(timeout * 1000, 3),
                                ready=names, woken_by=", ".join(names) or "timeout")
        if ready or timeout != 0:  # a turn that did not sleep and found nothing: not news
            steps.say(steps.loop_lane, f"woke after {(end - start) * 1000:.3f} ms ({waited}): "
                      + (", ".join(names) if names else "nothing ready"), end)
        return ready
    return sys_poll


def traced_ready(steps: Steps, loop: Loop) -> Callable[[], None]:
    """The loop's call_soon queue and due timers, each callback timed (the trace file)."""
    ready = loop._ready  # the queue Loop._run_ready runs, run here the same way
    file = steps.file

    def run_ready() -> None:
        for _ in range(len(ready)):
            timer = ready.popleft()
            if timer.cancelled:
                continue
            start = steps.clock()
            try:
                timer.callback(*timer.args)
            except Exception as exc:
                loop._callback_raised(exc, timer.callback, "the callback")
            if file is not None:
                file.complete(0, "timer", "callback", start, steps.clock(),
                              callback=callback_name(timer.callback))
    return run_ready


class TracedOffloader:
    """The server's offload pool, with each job drawn on its pool thread's lane."""

    def __init__(self, steps: Steps, offloader: Offloader) -> None:
        self._steps = steps
        self._offloader = offloader
        self._threads: dict[int, Lane] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._offloader, name)

    def _thread_lane(self) -> Lane:
        ident = threading.get_ident()
        lane = self._threads.get(ident)
        if lane is None:
            with self._steps._lock:
                lane = self._threads.get(ident) or self._steps.lane(
                    f"offload thread {len(self._threads) + 1}", "offload")
                self._threads[ident] = lane
        return lane

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
               callback: Callable[[Future[Any]], object]) -> Future[Any]:
        steps, owner = self._steps, self._steps.current or self._steps.loop_lane
        what = callback_name(fn)
        submitted = steps.clock()
        steps.instant(owner, "offload", "offload submitted", f"offloads {what}", function=what)

        def job(*args: Any) -> Any:
            start = steps.clock()
            try:
                return fn(*args)
            finally:
                if steps.file is not None:
                    steps.file.complete(self._thread_lane().number, "offload", what, start,
                                        steps.clock(), function=what, **{"for": owner.name})

        def done(future: Future[Any]) -> object:
            if steps.file is not None and self._offloader.kind == "process":
                steps.file.complete(steps.loop_lane.number, "offload", what, submitted,
                                    steps.clock(), function=what, **{"for": owner.name})
            steps.instant(owner, "offload", "offload done", f"{what} done, its answer goes on")
            steps.current = owner
            try:
                return callback(future)
            finally:
                steps.current = None

        # A process pool pickles fn: it gets the plain function, and its span
        # is drawn from submit to result instead.
        return self._offloader.submit(job if self._offloader.kind == "thread" else fn, args, done)


def enable(loop: Loop, server: Traceable) -> Steps:
    """Trace this server's loop as its config asks: narrate on stderr (--trace),
    record to a file (--trace-file), or both."""
    path = server.config.trace_file
    steps = Steps(server.config.trace, TraceFile(path) if path is not None else None)

    def server_socket(fd: int) -> tuple[str, str] | None:
        for sock, kind in ((server.listener, "listener"),
                           (getattr(server.datagram, "sock", None), "udp"),
                           (getattr(server.metrics, "listener", None), "metrics")):
            if sock is not None and sock.fileno() == fd:
                return f"{kind} {format_address(sock.getsockname())}", kind
        return None
    steps.server_socket = server_socket  # type: ignore[method-assign]
    waker = loop._waker
    waker_lane = steps.lane(f"fd {waker.reader.fileno()} wake-up", "waker", waker.reader.fileno())

    def woken() -> None:
        steps.instant(waker_lane, "io", "wake", None)
        waker.on_readable()
    loop.add_reader(waker.reader, woken)
    # Instance attributes over the loop's own: the untraced loop pays nothing.
    loop._poll = traced_poll(steps, loop, loop._poll)
    loop._run_ready = traced_ready(steps, loop)  # type: ignore[method-assign]
    server.connection_class = type("TracedConnection", (TracedConnection,),
                                   {"__slots__": (), "steps": steps})
    if server.offloader is not None:
        server.offloader = TracedOffloader(steps, server.offloader)
    return steps
