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


class Dialer:
    """One outbound connect.  `start()`, then one of the two callbacks, once.

    Methods for the caller: `start()`, `cancel()` (no callback follows);
    the attribute `address`.
    """

    def __init__(self, loop: BaseLoop, address: Address, timeout: float | None,
                 resolve: Resolver, on_connected: Callable[[socket.socket], object],
                 on_failed: Callable[[OSError], object]) -> None:
        self.loop = loop
        self.address = address
        self.timeout = timeout
        self.resolve = resolve
        self.on_connected = on_connected
        self.on_failed = on_failed
        self.targets: list[Target] = []
        self.sock: socket.socket | None = None  # the attempt in flight
        self.deadline: Timer | None = None
        self.last_error: OSError | None = None
        self.done = False

    def start(self) -> None:
        if self.timeout is not None:
            self.deadline = self.loop.call_later(self.timeout, self._timed_out)
        targets = numeric_targets(self.address)
        if targets is not None:
            self.targets = targets
            return self._next()
        assert isinstance(self.address, tuple)  # a name: looked up away from the loop
        host, port = self.address
        self.resolve(host, port, self._resolved)

    def cancel(self) -> None:
        self._finish()

    def _resolved(self, future: Future[list[Any]]) -> None:
        if self.done:
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

    def _fail(self, exc: OSError) -> None:
        self._finish()
        self.on_failed(exc)

    def _finish(self) -> None:
        self.done = True
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
