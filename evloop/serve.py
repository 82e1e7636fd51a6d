"""`python -m evloop.serve`: run a handler as a server from the command line.

This module is only the command line: it parses and checks the options,
builds the loop, the handler factory and the server, prints one startup line
on stdout, and runs the loop until SIGINT or SIGTERM.  Every error a user can
cause (a taken port, an unknown handler, a bad option) ends in a one-line
message and exit code 2, never a traceback.
"""

import argparse
import errno
import logging
import os
import signal
import sys

from evloop.handlers import BUILTIN
from evloop.handlers import DEFAULT_MAX_MESSAGE
from evloop.handlers import HandlerNotFound
from evloop.handlers import handler_name
from evloop.handlers import load_handler
from evloop.handlers import make_factory
from evloop import limits as bounds
from evloop.limits import Limits
from evloop.loop import Loop
from evloop.selecting import available_selectors
from evloop.selecting import make_selector
from evloop.selecting import selector_name
from evloop.server import Server
from evloop.server import format_address

log = logging.getLogger("evloop")

DEFAULT_PORT = 12000  # Kurose and Ross's serverPort


def default_port():
    """12000, or $EVLOOP_PORT: one setting for a shell session's servers and clients."""
    text = os.environ.get("EVLOOP_PORT", "")
    try:
        return parse_port(text) if text else DEFAULT_PORT
    except argparse.ArgumentTypeError:
        return DEFAULT_PORT


def parse_size(text):
    """ "65536", "64K", "8M" or "1G" -> a number of bytes."""
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    text = text.strip().upper().removesuffix("B")
    scale = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 65536, 64K or 8M)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a size cannot be negative")
    return value


def parse_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a time cannot be negative")
    return value


def parse_port(text):
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m evloop.serve",
        description="Serve a handler over TCP (and UDP) from one single-threaded event loop.",
        epilog="Stop with Ctrl-C or SIGTERM: replies already due are delivered first.")
    add = parser.add_argument
    add("--handler", default="echo",
        help=f"{', '.join(BUILTIN)}, or package.module:ClassName (default: echo)")
    add("--host", default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    add("--port", type=parse_port, default=default_port(),
        help=f"port to bind; 0 picks a free one (default: {DEFAULT_PORT}, or $EVLOOP_PORT)")
    add("--udp", action="store_true", help="also serve the handler over UDP on the same port")
    add("--backlog", type=int, default=128, help="listen() backlog (default: 128)")
    add("--selector", default="auto", choices=available_selectors(),
        help="the selectors class to use (default: auto, the best the platform has)")
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="log level on stderr (default: info)")
    add("--trace", action="store_true",
        help="narrate every wake-up, recv, send and state change on stderr (for learning)")
    add("--max-message", type=parse_size, default=DEFAULT_MAX_MESSAGE,
        help=f"longest message or line in bytes; longer is a protocol error "
             f"(default: {DEFAULT_MAX_MESSAGE}; lenprefix is at most 999 anyway)")
    add("--high-water", type=parse_size, default=bounds.DEFAULT_HIGH_WATER,
        help="stop reading from a client whose pending output passes this (default: 256K)")
    add("--low-water", type=parse_size, default=bounds.DEFAULT_LOW_WATER,
        help="resume reading once its output drains to this (default: 64K)")
    add("--max-output", type=parse_size, default=bounds.DEFAULT_MAX_OUTPUT,
        help="disconnect a client whose pending output passes this, e.g. a chat "
             "client that stops reading (default: 8M)")
    add("--idle-timeout", type=parse_seconds, default=bounds.DEFAULT_IDLE_TIMEOUT,
        help="close a connection that completes no message for this long; 0 = never "
             "(default: 300)")
    add("--max-connections", type=int, default=bounds.DEFAULT_MAX_CONNECTIONS,
        help="refuse clients beyond this many at once (default: 10000)")
    add("--work-ms", type=parse_seconds, default=None,
        help="slow handler: milliseconds of work per line (default: 10)")
    add("--work", choices=["cpu", "sleep"], default=None,
        help="slow handler: spin the CPU or sleep (default: cpu)")
    add("--offload", choices=["none", "thread", "process"], default="none",
        help="run handlers' offload() calls in a thread or process pool instead of "
             "in the loop (default: none)")
    add("--offload-workers", type=int, default=None,
        help="pool size for --offload (default: 32 threads, or one process per core)")
    add("--workers", type=int, default=1,
        help="pre-fork this many server processes sharing the port (SO_REUSEPORT), "
             "one event loop per core (default: 1)")
    add("--drain-timeout", type=parse_seconds, default=bounds.DEFAULT_DRAIN_TIMEOUT,
        help="at shutdown, how long to wait for replies to drain (default: 5)")
    return parser


