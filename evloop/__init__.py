"""evloop: a hand-written, single-process event-loop server framework.

The public API, all importable from here::

    import evloop

    class Reverse(evloop.LineHandler):
        def line_received(self, line):
            return line[::-1] + b"\\n"

    evloop.run(Reverse, evloop.Config(port=12000))

* `Handler`, `LineHandler`: subclass one to write a protocol (sans-IO);
  `Context` is what a handler is given in `connection_made` (it sends,
  closes, waits, offloads, and connects out); `ServerContext`, what its
  class's `server_started` gets; `Option` declares a handler's own
  settings; `ProtocolError` rejects bad input.
* `Config`: every server setting, validated when built.
* `Server`: one handler served on one loop; `run()` serves until SIGINT or
  SIGTERM, as `python3 -m evloop.serve` does.
* `Loop`: the event loop, for programs of your own, with `connect()`
  (evloop.loop, evloop.connection.outbound); `Timer` is what its `call_later` returns.
* `Stats` (with `Traffic`, `Histogram` and `Outbound`): what
  `Server.stats()` returns, the figures `--metrics-port` serves (evloop.metrics).
* `raise_fd_limit()`: as many file descriptors as the process may have.
* `load_handler()`: a handler class by name ("lenprefix", "module:Class").
* `TraceFile`: steps recorded in the Chrome Trace Event format, as `--trace-file`
  writes them (the bench's thread-per-client model records its own with it).

The layers, bottom up (each module opens with an essay):

1. `evloop.loop.backends` (select, poll, epoll), `evloop.connection.states`, `evloop.settings.limits`,
   and `evloop.handlers`: no I/O at all;
2. `evloop.loop`: a backend, timers, signals and one error path;
   `evloop.connection.dialing`: a non-blocking connect from it;
3. `evloop.connection`, with its parts `evloop.connection.handshakes` (+ `evloop.connection.proxy_protocol`,
   `evloop.connection.tls`), `evloop.connection.lingering`, `evloop.connection.context` (+ `evloop.connection.handler_timers`);
   `evloop.server.udp`, `evloop.loop.offload`, `evloop.metrics`: one peer's bytes,
   state and clock;
4. `evloop.connection.outbound`, `evloop.server` (+ `evloop.server.accepting`,
   `evloop.server.server_context`), `evloop.metrics.prometheus`, `evloop.trace`,
   `evloop.supervisor.workers`, `evloop.supervisor.run`;
5. `evloop.cli`: the command lines, on top.  The library never imports them.
"""

from __future__ import annotations

from evloop.connection.outbound import Loop
from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Context
from evloop.handlers.context import ServerContext
from evloop.handlers.lines import LineHandler
from evloop.loop.timers import Timer
from evloop.metrics.stats import Histogram
from evloop.metrics.stats import Outbound
from evloop.metrics.stats import Stats
from evloop.metrics.stats import Traffic
from evloop.server.loading import HandlerLoadError
from evloop.server.loading import load_handler
from evloop.server.server import Server
from evloop.server.sockets import raise_fd_limit
from evloop.settings.config import Config
from evloop.supervisor.run import run
from evloop.trace.recording import TraceFile

__version__ = "0.2.0"

__all__ = [
    "Config",
    "Context",
    "Handler",
    "HandlerLoadError",
    "Histogram",
    "LineHandler",
    "Loop",
    "Option",
    "Outbound",
    "ProtocolError",
    "Server",
    "ServerContext",
    "Stats",
    "Timer",
    "TraceFile",
    "Traffic",
    "__version__",
    "load_handler",
    "raise_fd_limit",
    "run",
]
