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
Logging is set up only if the program has not set it up itself:
evloop's text lines on stderr (evloop.settings.logs keeps its formatters).
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
from collections.abc import Callable
from typing import Any

from evloop.connection.tls import TLSFiles
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
from evloop.server.loading import unreloadable
from evloop.server.server import Server
from evloop.server.sockets import describe_bind_error
from evloop.server.sockets import raise_fd_limit
from evloop.settings import limits
from evloop.settings import logs
from evloop.settings.config import Config
from evloop.supervisor import hygiene
from evloop.supervisor import signals
from evloop.supervisor import supervisor
from evloop.supervisor import workers
from evloop.supervisor.systemd import Notifier
from evloop.supervisor.watchdog import tell_systemd
from evloop.supervisor.watchdog import watch_alone

log = logging.getLogger("evloop")

STATUS_INTERVAL = 1.0  # how often a single server tells NOTIFY_SOCKET its connections


def format_startup(label: str, address: Any, config: Config, selector: str,
                   workers_how: str = "", metrics: Any = None) -> str:
    """The startup line: what is served, where, over what, how; then where
    the metrics are (`metrics`: the endpoint's address, the server's or, with
    --workers, the supervisor's)."""
    protocols = ("unix" if config.unix is not None else "tcp+udp" if config.udp else "tcp")
    protocols += "+tls" if config.tls else ""
    line = f"evloop: serving {label} on {format_address(address)} ({protocols}), selector {selector}"
    line = f"{line}, {workers_how}" if workers_how else line
    if metrics is not None:
        line += f", metrics at http://{format_address(metrics)}/metrics"
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
    logs.configure()  # evloop's text lines on stderr, unless the program set logging up
    wanted = config.max_connections + limits.FD_HEADROOM
    fd_limit = raise_fd_limit(wanted)
    if fd_limit is not None and fd_limit < wanted:
        log.warning("file descriptor limit %d, below --max-connections %d: past it, accepting "
                    "pauses until a client leaves (raise the hard limit: ulimit -Hn)",
                    fd_limit, config.max_connections)
    log.debug("file descriptor limit %s; up to %d connections", fd_limit, config.max_connections)
    check_handler(handler_class, config)  # before listening: a bad handler is one line
    identity = hygiene.lookup(config.user, config.group)  # ValueError: one line
    # Read once, for every worker; again at each reload (SIGHUP).
    tls = TLSFiles(config, make_context(config) if config.tls else None)
    # One path: the sockets first (bound, --fd or systemd's), then one server on
    # them here, or a supervisor whose workers inherit them.
    listeners = listening.acquire(config)
    notifier = Notifier()
    pid_file = hygiene.PidFile(config.pid_file)
    try:
        _write_pid_file(pid_file)
        config = listeners.configure(config)
        label = handler_label(handler_class)
        if config.workers == 1:
            return _serve_alone(handler_class, config, listeners, notifier, label, announce,
                                tls, identity)
        backend = make_backend(config.selector)  # what "auto" means here, for the line
        selector = backend.name
        backend.close()
        spec = reload_spec(handler_class)
        tls = Renewal(config, tls.context, spec)
        if config.metrics_port is not None:  # one port for every worker's figures
            listeners.metrics = listening.bind_metrics(config)
        metrics = listeners.metrics.getsockname() if listeners.metrics is not None else None
        return supervisor.run(
            config, listeners,
            lambda worker: _serve_worker(handler_class, spec, config, worker, tls.context),
            lambda how: announce(format_startup(label, listeners.address, config, selector, how,
                                                metrics)),
            notifier, identity, tls)
    finally:
        listeners.close()
        notifier.close()
        pid_file.remove()


def _write_pid_file(pid_file: hygiene.PidFile) -> None:
    try:
        pid_file.write()
    except OSError as exc:  # a ValueError: the caller's one line names --pid-file
        raise ValueError(f"pid_file ({pid_file.path}): cannot write it: "
                         f"{exc.strerror or exc}") from None


def _serve_alone(handler: type[Handler], config: Config, listeners: listening.Listeners,
                 notifier: Notifier, label: str, announce: Callable[[str], None],
                 tls: TLSFiles, identity: hygiene.Identity | None) -> int:
    """One process, no fork: the one-worker case."""
    with Server(handler, config, tls_context=tls.context) as server:
        server.start(listener=listeners.stream, udp_socket=listeners.udp)
        hygiene.become(identity)  # every socket is bound: root is no longer needed

        def stop(signum: int) -> None:
            notifier.stopping()
            server.shutdown()

        def status() -> None:
            notifier.status(f"{len(server.connections)} connections open")
            server.loop.call_later(STATUS_INTERVAL, status)

        def ready() -> None:  # before the first turn of the loop
            # The signals first: whoever reads the startup line may send one at once.
            server.loop.add_signal_handler(signal.SIGHUP, lambda signum: _reload_alone(
                server, tls, notifier))
            for signum in signals.STOP:
                server.loop.add_signal_handler(signum, stop)
            for signum in signals.IGNORED:
                server.loop.add_signal_handler(signum, signals.say_ignored)
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


class Renewal(TLSFiles):
    """What a supervisor re-reads as a reload begins: the TLS files, for its new
    workers; and the one line on the handler's modules they cannot load afresh."""

    def __init__(self, config: Config, context: ssl.SSLContext | None,
                 spec: str | None) -> None:
        super().__init__(config, context)
        self.spec = spec

    def reread(self) -> None:
        super().reread()
        stale = unreloadable(self.spec) if self.spec is not None else ""
        if stale:
            log.warning("%s", stale)


def _reload_alone(server: Server, tls: TLSFiles, notifier: Notifier) -> None:
    """SIGHUP to a single server: its TLS files, re-read for new connections.  Its
    handler's code stays: a reload of code needs new processes (--workers)."""
    if not server.config.tls:
        return log.warning("SIGHUP: reloading the handler's code needs a supervisor "
                           "(--workers 2 or more); ignored")
    notifier.reloading()
    status = f"{len(server.connections)} connections open"
    try:
        tls.reread()
    except ValueError as exc:
        log.error("reload refused: %s; the old certificate goes on serving", exc)
        return notifier.refused(str(exc), status)
    tls.settle(kept=True)
    server.tls_context = tls.context  # new connections; open ones keep theirs
    log.info("reload: TLS files re-read; new connections get them (the handler's code "
             "reloads only under a supervisor, --workers 2 or more)")
    notifier.ready(status)


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
        # Retired, it leaves its slot's metrics port to its successor: a reload's new
        # worker, whose /readyz a load balancer is to hear (docs/07).
        server.serve_forever(signals=(signal.SIGTERM,), ready=lambda: worker.started(
            server.loop, lambda: server.retire(worker.grace, leave_metrics=True),
            server.shutdown, lambda: len(server.connections)))
    return 0
