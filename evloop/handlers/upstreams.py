"""A relay's backends, each up or down by its health checks, as HAProxy keeps them.

`--upstream A,B` gives the relay several backends.  Each client's backend
connection is a `connect()` to a list (evloop.handlers.context): the
backends that are up first, then those that are down (a backend may be back
before its checks say so), each tried in turn until one answers.  With
`--balance roundrobin` (the default) each client starts one further along
the backends that are up; with `first`, every client goes to the first one
up, and the others stand by.

Which are up is found as HAProxy finds it, by health checks: every
`--check-interval` seconds (HAProxy's `inter`) the relay opens a connection
to each backend and closes it once made.  A backend that is up goes down
after `--check-fall` checks in a row fail (HAProxy's `fall`), and comes
back after `--check-rise` in a row pass (`rise`); each change is one log
line.  At start-up every backend is checked once, and one that does not
answer is down from the start.  With a single backend there is nothing to
choose between, so there are no periodic checks: the start-up check alone
says, in one warning, that it does not answer.

The checks are the server's own work (`server_started`, with the
server-wide context): its `call_every` and its `connect`, on the handler API
alone, so all of this is sans-IO and tested with evloop.testing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from evloop.handlers.addresses import Address
from evloop.handlers.addresses import format_address
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.context import ServerContext

log = logging.getLogger("evloop")


class Backend:
    """One backend's health: up or down, and the checks in a row that agree."""

    __slots__ = ("address", "name", "up", "streak", "checking")

    def __init__(self, address: Address) -> None:
        self.address = address
        self.name = format_address(address)
        self.up = True
        self.streak = 0  # checks in a row that went against the current state
        self.checking = False  # a check in flight: the next round skips this one


class Upstreams:
    """The backends of one relay server, in order, with their health."""

    def __init__(self, addresses: Sequence[Address], *, fall: int = 3, rise: int = 2,
                 round_robin: bool = True) -> None:
        self.backends = [Backend(address) for address in addresses]
        self.fall = fall
        self.rise = rise
        self.round_robin = round_robin
        self.turn = 0  # where the next client starts among the backends up
        self.started = False  # the start-up round has been told

    def order(self) -> list[Address]:
        """The addresses for a client's connect(): those up first (rotated with round
        robin), then those down."""
        up = [b.address for b in self.backends if b.up]
        down = [b.address for b in self.backends if not b.up]
        if self.round_robin and up:
            start = self.turn % len(up)
            self.turn += 1
            up = up[start:] + up[:start]
        return up + down

    def check(self, server: ServerContext, *, tls: Any = None,
              server_hostname: str | None = None, timeout: float = 2.0) -> None:
        """A round of checks: a connection to each backend not being checked already."""
        for backend in self.backends:
            if not backend.checking and server.stopping != "shutdown":
                backend.checking = True
                server.connect(backend.address, Check(self, backend, startup=not self.started),
                               tls=tls, server_hostname=server_hostname, timeout=timeout)
        self.started = True

    def passed(self, backend: Backend) -> None:
        backend.checking = False
        if backend.up:
            backend.streak = 0
            return
        backend.streak += 1
        if backend.streak >= self.rise:
            backend.up, backend.streak = True, 0
            log.warning("relay: upstream %s is up: %d check(s) passed; %s", backend.name,
                        self.rise, self._count())

    def failed(self, backend: Backend, reason: str, startup: bool) -> None:
        backend.checking = False
        if startup:
            backend.up, backend.streak = False, 0
            if len(self.backends) == 1:
                log.warning("relay: upstream %s does not answer at start-up (%s); serving "
                            "anyway, each client closed while it does not", backend.name, reason)
            else:
                log.warning("relay: upstream %s does not answer at start-up (%s); down until "
                            "%d check(s) pass; %s", backend.name, reason, self.rise,
                            self._count())
            return
        if not backend.up:
            backend.streak = 0
            return
        backend.streak += 1
        if backend.streak >= self.fall:
            backend.up, backend.streak = False, 0
            log.warning("relay: upstream %s is down: %d check(s) failed, the last: %s; %s",
                        backend.name, self.fall, reason, self._count())

    def _count(self) -> str:
        up = sum(backend.up for backend in self.backends)
        return f"{up} of {len(self.backends)} up"


class Check(Handler):
    """One health check: a connection made is a pass (closed at once), one that
    cannot be made a failure."""

    supports_udp = False

    def __init__(self, upstreams: Upstreams, backend: Backend, startup: bool = False) -> None:
        super().__init__()
        self.upstreams = upstreams
        self.backend = backend
        self.startup = startup
        self.connected = False

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.connected = True
        context.close()
        self.upstreams.passed(self.backend)
        return None

    def data_received(self, data: bytes) -> Reply:
        return b""  # a backend that speaks first: nothing to say back

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connected:
            return
        if exc is None or isinstance(exc, ConnectionAbortedError):  # the server stopped it
            self.backend.checking = False
            return
        self.upstreams.failed(self.backend, reason(exc), self.startup)


def reason(exc: Exception | None) -> str:
    """What went wrong, in words: an OSError's strerror (which names the address), or
    an ssl error's whole text (its strerror is only the first words)."""
    if type(exc).__module__ == "ssl":
        return str(exc)
    return getattr(exc, "strerror", None) or str(exc)
