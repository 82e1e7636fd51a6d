"""The concurrency models the runner compares, and how to start each one.

Every model is a command that serves one of evloop's handlers on a port the
kernel picks (`--port 0`) and prints one startup line ending in
`on HOST:PORT (tcp)...`, which the runner reads to learn the port.  The
Python models are the files beside this one (one short file per model: diff
two of them to see what a concurrency model is), evloop is run once per
selector, and `c-epoll` and `c-uring` are the C references built by scripts/bench.

The HTTP models (uvicorn and aiohttp on each asyncio loop) serve hello
world instead of a handler, print the same line ending `(http)`, and are
loaded by wrk (bench.wrk).

A model may not be available (uvloop not installed, no C compiler, no wrk): then
`unavailable()` gives the reason and the run notes it instead of failing.
A model may also have a ceiling: ForkingTCPServer with 10,000 clients is
10,000 processes, which this machine does not survive, so that point is
recorded as skipped with the reason.
"""

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass

from bench import common
from bench import uring_echo

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
TLS_LOADGEN = os.path.join(BUILD, "loadgen_tls")
TLS_PEM = os.path.join(BUILD, "tls.pem")  # certificate and key, made by scripts/build-c


@dataclass
class Model:
    name: str
    argv: list
    handlers: tuple = ("echo", "uppercase", "lenprefix", "slow")
    max_connections: int = None
    why_max: str = ""
    needs_module: object = None  # a module name, or a tuple of them
    needs_file: str = None
    tls: bool = False  # serves TLS, for the TLS load generator (the `tls` sweep)
    unix: bool = False  # serves a Unix socket, given with --unix PATH (the `unix` sweep)
    udp: bool = False  # serves datagrams (the `udp` sweep and the load generator's --udp)
    relay: bool = False  # relays to a backend, given as {upstream} (the `relay` sweep)
    needs_program: str = None  # a program on PATH (haproxy, wrk)
    http: bool = False  # serves HTTP hello world, loaded by wrk (the `aio` sweep)
    needs_io_uring: bool = False  # a kernel that lets this process set up an io_uring
    builds: str = "scripts/bench builds it with a C compiler"  # what makes `needs_file`

    def command(self, handler, extra=(), upstream=""):
        return [arg.replace("{handler}", handler).replace("{upstream}", upstream)
                for arg in self.argv] + list(extra)

    def unavailable(self):
        modules = (self.needs_module,) if isinstance(self.needs_module, str) else self.needs_module
        for module in modules or ():
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install '.[bench]')"
        if self.needs_io_uring and uring_echo.refusal():
            return uring_echo.refusal()  # probed once a process
        if self.needs_program and not shutil.which(self.needs_program):
            return f"{self.needs_program} is not installed (apt-get install {self.needs_program})"
        if self.relay and not os.access(os.path.join(BUILD, "echo_epoll"), os.X_OK):
            return "relays to the C echo server (scripts/bench builds it)"
        if self.needs_file and not os.access(self.needs_file, os.X_OK):
            return f"{os.path.relpath(self.needs_file)} is not built ({self.builds})"
        if self.udp and not os.access(os.path.join(BUILD, "loadgen"), os.X_OK):
            return "the UDP load comes from the C load generator (scripts/bench builds it)"
        if self.tls and not (os.access(TLS_LOADGEN, os.X_OK) and os.path.exists(TLS_PEM)):
            return ("no TLS load generator or certificate (scripts/build-c makes them with "
                    "OpenSSL: apt-get install libssl-dev)")
        return None

    def refuses(self, point):
        """Why this model sits out `point`, or None."""
        if point.http != self.http:
            return "serves HTTP only" if self.http else "serves evloop's handlers, not HTTP"
        if point.handler not in self.handlers:
            return f"serves only {', '.join(self.handlers)}"
        if point.tls != self.tls:
            return "serves TLS only" if self.tls else "serves plain TCP only"
        if point.unix != self.unix:
            return "serves a Unix socket only" if self.unix else "serves TCP only"
        if point.relay != self.relay:
            return "relays only" if self.relay else "serves, does not relay"
        if point.udp and not self.udp:
            return "serves no datagrams"
        if self.udp and not point.udp:
            return "serves datagrams only"
        total = point.connections + point.idle
        if self.max_connections is not None and total > self.max_connections:
            return self.why_max
        return None


