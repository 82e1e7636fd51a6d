"""`run()`: serve a handler until SIGINT or SIGTERM, as `python3 -m evloop.serve` does.

From Python code::

    import evloop

    class Shout(evloop.Handler):
        def data_received(self, data):
            return data.upper()

    evloop.run(Shout, evloop.Config(port=12000))

Start-up is one path, top-down: raise the file-descriptor limit, check
the handler against the config, acquire the sockets (bound here, `--fd`,
or systemd's: evloop.server.listening), then serve on them: in this process
(one worker, no fork), or under a supervisor whose N workers inherit them
(evloop.supervisor), which returns the first exit code a stop found
failing, or 0.  Either way one startup line is printed and NOTIFY_SOCKET,
if set, hears READY=1 (evloop.supervisor.systemd).
A port that cannot be had raises OSError (`describe_bind_error` says it in
one line), a bad handler TypeError, and bad handler options ValueError.
It must run in the main thread, which is where signals arrive.

`format_startup` is the one place the startup line is written, for one
process and for a --workers parent alike::

    evloop: serving lenprefix on 127.0.0.1:12000 (tcp), selector epoll
"""

from __future__ import annotations

import dataclasses
import os
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

from evloop.connection.tls import make_context
from evloop.handlers.addresses import format_address
from evloop.handlers.base import Handler
from evloop.loop.backends import make_backend
from evloop.server import listening
from evloop.server.loading import BUILTIN
from evloop.server.loading import HandlerLoadError
from evloop.server.loading import check_handler
from evloop.server.loading import load_handler
from evloop.server.loading import reload_handler
from evloop.server.server import STOP_SIGNALS
from evloop.server.server import Server
from evloop.server.sockets import describe_bind_error
from evloop.server.sockets import raise_fd_limit
from evloop.settings import limits
from evloop.settings.config import Config
from evloop.supervisor import supervisor
from evloop.supervisor import workers
from evloop.supervisor.systemd import Notifier
from evloop.supervisor.watchdog import tell_systemd
from evloop.supervisor.watchdog import watch_alone

log = logging.getLogger("evloop")

# Each line names its logger: evloop's own, asyncio's (evloop.aio), a handler's
# (`logging.getLogger("gateway")` prints "gateway WARNING ...").
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
STATUS_INTERVAL = 1.0  # how often a single server tells NOTIFY_SOCKET its connections


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


def reload_spec(handler: type[Handler]) -> str | None:
    """The name that loads `handler` again from its source, if it has one."""
    if handler.__module__ == "__main__" or "<locals>" in handler.__qualname__:
        return None
    return f"{handler.__module__}:{handler.__qualname__}"


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
    log.debug("file descriptor limit %s; up to %d connections", fd_limit, config.max_connections)
    check_handler(handler_class, config)  # before listening: a bad handler is one line
    tls_context = make_context(config) if config.tls else None  # once, for every worker
    # One path: the sockets first (bound, --fd or systemd's), then one server on
    # them here, or a supervisor whose workers inherit them.
    listeners = listening.acquire(config)
    notifier = Notifier()
    try:
        config = listeners.configure(config)
        label = handler_label(handler_class)
        if config.workers == 1:
            return _serve_alone(handler_class, config, listeners, notifier, label, announce,
                                tls_context)
        backend = make_backend(config.selector)  # what "auto" means here, for the line
        selector = backend.name
        backend.close()
        spec = reload_spec(handler_class)
        return supervisor.run(
            config, listeners,
            lambda worker: _serve_worker(handler_class, spec, config, worker, tls_context),
            lambda how: announce(format_startup(label, listeners.address, config, selector, how)),
            notifier)
    finally:
        listeners.close()
        notifier.close()


def _serve_alone(handler: type[Handler], config: Config, listeners: listening.Listeners,
                 notifier: Notifier, label: str, announce: Callable[[str], None],
                 tls_context: ssl.SSLContext | None) -> int:
    """One process, no fork: the one-worker case."""
    with Server(handler, config, tls_context=tls_context) as server:
        server.start(listener=listeners.stream, udp_socket=listeners.udp)

        def stop(signum: int) -> None:
            notifier.stopping()
            server.shutdown()

        def status() -> None:
            notifier.status(f"{len(server.connections)} connections open")
            server.loop.call_later(STATUS_INTERVAL, status)

        def ready() -> None:  # before the first turn of the loop
            # The signals first: whoever reads the startup line may send one at once.
            server.loop.add_signal_handler(signal.SIGHUP, lambda signum: log.warning(
                "SIGHUP: reloading needs a supervisor (--workers 2 or more); ignored"))
            for signum in STOP_SIGNALS:
                server.loop.add_signal_handler(signum, stop)
            announce(format_startup(label, server.address, config, server.loop.selector_name,
                                    metrics=server.metrics_address))
            notifier.ready("0 connections open")
            if notifier.path is not None:
                server.loop.call_later(STATUS_INTERVAL, status)
            unwatch.append(watch_alone(server.loop, config.worker_timeout))
            tell_systemd(server.loop, notifier.watchdog_interval(), notifier.alive)

        unwatch: list[Callable[[], None]] = []
        try:
            server.serve_forever(signals=(), ready=ready)
        finally:
            for stop_watching in unwatch:  # the loop has stopped: so has its heartbeat
                stop_watching()
    log.info("stopped")
    return 0


def _serve_worker(handler: type[Handler], spec: str | None, config: Config,
                  worker: workers.Worker, tls_context: ssl.SSLContext | None) -> int:
    """One --workers child: its own server on the inherited sockets, until SIGTERM."""
    if worker.reload and spec is not None:
        try:
            handler = reload_handler(spec)
            check_handler(handler, config)
        except (HandlerLoadError, TypeError, ValueError) as exc:
            worker.failed(str(exc))
            return 2
    metrics_port = config.metrics_port if worker.metrics is not None else None
    trace_file = config.trace_file
    if trace_file is not None:  # one file per worker: run.json -> run.4711.json
        root, extension = os.path.splitext(trace_file)
        trace_file = f"{root}.{os.getpid()}{extension}"
    config = dataclasses.replace(config, workers=1, metrics_port=metrics_port,
                                 trace_file=trace_file)
    with Server(handler, config, tls_context=tls_context) as server:
        try:
            server.start(listener=worker.listeners.stream, udp_socket=worker.listeners.udp,
                         metrics_listener=worker.metrics)
        except OSError as exc:
            worker.failed(describe_bind_error(exc, config.where))
            return 2
        if server.metrics_address is not None:
            log.info("worker %d: metrics at http://%s/metrics", worker.index,
                     format_address(server.metrics_address))
        server.serve_forever(signals=(signal.SIGTERM,), ready=lambda: worker.started(
            server.loop, lambda: server.retire(worker.grace), server.shutdown,
            lambda: len(server.connections)))
    return 0
