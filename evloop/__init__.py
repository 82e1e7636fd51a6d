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
  (evloop.loop, evloop.outbound); `Timer` is what its `call_later` returns.
* `Stats` (with `Traffic`, `Histogram` and `Outbound`): what
  `Server.stats()` returns, the figures `--metrics-port` serves (evloop.metrics).
* `raise_fd_limit()`: as many file descriptors as the process may have.
* `load_handler()`: a handler class by name ("lenprefix", "module:Class").
* `TraceFile`: steps recorded in the Chrome Trace Event format, as `--trace-file`
  writes them (the bench's thread-per-client model records its own with it).

The layers, bottom up (each module opens with an essay):

1. `evloop.backends` (select, poll, epoll), `evloop.states`, `evloop.limits`,
   and `evloop.handlers`: no I/O at all;
2. `evloop.loop`: a backend, timers, signals and one error path;
   `evloop.dialing`: a non-blocking connect from it;
3. `evloop.connection`, with its parts `evloop.opening` (+ `evloop.prelude`,
   `evloop.tls`), `evloop.closing`, `evloop.contexts` (+ `evloop.handling`);
   `evloop.datagram`, `evloop.offload`, `evloop.metrics`: one peer's bytes,
   state and clock;
4. `evloop.outbound`, `evloop.server` (+ `evloop.accepting`,
   `evloop.serverwide`), `evloop.exposition`, `evloop.trace`,
   `evloop.workers`, `evloop.serving`;
5. `evloop.cli`: the command lines, on top.  The library never imports them.
"""

from __future__ import annotations

from evloop.config import Config
from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Context
from evloop.handlers.context import ServerContext
from evloop.handlers.lines import LineHandler
from evloop.loading import HandlerLoadError
from evloop.loading import load_handler
from evloop.metrics import Histogram
from evloop.metrics import Outbound
from evloop.metrics import Stats
from evloop.metrics import Traffic
from evloop.outbound import Loop
from evloop.timers import Timer
from evloop.server import Server
from evloop.serving import run
from evloop.sockets import raise_fd_limit
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