def evloop(selector, *more, name=None):
    return Model(
        name or f"evloop-{selector}",
        [sys.executable, "-m", "evloop.serve", "--handler", "{handler}", "--port", "0",
         "--selector", selector, "--log-level", "warning", "--backlog", "4096",
         "--max-connections", str(common.MAX_CONNECTIONS), *more],
        max_connections=1000 if selector == "select" else None,
        why_max="select() cannot watch fds above FD_SETSIZE (1024)",
    )


def relay_argv(argv):
    """An evloop model's command, serving the relay handler to the point's backend."""
    return [arg.replace("{handler}", "relay") for arg in argv] + ["--upstream", "{upstream}"]


def evloop_tree(name, tree, relay=False):
    """evloop from another source tree (e.g. a `git worktree` of an older
    commit), run as the evloop-epoll model is (with `relay`, as evloop-relay):
    bench.ab and bench.instructions compare trees with it."""
    # runpy, as `python3 -m evloop.serve` would: the command line moved
    # (evloop.cli) and older trees have it in evloop/serve.py itself.
    code = (f"import runpy, sys; sys.path.insert(0, {tree!r}); sys.argv[0] = 'evloop.serve'; "
            f"runpy.run_module('evloop.serve', run_name='__main__', alter_sys=True)")
    argv = [sys.executable, "-c", code, "--handler", "{handler}", "--port", "0",
            "--log-level", "warning", "--backlog", "4096",
            "--max-connections", str(common.MAX_CONNECTIONS)]
    return Model(name, relay_argv(argv) if relay else argv, relay=relay)


def variant(name, module, **extra):
    return Model(name, [sys.executable, "-m", f"bench.{module}", "--handler", "{handler}",
                        "--port", "0"], **extra)


MODELS = [
    evloop("epoll"),
    evloop("poll"),
    evloop("select"),
    variant("iterative", "iterative"),
    variant("bare-select", "bare_select", max_connections=1000,
            why_max="select() cannot watch fds above FD_SETSIZE (1024)"),
    variant("bare-epoll", "bare_epoll"),
    # Readiness against completion: the featureless echo again, on io_uring (multishot
    # accept and recv, a provided-buffer ring).  Echo only, like the C reference; skipped
    # where the kernel refuses io_uring (seccomp, kernel.io_uring_disabled).
    variant("uring-python", "uring_echo", handlers=("echo",), needs_io_uring=True),
    variant("threads", "threads"),
    variant("gevent", "greenlets", needs_module="gevent"),
    variant("threadpool", "threadpool"),
    variant("ss-threading", "ss_threading"),
    variant("ss-forking", "ss_forking", max_connections=1000,
            why_max="one process per client: 10,000 processes would exhaust the machine"),
    variant("asyncio-protocol", "asyncio_protocol"),
    variant("asyncio-streams", "asyncio_streams"),
    variant("uvloop-protocol", "uvloop_protocol", needs_module="uvloop"),
    # asyncio_protocol's and asyncio_streams's very code on evloop.aio, and the streams on
    # uvloop: the `aio` sweep's rivals, asyncio's loop against evloop's and libuv's.
    variant("aio-protocol", "aio_protocol"),
    # The same Protocol on a loop with no features: the floor under aio-protocol.
    variant("aio-floor", "aio_floor"),
    variant("aio-streams", "aio_streams"),
    variant("uvloop-streams", "uvloop_streams", needs_module="uvloop"),
    Model("c-epoll", [os.path.join(BUILD, "echo_epoll"), "--port", "0"], handlers=("echo",),
          needs_file=os.path.join(BUILD, "echo_epoll")),
    # The same echo on io_uring (bench/c/echo_uring.c): standing requests and one system
    # call a turn instead of a readiness wake-up and calls per socket, so that the C limit
    # at a point is the faster of the kernel's two ways in.  Built where liburing is.
    Model("c-uring", [os.path.join(BUILD, "echo_uring"), "--port", "0"], handlers=("echo",),
          needs_file=os.path.join(BUILD, "echo_uring"),
          builds="scripts/bench builds it where liburing is: apt-get install liburing-dev"),
]

# TLS: the same echo over TLS 1.3, the handshake done before the measured window.
TLS_ARGS = ["--tls-cert", TLS_PEM, "--tls-key", TLS_PEM]
MODELS += [
    Model("evloop-tls", evloop("epoll").argv + TLS_ARGS, handlers=("echo", "lenprefix"), tls=True),
    Model("asyncio-tls", variant("asyncio-tls", "asyncio_protocol").argv + TLS_ARGS,
          handlers=("echo", "lenprefix"), tls=True),
    Model("uvloop-tls", variant("uvloop-tls", "uvloop_protocol").argv + TLS_ARGS,
          handlers=("echo", "lenprefix"), tls=True, needs_module="uvloop"),
]

