"""--trace and --trace-file: the loop shows what it does, for people learning how it works.

`--trace` narrates a run on stderr, one line per step, each with its time
since the start and the descriptor's name: every wake-up (how long the loop
slept, and what woke it), what each connection received, what its handler
answered and how long it took, what `send()` took, and every state change.
`--trace-file run.json` records the same steps for a timeline
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

`enable(loop, server)` installs two instruments on the server's loop
(evloop.loop.instruments): `LoopTracer` (evloop.trace.loop: the waits and
callbacks) and `ConnectionTracer` (evloop.trace.connections: every
connection, outbound ones too), and puts `TracedOffloader`
(evloop.trace.offload) in front of its pool.  An untraced loop has none,
so its hot path carries no `if tracing:` test.  Datagrams are not traced.
Where the steps go is evloop.trace.steps; the file, evloop.trace.recording;
the file drawn as a page, evloop.trace.page.
"""

import socket
from typing import Any
from typing import Protocol

from evloop.handlers.addresses import format_address
from evloop.loop.base import BaseLoop
from evloop.settings.config import Config
from evloop.trace.connections import ConnectionTracer
from evloop.trace.loop import LoopTracer
from evloop.trace.offload import TracedOffloader
from evloop.trace.recording import TraceFile
from evloop.trace.steps import Steps

__all__ = ["ConnectionTracer", "LoopTracer", "Steps", "TraceFile", "Traceable", "enable"]


class Traceable(Protocol):
    """A server, as far as tracing it goes: its settings, sockets and pool."""

    config: Config
    listener: socket.socket | None
    datagram: Any
    metrics: Any
    offloader: Any


def enable(loop: BaseLoop, server: Traceable) -> Steps:
    """Trace this server's loop as its config asks: narrate on stderr (--trace),
    record to a file (--trace-file), or both."""
    path = server.config.trace_file

    def server_socket(fd: int) -> tuple[str, str] | None:
        for sock, kind in ((server.listener, "listener"),
                           (getattr(server.datagram, "sock", None), "udp"),
                           (getattr(server.metrics, "listener", None), "metrics")):
            if sock is not None and sock.fileno() == fd:
                return f"{kind} {format_address(sock.getsockname())}", kind
        return None
    steps = Steps(server.config.trace, TraceFile(path) if path is not None else None,
                  server_socket)
    loop.add_instrument(LoopTracer(steps, loop))
    loop.add_instrument(ConnectionTracer(steps))
    if server.offloader is not None:
        server.offloader = TracedOffloader(steps, server.offloader)
    return steps