def check_options(parser, options):
    """Reject combinations argparse cannot see; returns the handler class."""
    if options.low_water >= options.high_water:
        parser.error("--low-water must be below --high-water")
    if options.max_output <= options.high_water:
        parser.error("--max-output must be above --high-water")
    if options.max_message < 1 or options.backlog < 1 or options.max_connections < 1:
        parser.error("--max-message, --backlog and --max-connections must be positive")
    if options.offload_workers is not None and not 1 <= options.offload_workers <= 1024:
        parser.error("--offload-workers must be between 1 and 1024")
    if not 1 <= options.workers <= 256:
        parser.error("--workers must be between 1 and 256")
    if options.workers > 1 and not hasattr(os, "fork"):
        parser.error("--workers needs os.fork(), which this platform lacks")
    try:
        handler_class = load_handler(options.handler)
    except HandlerNotFound as exc:
        parser.exit(2, f"evloop.serve: error: {exc}\n")
    if options.udp and not getattr(handler_class, "supports_udp", True):
        parser.exit(2, f"evloop.serve: error: the {options.handler} handler needs a "
                       f"connection and cannot run over UDP; drop --udp\n")
    takes = getattr(handler_class, "options", ())
    for flag, key in (("--work-ms", "work_ms"), ("--work", "work")):
        if getattr(options, key) is not None and key not in takes:
            parser.error(f"{flag} applies only to handlers that take it, such as slow")
    return handler_class


def raise_fd_limit():
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the new figure."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def describe_bind_error(exc, host, port):
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {host}:{port}: address already in use (another server there?)"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {host}:{port}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}:{port}: no such address on this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def make_server(options, handler_class, worker=None):
    """Build the loop and the server from parsed options (not yet started)."""
    loop = Loop(options.selector)
    limits = Limits(high_water=options.high_water, low_water=options.low_water,
                    max_output=options.max_output, idle_timeout=options.idle_timeout)
    offloader = None
    if options.offload != "none":
        from evloop.offload import Offloader
        offloader = Offloader(loop, options.offload, options.offload_workers)
    factory = make_factory(handler_class, options.max_message, work_ms=options.work_ms,
                           work=options.work)
    server = Server(loop, factory,
                    host=options.host, port=options.port, backlog=options.backlog,
                    udp=options.udp, limits=limits, max_connections=options.max_connections,
                    drain_timeout=options.drain_timeout,
                    busy_message=getattr(handler_class, "busy_message", b""),
                    reuse_port=worker is not None and worker.listener is None,
                    listener=worker and worker.listener, udp_socket=worker and worker.udp_socket,
                    offloader=offloader)
    if options.trace:
        from evloop import trace
        trace.enable(loop, server)
    return loop, server


def main(argv=None):
    parser = build_parser()
    options = parser.parse_args(argv)
    handler_class = check_options(parser, options)
    logging.basicConfig(level=options.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s evloop %(levelname)s %(message)s")
    fd_limit = raise_fd_limit()
    if options.workers > 1:
        from evloop import workers
        options.handler_label = handler_name(options.handler)
        probe = make_selector(options.selector)  # for the startup line: what "auto" means here
        options.selector_label = selector_name(probe)
        probe.close()
        return workers.run(options, handler_class, fd_limit, serve)
    return serve(options, handler_class, fd_limit)


def serve(options, handler_class, fd_limit, worker=None):
    """Run one server until it is stopped; `worker` is set in a --workers child."""
    loop, server = make_server(options, handler_class, worker)
    try:
        server.start()
    except OSError as exc:
        loop.close()
        print(f"evloop.serve: error: {describe_bind_error(exc, options.host, options.port)}",
              file=sys.stderr)
        return 2
    if worker is None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda signum: server.shutdown())
        protocols = "tcp+udp" if options.udp else "tcp"
        print(f"evloop: serving {handler_name(options.handler)} on {format_address(server.address)} "
              f"({protocols}), selector {loop.selector_name}", flush=True)
        log.info("file descriptor limit %s; up to %d connections", fd_limit, options.max_connections)
    else:
        worker.started(loop, server)
    try:
        loop.run()
    finally:
        if server.offloader is not None:
            server.offloader.close()
        _close_ignoring_signals(loop)
    log.info("stopped")
    return 0


def _close_ignoring_signals(loop):
    """Close the loop, ignoring SIGINT/SIGTERM from then on: drained and exiting,
    a late second signal (a --workers parent forwards every one it gets) must
    not turn exit 0 into death by signal.  The loop's handlers give way to
    SIG_IGN at once, never to the default action in between: the kernel may
    hand a signal to any thread, an --offload pool thread included, so
    blocking it in the main thread meanwhile was not enough (seen in the tests).
    Both are the loop's here: serve() gives it both, and a --workers child
    gives it SIGTERM and ignores SIGINT from the start."""
    loop.close(ignore=(signal.SIGINT, signal.SIGTERM))


if __name__ == "__main__":
    sys.exit(main())
