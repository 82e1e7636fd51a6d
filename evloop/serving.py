"""`run()`: serve a handler until SIGINT or SIGTERM, as `python3 -m evloop.serve` does.

From Python code::

    import evloop

    class Shout(evloop.Handler):
        def data_received(self, data):
            return data.upper()

    evloop.run(Shout, evloop.Config(port=12000))

`run()` raises the file-descriptor limit, builds the server, binds, prints
one startup line, serves until SIGINT or SIGTERM, drains, and returns 0.
With `Config(workers=N)` it forks N servers sharing the port
(evloop.workers) and returns the first failing worker's exit code, or 0.
A port that cannot be had raises OSError (`describe_bind_error` says it in
one line), a bad handler TypeError, and bad handler options ValueError.
It must run in the main thread, which is where signals arrive.

`format_startup` is the one place the startup line is written, for one
process and for a --workers parent alike::

    evloop: serving lenprefix on 127.0.0.1:12000 (tcp), selector epoll
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from evloop import limits
from evloop import workers
from evloop.backends import make_backend
from evloop.config import Config
from evloop.handlers.base import Handler
from evloop.loading import BUILTIN
from evloop.loading import load_handler
from evloop.server import Server
from evloop.loading import check_handler
from evloop.sockets import describe_bind_error
from evloop.sockets import format_address
from evloop.sockets import raise_fd_limit

log = logging.getLogger("evloop")

LOG_FORMAT = "%(asctime)s evloop %(levelname)s %(message)s"


def format_startup(label: str, address: Any, config: Config, selector: str,
                   workers_how: str = "", metrics: Any = None) -> str:
    """The startup line: what is served, where, over what, how; then where
    the metrics are (`metrics`: the endpoint's address, for one process)."""
    protocols = ("unix" if config.unix is not None else "tcp+udp" if config.udp else "tcp")
    protocols += "+tls" if config.tls else ""
    line = f"evloop: serving {label} on {format_address(address)} ({protocols}), selector {selector}"
    line = f"{line}, {workers_how}" if workers_how else line
    if metrics is not None:
        line += f", metrics at http://{format_address(metrics)}/metrics"
    elif config.metrics_port == 0:  # --workers: each worker logs the port it got
        line += ", metrics on a free port per worker"
    elif config.metrics_port is not None:
        first = format_address((config.metrics_host, config.metrics_port))
        line += f", metrics at http://{first}/metrics (worker i: port {config.metrics_port}+i)"
    return line


def handler_label(handler: type[Handler]) -> str:
    """A built-in handler's short name ("lenprefix"), else the class's name."""
    target = f"{handler.__module__}:{handler.__qualname__}"
    return next((name for name, spec in BUILTIN.items() if spec == target), handler.__name__)


def print_line(line: str) -> None:
    print(line, flush=True)


def run(handler: type[Handler] | str, config: Config | None = None, *,
        announce: Callable[[str], None] = print_line) -> int:
    """Serve `handler` (a class, or a name `load_handler` knows) until SIGINT
    or SIGTERM; `announce` gets the startup line (default: print it)."""
    handler_class = load_handler(handler) if isinstance(handler, str) else handler
    config = config if config is not None else Config()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    wanted = config.max_connections + limits.FD_HEADROOM
    fd_limit = raise_fd_limit(wanted)
    if fd_limit is not None and fd_limit < wanted:
        log.warning("file descriptor limit %d, below --max-connections %d: past it, accepting "
                    "pauses until a client leaves (raise the hard limit: ulimit -Hn)",
                    fd_limit, config.max_connections)
    label = handler_label(handler_class)
    if config.workers > 1:
        check_handler(handler_class, config)  # once, in the parent, before forking
        backend = make_backend(config.selector)  # what "auto" means here, for the line
        selector = backend.name
        backend.close()
        return workers.run(
            config, lambda worker: _serve_worker(handler_class, config, worker),
            lambda address, how: announce(format_startup(label, address, config, selector, how)))
    with Server(handler_class, config) as server:
        server.start()

        def ready() -> None:  # once SIGINT and SIGTERM are the server's
            announce(format_startup(label, server.address, config, server.loop.selector_name,
                                    metrics=server.metrics_address))
            log.debug("file descriptor limit %s; up to %d connections", fd_limit,
                      config.max_connections)

        server.serve_forever(ready=ready)
    log.info("stopped")
    return 0


def _serve_worker(handler: type[Handler], config: Config, worker: workers.Worker) -> int:
    """One --workers child: its own server on the shared port, until SIGTERM."""
    metrics_port = config.metrics_port
    if metrics_port:  # worker i serves its own figures on metrics_port + i
        metrics_port += worker.index
    config = dataclasses.replace(config, workers=1, port=worker.port, metrics_port=metrics_port,
                                 reuse_port=worker.listener is None)
    with Server(handler, config) as server:
        try:
            server.start(listener=worker.listener, udp_socket=worker.udp_socket)
        except OSError as exc:
            log.error("%s", describe_bind_error(exc, config.where))
            return 2
        if server.metrics_address is not None:
            log.info("worker %d: metrics at http://%s/metrics", worker.index,
                     format_address(server.metrics_address))
        server.serve_forever(signals=(signal.SIGTERM,),
                             ready=lambda: worker.started(server.loop, server.shutdown))
    return 0
