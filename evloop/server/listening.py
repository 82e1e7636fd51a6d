"""Where a server's sockets come from: bound here, handed down, or activated.

A server listens on sockets from one of three places, and after `acquire()`
nothing cares which:

* bound by evloop itself, from `--host`/`--port`, `--unix` and `--udp`;
* inherited by number, `--fd N` (repeatable), as uvicorn and gunicorn take
  them from any supervisor that opened them;
* activated by systemd.  sd_listen_fds(3) is a protocol of three
  environment variables: `LISTEN_PID` (the process they are meant for, so
  a child that inherits the environment does not take them too),
  `LISTEN_FDS` (how many, numbered from 3) and `LISTEN_FDNAMES` (their
  names, colon-separated).  Read in pure Python here; the variables are
  removed once read, as `sd_listen_fds(1)` does.

A socket that arrives by number says what it is: its family and type come
from the kernel, and a stream socket must already listen (SO_ACCEPTCONN),
since a connected socket passed by mistake would otherwise be "accepted" on
forever.  evloop serves one stream listener (TCP or Unix) and one UDP
socket at most; anything else is a one-line error.

The supervisor (evloop.supervisor) acquires the sockets once, before any
worker exists, and keeps them for the server's whole life; every worker
inherits them over fork.  So a worker that stops accepting (at a reload)
or dies leaves the accept queue it shared untouched: nothing waiting in it
is reset (docs/07-beyond-one-process.md has the measurement).  The metrics
listeners are the supervisor's too: the one port scrapes reach
(`bind_metrics`), and one per worker slot (`MetricsSlots`) that only the
supervisor asks (evloop.supervisor.scrape).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Iterable
from collections.abc import MutableMapping
from typing import Any

from evloop.handlers.addresses import format_address
from evloop.server.metrics_endpoint import MAX_SCRAPES
from evloop.server.sockets import BindError
from evloop.server.sockets import bind_socket
from evloop.server.sockets import bind_unix
from evloop.server.sockets import file_identity
from evloop.server.sockets import remove_unix
from evloop.settings.config import Config

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first descriptor systemd passes
ACTIVATION = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
log = logging.getLogger("evloop")


class ListenerError(ValueError):
    """A socket handed down that evloop cannot serve on: one line, exit code 2."""


@dataclasses.dataclass
class Listeners:
    """The sockets a server serves on, and where they came from."""

    stream: socket.socket  # TCP or Unix, listening
    udp: socket.socket | None = None
    origin: str = "bound"  # "bound", "--fd" or "systemd"
    unix_file: tuple[int, int] | None = None  # a socket file we made, removed at the end
    path: str = ""  # and where it is
    metrics: socket.socket | None = None  # a --workers supervisor's one metrics port

    @property
    def address(self) -> Any:
        return self.stream.getsockname()

    def configure(self, config: Config) -> Config:
        """`config` as these sockets make it: Unix or TCP, with UDP or not."""
        unix = self.address if self.stream.family == socket.AF_UNIX else None
        port = config.port if unix is not None else self.address[1]
        return dataclasses.replace(config, unix=unix, udp=self.udp is not None, port=port,
                                   unix_mode=config.unix_mode if unix is not None else None)

    def stop_listening(self) -> None:
        """At a stop: refuse new clients now, not once the last worker has exited.

        shutdown(SHUT_RD) on a listening socket ends its listening for every
        process that holds it (they share one socket), and what waits in its
        accept queue is reset, as it would be at the last close.  A socket
        handed down (systemd's, --fd) is only closed here: whoever handed it
        down keeps it listening, and clients queue for the next start."""
        if self.origin == "bound":
            try:
                self.stream.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # closed already, or a kernel that will not: the last close does it
        self.close(but_metrics=True)  # scrapes go on through the drain: /readyz says so

    def close(self, but_metrics: bool = False) -> None:
        if self.unix_file is not None:  # the server closed its socket: the path is kept
            remove_unix(self.path, self.unix_file)
            self.unix_file = None
        for sock in (self.stream, self.udp, None if but_metrics else self.metrics):
            if sock is not None:
                sock.close()


def listen_fds(environ: MutableMapping[str, str] | None = None,
               pid: int | None = None) -> list[tuple[int, str]]:
    """The descriptors systemd passed this process, with their names; [] if none
    were meant for it.  Removes the activation variables (see the essay)."""
    environ = os.environ if environ is None else environ
    meant_for = environ.get("LISTEN_PID", "")
    count_text = environ.get("LISTEN_FDS", "")
    names_text = environ.get("LISTEN_FDNAMES", "")
    for name in ACTIVATION:
        environ.pop(name, None)
    if not meant_for or meant_for != str(os.getpid() if pid is None else pid):
        return []
    try:
        count = int(count_text)
    except ValueError:
        raise ListenerError(f"LISTEN_FDS={count_text!r} is not a number") from None
    if count < 0:
        raise ListenerError(f"LISTEN_FDS={count_text!r} is not a number of sockets")
    names = names_text.split(":") if names_text else []
    names += ["unknown"] * (count - len(names))
    return [(LISTEN_FDS_START + i, names[i]) for i in range(count)]


def adopt(fds: Iterable[tuple[int, str]], origin: str) -> Listeners:
    """Listeners from sockets handed down by number (`fds`: (number, name))."""
    stream = udp = None
    for fd, name in fds:
        where = f"{origin} socket {fd}" + (f" ({name})" if name not in ("", "unknown") else "")
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ListenerError(f"{where}: not a socket ({exc.strerror or exc})") from None
        if sock.type == socket.SOCK_STREAM:
            if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
                raise ListenerError(f"{where}: family {sock.family!r} is not TCP or Unix")
            if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                raise ListenerError(f"{where}: a stream socket that does not listen")
            if stream is not None:
                raise ListenerError(f"{where}: a second stream listener; evloop serves one")
            if sock.family == socket.AF_UNIX and not isinstance(sock.getsockname(), str):
                raise ListenerError(f"{where}: an abstract Unix socket; evloop serves Unix "
                                    f"sockets with a path")
            stream = sock
        elif sock.type == socket.SOCK_DGRAM and sock.family in (socket.AF_INET, socket.AF_INET6):
            if udp is not None:
                raise ListenerError(f"{where}: a second UDP socket; evloop serves one")
            udp = sock
        else:
            raise ListenerError(f"{where}: a {sock.type!r} socket; evloop serves TCP, Unix "
                                f"and UDP")
        sock.setblocking(False)
        sock.set_inheritable(False)  # as sd_listen_fds does (FD_CLOEXEC): fork still shares it
    if stream is None:
        raise ListenerError(f"{origin}: no listening stream socket among the ones passed "
                            f"(UDP alone is not served)")
    return Listeners(stream, udp, origin)


def bind(config: Config) -> Listeners:
    """Bind and listen as `config` says; raises OSError."""
    if config.unix is not None:
        sock = bind_unix(config.unix, config.backlog, config.unix_mode)
        return Listeners(sock, None, "bound", file_identity(config.unix), config.unix)
    stream = bind_socket(config.host, config.port, socket.SOCK_STREAM, config.backlog,
                         reuse_port=config.reuse_port)
    udp = None
    if config.udp:
        try:
            udp = bind_socket(config.host, stream.getsockname()[1], socket.SOCK_DGRAM,
                              reuse_port=config.reuse_port)
        except OSError:
            stream.close()
            raise
    return Listeners(stream, udp)


def acquire(config: Config) -> Listeners:
    """The server's sockets: systemd's, then `--fd`'s, else bound here.  Raises
    ListenerError for sockets handed down that cannot be served, OSError for a
    bind that fails."""
    activated = listen_fds()
    if activated:
        return adopt(activated, "systemd")
    if config.fds:
        return adopt(((fd, "") for fd in config.fds), "--fd")
    return bind(config)


def bind_metrics(config: Config) -> socket.socket:
    """--metrics-port's listener, bound before any worker exists; BindError names it."""
    assert config.metrics_port is not None
    where = (config.metrics_host, config.metrics_port)
    try:
        return bind_socket(*where, socket.SOCK_STREAM, MAX_SCRAPES)
    except OSError as exc:
        raise BindError(exc, format_address(where)) from None


class MetricsSlots:
    """The metrics listeners of a --workers server's slots (port, port + 1, ...;
    free ports for 0), bound once by the supervisor and kept, so a replacement or
    a reload's new worker serves on its predecessor's port."""

    def __init__(self, host: str, port: int | None) -> None:
        self.host = host
        self.port = port
        self.socks: dict[int, socket.socket] = {}

    def get(self, index: int, strict: bool = False) -> socket.socket | None:
        """Slot `index`'s listener; None without metrics, or (logged) if it cannot
        be bound; BindError instead with `strict` (at start: one line, exit 2)."""
        if self.port is None:
            return None
        if index not in self.socks:
            where = (self.host, self.port + index if self.port else 0)
            try:
                self.socks[index] = bind_socket(*where, socket.SOCK_STREAM, MAX_SCRAPES)
            except OSError as exc:
                if strict:
                    raise BindError(exc, format_address(where)) from None
                log.error("worker %d: cannot serve metrics on %s: %s", index,
                          format_address(where), exc.strerror or exc)
                return None
        return self.socks[index]

    def close(self, but: int | None = None) -> None:
        """Close every slot's listener (in a worker: every one but its own)."""
        for index, sock in self.socks.items():
            if index != but:
                sock.close()
