"""`python3 -m evloop.serve`: run a handler as a server from the command line.

This module only translates: flags into an `evloop.Config`, `--handler`
into a handler class (evloop.server.loading), and then `evloop.run()`.  Every
error a user can cause (a bad value, a taken port, a handler that does not
load) ends in one line and exit code 2, never a traceback.

The handler's own options (the slow handler's --work-ms and --work) are
not named here: the arguments are parsed twice, first for --handler, then
with the options that handler class declares (`Handler.options`), so
`--handler slow --help` lists them and `--work-ms` with echo is refused.
Every flag, a handler's own included, may come from the environment
instead, as `EVLOOP_<FLAG>` (EVLOOP_WORKERS=4, EVLOOP_PROXY_PROTOCOL=yes);
a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import signal
import sys
from typing import Any

from evloop.cli.options import Parser
from evloop.cli.options import default_port
from evloop.cli.options import parse_count
from evloop.cli.options import parse_fd
from evloop.cli.options import parse_mode
from evloop.cli.options import parse_networks
from evloop.cli.options import parse_port
from evloop.cli.options import parse_seconds
from evloop.cli.options import parse_size
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.loop.backends import available_backends
from evloop.server.access_log import LOGGER as ACCESS_LOGGER
from evloop.server.listening import ListenerError
from evloop.server.loading import BUILTIN
from evloop.server.loading import HandlerLoadError
from evloop.server.loading import check_handler
from evloop.server.loading import load_handler
from evloop.server.sockets import describe_bind_error
from evloop.settings import logs
from evloop.settings.config import DEFAULT_PROXY_ALLOW
from evloop.settings.config import Config
from evloop.settings.limits import DEFAULT_HIGH_WATER
from evloop.settings.limits import DEFAULT_LOW_WATER
from evloop.settings.limits import DEFAULT_MAX_CONNECTIONS
from evloop.settings.limits import DEFAULT_MAX_OUTPUT
from evloop.settings.limits import DEFAULT_PORT
from evloop.supervisor.run import run
from evloop.supervisor.signals import SUPERVISOR_DECIDES

COMMAND = "evloop.serve"
CONFIG_FIELDS = [field.name for field in dataclasses.fields(Config) if field.name != "handler_options"]


def build_parser(handler: type[Handler] | None = None, spec: str = "echo") -> Parser:
    parser = Parser(COMMAND,
                    description="Serve a handler over TCP (and UDP) from one single-threaded "
                                "event loop.",
                    epilog="Stop with Ctrl-C, SIGTERM or SIGQUIT: replies already due are "
                           "delivered first.  A handler's own options appear with --handler "
                           "NAME --help.  Every option may also be set in the environment as "
                           "EVLOOP_<OPTION> (EVLOOP_MAX_CONNECTIONS=500); a flag wins.")
    add = parser.add_argument
    add("--handler", default="echo",
        help=f"{', '.join(BUILTIN)}, or module:ClassName (default: echo)")
    add("--host", default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    add("--port", type=parse_port, default=default_port(),
        help=f"port to bind; 0 picks a free one (default: {DEFAULT_PORT}, or $EVLOOP_PORT)")
    add("--unix", metavar="PATH", default=None,
        help="serve on a Unix stream socket at PATH instead of TCP (for a local proxy); a "
             "stale socket file is replaced, a live server's never")
    add("--unix-mode", type=parse_mode, default=None,
        help="permissions of the --unix socket file, in octal, e.g. 660 (default: the umask's)")
    add("--udp", action="store_true", help="also serve the handler over UDP on the same port")
    add("--backlog", type=parse_count, default=128, help="listen() backlog (default: 128)")
    add("--selector", default="auto", choices=available_backends(),
        help="the kernel's readiness call (default: auto, the best the platform has)")
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="log level on stderr (default: info)")
    add("--log-format", default="text", choices=logs.LOG_FORMATS,
        help="text (a line per record, for people) or json (an object per line, for a log "
             "shipper) (default: text)")
    add("--access-log", action="store_true",
        help="log a line per client connection as it closes: peer, duration, bytes and "
             "messages each way, why it ended, worker (logger evloop.access, at info, shown "
             "whatever --log-level says)")
    add("--trace", action="store_true",
        help="narrate every wake-up, recv, send and state change on stderr (for learning)")
    add("--trace-file", metavar="PATH", default=None,
        help="record every turn of the loop to PATH (Chrome Trace Event JSON) as the server "
             "stops; view it with: python3 -m evloop.trace view PATH (with --workers: one "
             "file per worker, PATH with the worker's pid before the extension)")
    add("--max-message", type=parse_size, default=DEFAULT_MAX_MESSAGE,
        help=f"longest message or line in bytes; longer is a protocol error "
             f"(default: {DEFAULT_MAX_MESSAGE}; lenprefix is at most 999 anyway)")
    add("--high-water", type=parse_size, default=DEFAULT_HIGH_WATER,
        help="stop reading from a client whose pending output passes this (default: 256K)")
    add("--low-water", type=parse_size, default=DEFAULT_LOW_WATER,
        help="resume reading once its output drains to this (default: 64K)")
    add("--max-output", type=parse_size, default=DEFAULT_MAX_OUTPUT,
        help="disconnect a client whose pending output passes this, e.g. a chat "
             "client that stops reading (default: 8M)")
    add("--idle-timeout", type=parse_seconds, default=300.0,
        help="close a connection that completes no message for this long; 0 = never "
             "(default: 300)")
    add("--max-connections", type=parse_count, default=DEFAULT_MAX_CONNECTIONS,
        help="refuse clients beyond this many at once, in each process: with --workers N "
             "the server holds up to N times this many (default: 10000)")
    add("--offload", choices=["none", "thread", "process"], default="none",
        help="run handlers' offload() calls in a thread or process pool instead of "
             "in the loop (default: none)")
    add("--offload-workers", type=parse_count, default=None,
        help="pool size for --offload (default: 32 threads, or one process per core)")
    add("--workers", type=parse_count, default=1,
        help="pre-fork this many server processes sharing the listener, one event loop per "
             "core, under a supervisor that replaces dead ones; SIGHUP reloads the handler's "
             "code, SIGTTIN/SIGTTOU add/remove one (default: 1)")
    add("--reload-grace", type=parse_seconds, default=None, metavar="SECONDS",
        help="after a SIGHUP reload, how long old workers may serve the connections they "
             "hold before they drain (default: --drain-timeout)")
    add("--worker-timeout", type=parse_seconds, default=30.0, metavar="SECONDS",
        help="a worker whose loop has not turned for this long is stuck: its stack is "
             "logged, it is killed and replaced; a single server dumps its stack and "
             "exits 1 (0: never; default: 30)")
    add("--worker-start-timeout", type=parse_seconds, default=30.0, metavar="SECONDS",
        help="a worker that does not listen this long after it starts is killed (a reload "
             "is refused, a first start stops the server) (default: 30)")
    add("--graceful-timeout", type=parse_seconds, default=30.0, metavar="SECONDS",
        help="how long workers told to stop may take to end (after --reload-grace, for a "
             "reload's old workers); past it they are killed (default: 30)")
    add("--user", default=None, metavar="NAME",
        help="serve as this user (name or uid) once the sockets are bound; with --workers, "
             "the workers do and the supervisor keeps its user, as nginx's master does "
             "(needs root)")
    add("--group", default=None, metavar="NAME",
        help="serve as this group (default with --user: that user's group)")
    add("--pid-file", default=None, metavar="PATH",
        help="write the pid of the process to signal (the supervisor, or the one server) "
             "to PATH; removed at exit")
    add("--fd", type=parse_fd, action="append", dest="fds", default=None, metavar="N",
        help="serve on the listening socket inherited as descriptor N instead of binding "
             "(repeatable: one TCP or Unix listener, one UDP socket); systemd's socket "
             "activation (LISTEN_FDS) is read by itself")
    add("--drain-timeout", type=parse_seconds, default=5.0,
        help="at shutdown, how long to wait for replies to drain (default: 5)")
    add("--proxy-protocol", action="store_true",
        help="every TCP connection starts with a PROXY protocol header (v1 or v2), as "
             "HAProxy's send-proxy sends; a connection without a valid one is closed")
    add("--proxy-allow", type=parse_networks, default=DEFAULT_PROXY_ALLOW, metavar="NETWORKS",
        help="with --proxy-protocol, the proxies whose header is believed, comma-separated, "
             "e.g. 10.0.0.0/8,192.0.2.7; a connection from any other address is closed "
             f"unread; a --unix client is always believed (default: "
             f"{','.join(DEFAULT_PROXY_ALLOW)}, this machine)")
    add("--handshake-timeout", type=parse_seconds, default=10.0,
        help="how long a connection may take to send its PROXY header and finish its TLS "
             "handshake (default: 10)")
    add("--tls-cert", metavar="FILE", default=None,
        help="serve TLS 1.2+ with this PEM certificate (chain); needs --tls-key")
    add("--tls-key", metavar="FILE", default=None, help="the PEM private key of --tls-cert")
    add("--tls-ca", metavar="FILE", default=None,
        help="ask every client for a certificate signed by this PEM CA (mutual TLS)")
    add("--metrics-port", type=parse_port, default=None, metavar="PORT",
        help="serve Prometheus metrics at http://METRICS-HOST:PORT/metrics, and /healthz "
             "and /readyz; with --workers, the supervisor serves every worker's figures "
             "there, each with its worker label (default: no metrics)")
    add("--metrics-host", default="127.0.0.1",
        help="address for --metrics-port (default: 127.0.0.1, this machine only)")
    if handler is not None and handler.options:
        group = parser.add_argument_group(f"options of the {spec} handler")
        for name, option in handler.options.items():
            group.add_argument(flag(name), dest=f"handler_option_{name}", default=None,
                               choices=option.choices, metavar=None if option.choices else "VALUE",
                               help=f"{option.help} (default: {option.default})")
    return parser


def unrecognized(arguments: list[str], spec: str) -> str:
    """argparse's complaint, and for a flag another built-in handler takes, which one."""
    message = f"unrecognized arguments: {' '.join(arguments)}"
    for argument in arguments:
        name = argument.partition("=")[0]
        owners = [builtin for builtin in BUILTIN if builtin != spec and name in
                  {flag(option) for option in load_handler(builtin).options}]
        if name.startswith("--") and owners:
            return (f"{name} is an option of the {' and '.join(owners)} handler, not of "
                    f"{spec}: use --handler {owners[0]}")
    return f"{message} (see --help)"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def make_config(options: argparse.Namespace, handler: type[Handler]) -> Config:
    """The Config the flags ask for; ValueError names the field that is wrong."""
    values: dict[str, Any] = {name: getattr(options, name) for name in CONFIG_FIELDS
                              if hasattr(options, name)}
    values["fds"] = tuple(options.fds or ())
    values["handler_options"] = {
        name: getattr(options, f"handler_option_{name}") for name in handler.options
        if getattr(options, f"handler_option_{name}", None) is not None}
    return Config(**values)


