"""`--workers N`: N pre-forked copies of the server, one event loop per core.

An event loop is one thread, so it uses one core however many the machine
has.  The cheapest way to use the others is the oldest: fork N workers that
each run the whole single-process server, and let the kernel share out the
clients.

How the port is shared
----------------------
With SO_REUSEPORT (Linux 3.9+, the BSDs, macOS) the parent *reserves* the
port: it binds a socket with SO_REUSEPORT but never listens on it, so port 0
resolves to one number and no other program can take it.  Each worker then
binds and listens on that port itself, and the kernel hashes every new
connection to one worker's listener: no shared accept queue, no thundering
herd.  Without SO_REUSEPORT the parent listens and the workers inherit that
one listener (Apache's prefork model): every worker wakes for every client
and one of them wins the accept().

Signals and exit codes
----------------------
Workers ignore SIGINT (Ctrl-C in a terminal reaches the whole process
group); the parent turns SIGINT or SIGTERM into one SIGTERM per worker,
which drains exactly as a single server does, and a second signal is passed
on as well (reset now).  A worker whose parent vanishes stops by itself.
The parent exits 0 when every worker did; otherwise with the first failing
worker's code (128 + N for a worker killed by signal N).  A worker that dies
while the others serve stops them all: this is prefork for speed, not a
supervisor.

This module knows nothing of handlers or of how a worker serves: `run()`
is given `serve_one(worker)`, which evloop.serving supplies, and
`on_ready(address, how)`, which says that every worker listens.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from evloop.config import Config
from evloop.loop import Loop
from evloop.sockets import bind_socket
from evloop.sockets import bind_unix
from evloop.sockets import file_identity
from evloop.sockets import remove_unix

log = logging.getLogger("evloop")

READY_TIMEOUT = 15.0
PARENT_CHECK_INTERVAL = 1.0
HAVE_REUSEPORT = hasattr(socket, "SO_REUSEPORT")


class Worker:
    """What a forked worker knows of its place: its number, and how to say it is up."""

    def __init__(self, index: int, port: int, ready_fd: int, parent_pid: int,
                 listener: socket.socket | None = None,
                 udp_socket: socket.socket | None = None) -> None:
        self.index = index
        self.port = port  # the one port 0 resolved to, in the parent
        self.ready_fd = ready_fd
        self.parent_pid = parent_pid
        self.listener = listener
        self.udp_socket = udp_socket

    def started(self, loop: Loop, shutdown: Callable[[], None]) -> None:
        """Called by the worker once its server listens: parent watch, then ready.
        (SIGINT is ignored from the fork on; SIGTERM is the server's to catch.)"""
        loop.call_later(PARENT_CHECK_INTERVAL, self._check_parent, loop, shutdown)
        os.write(self.ready_fd, b"!")
        os.close(self.ready_fd)

    def _check_parent(self, loop: Loop, shutdown: Callable[[], None]) -> None:
        if os.getppid() != self.parent_pid:
            log.warning("worker %d: parent process gone; stopping", self.index)
            return shutdown()
        loop.call_later(PARENT_CHECK_INTERVAL, self._check_parent, loop, shutdown)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reserve(config: Config) -> tuple[socket.socket, socket.socket | None, socket.socket | None]:
    """Sockets the parent holds: a reservation (SO_REUSEPORT) or the shared listeners.
    A Unix socket is always shared: SO_REUSEPORT is for ports."""
    if config.unix is not None:
        listener = bind_unix(config.unix, config.backlog, config.unix_mode)
        return listener, listener, None
    if HAVE_REUSEPORT:
        sock = bind_socket(config.host, config.port, socket.SOCK_STREAM, reuse_port=True,
                           listen=False)
        return sock, None, None
    listener = bind_socket(config.host, config.port, socket.SOCK_STREAM, config.backlog)
    udp = None
    if config.udp:
        udp = bind_socket(config.host, listener.getsockname()[1], socket.SOCK_DGRAM)
    return listener, listener, udp


def run(config: Config, serve_one: Callable[[Worker], int],
        on_ready: Callable[[Any, str], None]) -> int:
    """Fork `config.workers` workers running `serve_one`; supervise; return the
    exit code.  Raises OSError if the port cannot be had."""
    held, listener, udp = reserve(config)
    port = config.port if config.unix is not None else held.getsockname()[1]
    ready_read, ready_write = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for index in range(config.workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(ready_read)
                if listener is None:
                    held.close()
                _tag_log_lines(index)
                code = serve_one(Worker(index, port, ready_write, parent, listener, udp))
            except BaseException:
                log.exception("worker %d crashed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        pids.append(pid)
    os.close(ready_write)
    return Supervisor(pids, held, on_ready).run(ready_read)


def _tag_log_lines(index: int) -> None:
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s evloop[{index}] %(levelname)s %(message)s"))


class Supervisor:
    """The parent: waits for the workers to be ready, forwards signals, reaps them."""

    def __init__(self, pids: list[int], held: socket.socket,
                 on_ready: Callable[[Any, str], None]) -> None:
        self.live = set(pids)
        self.held = held
        # The socket file a Unix listener made, known by (device, inode): removed at the end.
        self.unix_file = file_identity(held.getsockname()) if held.family == socket.AF_UNIX else None
        self.on_ready = on_ready
        self.stopping = False
        self.code = 0

    def run(self, ready_read: int) -> int:
        old = {signum: signal.signal(signum, self._on_signal)
               for signum in (signal.SIGINT, signal.SIGTERM)}
        if self._wait_ready(ready_read):
            shared = self.held.family == socket.AF_UNIX or not HAVE_REUSEPORT
            how = "shared listener" if shared else "SO_REUSEPORT"
            self.on_ready(self.held.getsockname(), f"{len(self.live)} workers ({how})")
        while self.live:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self._reaped(pid, exit_code(status))
        if self.held.family == socket.AF_UNIX:
            path = self.held.getsockname()
            remove_unix(path, self.unix_file)
        self.held.close()
        for signum, handler in old.items():
            signal.signal(signum, handler)
        log.info("all workers stopped")
        return self.code

    def _wait_ready(self, ready_read: int) -> bool:
        """True once every worker said it listens; False if one failed first."""
        ready = 0
        while ready < len(self.live) and not self.stopping:
            readable, _, _ = select.select([ready_read], [], [], READY_TIMEOUT)
            if not readable:
                log.error("workers not ready after %gs; stopping", READY_TIMEOUT)
                self.code = self.code or 1
                self._stop_all()
                break
            data = os.read(ready_read, 64)
            if not data:  # every worker closed its end; one failed before saying ready
                self.code = self.code or 1
                self._stop_all()
                break
            ready += len(data)
        os.close(ready_read)
        return ready == len(self.live) and not self.stopping

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            log.warning("second stop request: asking workers to reset their connections")
        self.stopping = True
        self._signal_all()

    def _stop_all(self) -> None:
        self.stopping = True
        self._signal_all()

    def _signal_all(self) -> None:
        for pid in self.live:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reaped(self, pid: int, code: int) -> None:
        if pid not in self.live:
            return
        self.live.discard(pid)
        if code != 0 and not self.code:
            self.code = code
        if not self.stopping:
            log.error("worker %d exited with code %d while serving; stopping the others", pid, code)
            self.code = self.code or 1
            self._stop_all()
