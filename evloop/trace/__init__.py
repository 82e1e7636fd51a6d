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

The parts: evloop.trace.steps (where steps go: text, file, or both),
evloop.trace.connections (a traced connection and its handler), this
module (the loop's side: its waits, its callbacks, the offload pool, and
`enable`), evloop.trace.recording (the file) and evloop.trace.page (the
file drawn as a page).
"""

import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from typing import Protocol

from evloop.settings.config import Config
from evloop.connection.connection import Connection
from evloop.loop.errors import callback_name
from evloop.loop.base import BaseLoop
from evloop.loop.offload import Offloader
from evloop.connection.addresses import format_address
from evloop.trace.connections import TracedConnection
from evloop.trace.loop import LoopTracer
from evloop.trace.recording import TraceFile
from evloop.trace.steps import Lane
from evloop.trace.steps import Steps

__all__ = ["LoopTracer", "Steps", "TraceFile", "Traceable", "TracedConnection", "enable"]


class Traceable(Protocol):
    """A server, as far as tracing it goes: it builds connections of this class,
    and has these sockets and this pool."""

    config: Config
    connection_class: type[Connection]
    listener: socket.socket | None
    datagram: Any
    metrics: Any
    offloader: Any

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


def enable(loop: BaseLoop, server: Traceable) -> Steps:
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
    loop.add_instrument(LoopTracer(steps, loop))
    server.connection_class = type("TracedConnection", (TracedConnection,),
                                   {"__slots__": (), "steps": steps})
    if server.offloader is not None:
        server.offloader = TracedOffloader(steps, server.offloader)
    return steps