# Unix stream sockets: the same echo, no TCP; the runner adds --unix PATH.
MODELS += [
    Model("evloop-unix", evloop("epoll").argv, handlers=("echo", "lenprefix"), unix=True),
    Model("asyncio-unix", variant("asyncio-unix", "asyncio_protocol").argv,
          handlers=("echo", "lenprefix"), unix=True),
    Model("uvloop-unix", variant("uvloop-unix", "uvloop_protocol").argv,
          handlers=("echo", "lenprefix"), unix=True, needs_module="uvloop"),
]

# UDP: one datagram in, one out, answered as evloop answers them: one handler for all
# when the class keeps no state (shared_over_udp), else a fresh one each.
UDP_HANDLERS = ("echo", "uppercase", "lenprefix")
MODELS += [
    Model("evloop-udp", evloop("epoll").argv + ["--udp"], handlers=UDP_HANDLERS, udp=True),
    Model("udp-blocking", variant("udp-blocking", "udp_blocking").argv, handlers=UDP_HANDLERS,
          udp=True),
    Model("uvloop-udp", variant("uvloop-udp", "uvloop_datagram").argv, handlers=UDP_HANDLERS,
          udp=True, needs_module="uvloop"),
    Model("asyncio-udp", variant("asyncio-udp", "asyncio_datagram").argv, handlers=UDP_HANDLERS,
          udp=True),
    Model("ss-udp", variant("ss-udp", "ss_udp").argv, handlers=UDP_HANDLERS, udp=True),
    Model("c-udp", [os.path.join(BUILD, "echo_epoll"), "--port", "0", "--udp", "1"],
          handlers=("echo",), udp=True, needs_file=os.path.join(BUILD, "echo_epoll")),
]

# Relays: each passes every byte to the C echo server ({upstream}) and back; the load
# generator talks to the relay.  bare-relay is the floor: no buffers, no flow control.
MODELS += [
    Model("evloop-relay", relay_argv(evloop("epoll").argv), handlers=("echo",), relay=True),
    Model("bare-relay", variant("bare-relay", "bare_relay").argv + ["--upstream", "{upstream}"],
          handlers=("echo",), relay=True),
    Model("asyncio-relay", variant("asyncio-relay", "asyncio_relay").argv
          + ["--upstream", "{upstream}"], handlers=("echo",), relay=True),
    Model("uvloop-relay", variant("uvloop-relay", "uvloop_relay").argv
          + ["--upstream", "{upstream}"], handlers=("echo",), relay=True, needs_module="uvloop"),
    Model("haproxy-relay", variant("haproxy-relay", "haproxy_relay").argv
          + ["--upstream", "{upstream}"], handlers=("echo",), relay=True,
          needs_program="haproxy"),
]

# HTTP hello world (bench.http_apps) from uvicorn with httptools and from aiohttp, on each
# asyncio loop, loaded by wrk: the `aio` sweep.  They serve no evloop handler, so they are
# kept out of MODELS, which every handler sweep and test walks.
HTTP_LOOPS = ("asyncio", "aio", "uvloop")


def http_model(server, loop):
    needs = {"uvicorn": ("uvicorn", "httptools"), "aiohttp": ("aiohttp",)}[server]
    return Model(f"{server}-{loop}",
                 [sys.executable, "-m", "bench.http_server", "--server", server, "--loop", loop,
                  "--port", "0"],
                 handlers=("hello",), http=True, needs_program="wrk",
                 needs_module=needs + (("uvloop",) if loop == "uvloop" else ()))


HTTP_MODELS = [http_model(server, loop) for server in ("uvicorn", "aiohttp") for loop in HTTP_LOOPS]

# Not in the default sweeps: evloop across cores, and evloop offloading slow work.
EXTRA = [
    evloop("epoll", "--workers", "2", name="evloop-2workers"),
    evloop("epoll", "--offload", "thread", name="evloop-offload-thread"),
    evloop("epoll", "--offload", "process", name="evloop-offload-process"),
]

BY_NAME = {model.name: model for model in MODELS + HTTP_MODELS + EXTRA}
REFERENCE = "evloop-epoll"  # every ratio in the tables is to this model, from the same run


def loadgen_command(tls=False):
    """(argv, name) of the load generator to use: the C one when built."""
    if tls:
        return [TLS_LOADGEN, "--tls", "1"], "c-epoll-tls"
    c = os.path.join(BUILD, "loadgen")
    if os.access(c, os.X_OK):
        return [c], "c-epoll"
    return [sys.executable, "-m", "bench.loadgen"], "python"
