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
  (evloop.loop.base, evloop.connection.outbound); `Timer` is what its
  `call_later` returns.
* `Stats` (with `Traffic`, `Histogram` and `Outbound`): what
  `Server.stats()` returns, the figures `--metrics-port` serves
  (evloop.metrics.stats).
* `raise_fd_limit()`: as many file descriptors as the process may have.
* `load_handler()`: a handler class by name ("lenprefix", "module:Class").
* `TraceFile`: steps recorded in the Chrome Trace Event format, as `--trace-file`
  writes them (the bench's thread-per-client model records its own with it).
* `evloop.testing` (imported by name): `FakeContext`, `FakeServerContext` and
  `ManualClock`, to drive a handler from a test with no socket and no loop.

Beneath this face, a package per layer, bottom up: `loop` and `handlers`;
`settings` and `metrics`; `connection`; `trace` and `diagrams`; `server` and
`aio`; `supervisor`; `cli` on top, which the library never imports.  Imports
run down the layers only (evloop.diagrams.packages, and the map that
docs/04-anatomy.md opens with); each module opens with an essay.
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