def flags_for_fields(message: str, handler: type[Handler]) -> str:
    """A Config message in the command line's words: high_water -> --high-water."""
    names = sorted([*CONFIG_FIELDS, *handler.options], key=len, reverse=True)
    # Not a flag already (--high-water), nor an address's scheme (unix:PATH).
    pattern = r"(?<![-\w])(" + "|".join(names) + r")(?![\w-])(?!:\S)"
    return re.sub(pattern, lambda m: flag(m.group(1)), message)


def requested_handler(argv: list[str]) -> str:
    """--handler's value, read before the full parse (which depends on it)."""
    pre = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    pre.add_argument("--handler", default=os.environ.get("EVLOOP_HANDLER", "echo"))
    try:
        known, _ = pre.parse_known_args(argv)
    except argparse.ArgumentError:
        return "echo"  # the full parse says what is wrong
    return str(known.handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # module:Class from here, as `python3 -m` would
    spec = requested_handler(argv)
    try:
        handler = load_handler(spec)
    except HandlerLoadError as exc:
        build_parser().fail(str(exc))
    parser = build_parser(handler, spec)
    parser.defaults_from(os.environ)  # EVLOOP_WORKERS=4 is --workers 4, unless a flag says
    options, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.fail(unrecognized(unknown, spec))
    try:
        config = make_config(options, handler)
        check_handler(handler, config)
    except (TypeError, ValueError) as exc:
        parser.fail(flags_for_fields(str(exc), handler))
    if config.trace_file is not None:  # found now, not after an hour of serving
        folder = os.path.dirname(os.path.abspath(config.trace_file))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            parser.fail(f"--trace-file {config.trace_file}: cannot write in {folder}")
    logs.configure(options.log_format, options.log_level.upper())
    if config.access_log:  # asked for by name: not hidden by --log-level warning
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
    # Ignored until the loop installs its own handlers, and again once it has
    # restored them: drained and exiting, a late signal (a --workers parent
    # forwards every one it gets) must not turn exit 0 into death by signal.
    # SIG_IGN, not the default action, because the kernel may hand a signal
    # to any thread, an --offload pool thread included (seen in the tests).
    for signum in SUPERVISOR_DECIDES:  # every signal evloop.supervisor.signals lists
        signal.signal(signum, signal.SIG_IGN)
    try:
        return run(handler, config)
    except ListenerError as exc:  # sockets handed down that cannot be served
        print(f"{COMMAND}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # TLS files that do not load: found once, at start
        parser.fail(flags_for_fields(str(exc), handler))
    except OSError as exc:
        print(f"{COMMAND}: error: {describe_bind_error(exc, config.where)}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
