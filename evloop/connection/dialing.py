"""Dialing out: from an address to a connected socket, without blocking the loop.

A blocking `connect()` waits for the three-way handshake: a round trip to
the other machine, or the whole of a timeout when nobody answers.  An event
loop cannot wait, so it asks the kernel to connect in the background:

1. The socket is made non-blocking, and `connect()` returns at once with
   EINPROGRESS ("the SYN is on its way").  On loopback it may also succeed
   at once, or fail at once (ECONNREFUSED).
2. The loop watches the socket for *writable*.  A socket becomes writable
   when the handshake ends, whichever way it ended.
3. `getsockopt(SO_ERROR)` then tells how: 0 is connected, ECONNREFUSED means
   the host answered with RST, ETIMEDOUT or EHOSTUNREACH that the network
   gave up.  Writability alone does not mean success: that is the one
   mistake everybody makes once.

A name must first become addresses.  `getaddrinfo()` blocks (it may ask a
DNS server), so a name is resolved by the `resolve` function given, which
runs it away from the loop (a thread pool) and calls back in the loop's
thread; a numeric address ("127.0.0.1", "::1") needs no lookup and is used
at once.  Every address the lookup returns is tried in turn, as asyncio's
`create_connection` does, and one deadline (`timeout`) covers the lookup and
every attempt.

Several addresses (`connect([a, b], ...)`: a backend and its standby) are
tried in order, each with its own `timeout` (a backend that swallows SYNs
costs one timeout, not the whole budget).  Once the last one fails, the
caller hears of it once: the last error's class and errno, every attempt
named.  `rotated()` spreads connects round robin over a list, as HAProxy's
`balance roundrobin` does.

`Dialer` knows nothing of handlers or connections: it ends by calling
exactly one of `on_connected(sock)` or `on_failed(exc)`, once.  It is what
`context.connect()` uses (through evloop.connection.handshakes) and what
the port scanner uses (evloop.cli.scan).  The errors it gives are the
standard ones: ConnectionRefusedError, TimeoutError, socket.gaierror for a
name that does not resolve, and OSError for the rest, each with a message
naming the address.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from evloop.handlers.addresses import Address
from evloop.handlers.addresses import format_address
from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer

#: A socket address as getaddrinfo() gives it, with its family.
Target = tuple[int, Any]
#: Runs getaddrinfo(host, port) away from the loop, then calls back with its future.
Resolver = Callable[[str, int, Callable[["Future[list[Any]]"], object]], object]

IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY})


def numeric_targets(address: Address) -> list[Target] | None:
    """The targets of an address that needs no lookup; None for a name."""
    if isinstance(address, str):
        return [(socket.AF_UNIX, address)]
    host, port = address
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6:
        return [(socket.AF_INET6, (str(ip), port, 0, 0))]
    return [(socket.AF_INET, (str(ip), port))]


# How many lists of addresses `rotated` remembers its place in (a program that makes
# a new list for every connect must not grow this without bound).
MAX_ROTATIONS = 1024
_rotations: dict[tuple[Address, ...], int] = {}


def rotated(addresses: Sequence[Address]) -> list[Address]:
    """`addresses`, starting one further along than the last call with the same list."""
    key = tuple(addresses)
    start = _rotations.pop(key, 0) % max(1, len(key))
    if len(_rotations) >= MAX_ROTATIONS:
        _rotations.pop(next(iter(_rotations)))  # the least recently used
    _rotations[key] = start + 1
    return list(key[start:] + key[:start])


class Dialer:
    """One outbound connect, to one address or the first of several that answers.
    `start()`, then one of the two callbacks, once.

    Methods for the caller: `start()`, `cancel()` (no callback follows); the
    attribute `address` (the one being tried; once connected, the one that
    answered).
    """

    def __init__(self, loop: BaseLoop, address: Address | Sequence[Address],
                 timeout: float | None, resolve: Resolver,
                 on_connected: Callable[[socket.socket], object],
                 on_failed: Callable[[OSError], object]) -> None:
        self.loop = loop
        self.addresses = [address] if isinstance(address, (str, tuple)) else list(address)
        if not self.addresses:
            raise ValueError("connect() needs an address, not an empty list")
        self.address = self.addresses[0]
        self.timeout = timeout
        self.resolve = resolve
        self.on_connected = on_connected
        self.on_failed = on_failed
        self.targets: list[Target] = []
        self.sock: socket.socket | None = None  # the attempt in flight
        self.deadline: Timer | None = None
        self.last_error: OSError | None = None
        self.errors: list[OSError] = []  # one per address given up on
        self.tried = 0  # addresses begun
        self.done = False

    def start(self) -> None:
        # In the loop's next step, not here: a Unix socket may connect (or fail) at
        # once, and no callback may run inside the connect() that asked for it.
        self.loop.call_soon(self._start)

    def _start(self) -> None:
        if not self.done:  # not cancelled meanwhile
            self._begin(self.addresses[0])

    def _begin(self, address: Address) -> None:
        """Start on the next address: its own deadline, its lookup if it is a name."""
        self.address = address
        self.tried += 1
        self.last_error = None
        if self.timeout is not None:
            self.deadline = self.loop.call_later(self.timeout, self._timed_out)
        targets = numeric_targets(address)
        if targets is not None:
            self.targets = targets
            return self._next()
        assert isinstance(address, tuple)  # a name: looked up away from the loop
        host, port = address
        tried = self.tried
        self.resolve(host, port, lambda future: self._resolved(future, tried))

    def cancel(self) -> None:
        self._finish()

    def _resolved(self, future: Future[list[Any]], tried: int) -> None:
        if self.done or tried != self.tried:  # given up on, or on to the next address
            return
        try:
            infos = future.result()
        except OSError as exc:  # socket.gaierror: no such name
            reason = exc.strerror or str(exc)
            return self._fail(type(exc)(exc.errno, f"cannot resolve {self.where}: {reason}"))
        self.targets = [(family, sockaddr) for family, _, _, _, sockaddr in infos]
        self._next()

    def _next(self) -> None:
        """Try the next address; fail with the last error once none is left."""
        while self.targets and not self.done:
            family, sockaddr = self.targets.pop(0)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(sockaddr)
            if code == 0:
                return self._connected(sock)
            if code in IN_PROGRESS and family != socket.AF_UNIX:
                self.sock = sock
                self.loop.add_writer(sock, self._on_writable)
                return
            sock.close()
            self.last_error = self._error(code)
        if not self.done:
            self._fail(self.last_error or OSError(errno.EADDRNOTAVAIL,
                                                  f"{self.where}: no address to try"))

    def _fail(self, exc: OSError) -> None:
        """This address failed: on to the next, or, after the last, the caller's on_failed."""
        self.errors.append(exc)
        self._end_attempt()
        if self.tried < len(self.addresses):
            return self._begin(self.addresses[self.tried])
        self._finish()
        if len(self.errors) > 1:  # every attempt named, as the last one's kind of error
            text = "; ".join(error.strerror or str(error) for error in self.errors)
            exc = type(exc)(exc.errno, text)
        self.on_failed(exc)

    def _on_writable(self) -> None:
        """The handshake ended, one way or the other: SO_ERROR says which."""
        sock = self.sock
        assert sock is not None
        self.loop.remove_writer(sock)
        self.sock = None
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            return self._connected(sock)
        sock.close()
        self.last_error = self._error(code)
        self._next()

    def _connected(self, sock: socket.socket) -> None:
        if sock.family != socket.AF_UNIX:
            # Small messages leave at once instead of waiting for an ACK (Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._finish()
        self.on_connected(sock)

    def _timed_out(self) -> None:
        self.deadline = None
        self._fail(TimeoutError(errno.ETIMEDOUT,
                                f"connect to {self.where} timed out after {self.timeout:g}s"))

    def _finish(self) -> None:
        self.done = True
        self._end_attempt()

    def _end_attempt(self) -> None:
        self.targets = []
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.sock is not None:
            self.loop.remove_writer(self.sock)
            self.sock.close()
            self.sock = None

    @property
    def where(self) -> str:
        return format_address(self.address)

    def _error(self, code: int) -> OSError:
        """An OSError of the right class (ConnectionRefusedError, ...) naming the address."""
        reason = os.strerror(code)
        if code == errno.EAGAIN:  # a Unix socket's listener has a full backlog
            reason = "the server's listen() backlog is full"
        error = OSError(code, f"connect to {self.where}: {reason}")
        return error
