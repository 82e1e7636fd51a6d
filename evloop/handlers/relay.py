"""relay: every byte to a backend and back, unchanged: a TCP proxy.

`python3 -m evloop.serve --handler relay --upstream HOST:PORT` (or
`--upstream unix:PATH`) opens a connection to the backend for each client
and passes bytes both ways.  It is written on the handler API alone, as any
user's handler could be, and it is Twisted's `portforward` in evloop's
words: two handlers back to back, each the other's only reader.

* A client's handler (`RelayHandler`) opens the backend connection with
  `context.connect()` as the client arrives (what the client sends before
  it is up waits in its output).  Each side `forward_to()`s the other: bytes
  pass with no handler call (spliced, when large); handlers hear the events.
* Flow control, both ways.  When the backend does not read, its output
  passes high water, its handler hears `pause_writing()`, and the relay
  stops reading the *client* (`pause_reading()`) until that output drains
  (`resume_writing()`): the client's sends block in its own kernel, and the
  relay's memory stays within the water marks.  The same holds the other
  way round.  A relay must not also stop reading a connection because its
  *own* output is high (the rule that protects a server from a client that
  never reads): a backend blocked writing to us would never read again, so
  `backpressure_stops_reading` is False on both sides.
* A half-close passes through: the client's EOF becomes the backend's
  (`write_eof()`), and the relay keeps writing the backend's answer to the
  client (`eof_received` returns True); the backend's EOF becomes the
  client's.  The connection pair ends when both directions have.
* When the backend cannot be reached, its client is closed at once with
  one log line; a backend that resets ends its client only.
* At start-up (`server_started`) the relay connects to the backend once,
  as a client's connection would, and closes at once: a backend that is
  down, or whose certificate does not pass, is one warning then, before any
  client meets it.  The relay serves anyway: a backend often starts after
  its proxy (HAProxy, nginx and Envoy start with a backend down, too).
* `--upstream A,B` gives it several backends, balanced and health-checked
  as HAProxy does (evloop.handlers.upstreams): a client whose backend does
  not answer is passed to the next.

With `--upstream-tls on` (or `--upstream-ca FILE`) the relay speaks TLS to
the backend; behind `--tls-cert` it terminates TLS in front of a plain one,
and behind `--proxy-protocol` it sees HAProxy's original client.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from evloop.handlers.addresses import Address
from evloop.handlers.addresses import tls_name
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.context import ServerContext
from evloop.handlers.upstreams import Upstreams
from evloop.handlers.upstreams import reason

log = logging.getLogger("evloop")

DEFAULT_CONNECT_TIMEOUT = 10.0


def parse_upstreams(text: str | tuple[str, int] | Sequence[Any]) -> tuple[Address, ...]:
    """ "A" or "A,B,..." (each as parse_upstream takes it) -> the backends, in order;
    from Python, one (host, port) pair or a list of addresses."""
    if isinstance(text, str):
        parts = [part for part in text.split(",") if part.strip()]
        if not parts:
            raise ValueError("no backend given: HOST:PORT, or several as HOST:PORT,HOST:PORT")
        found = tuple(parse_upstream(part) for part in parts)
    elif isinstance(text, tuple) and len(text) == 2 and isinstance(text[1], int):
        return (parse_upstream(text),)
    else:
        found = tuple(parse_upstream(tuple(a) if isinstance(a, list) else a)  # type: ignore[arg-type]
                      for a in text)
    if not found:
        raise ValueError("no backend given")
    if len(set(found)) < len(found):
        raise ValueError("a backend is given twice")
    return found


def backends(upstream: Address | Sequence[Address]) -> tuple[Address, ...]:
    """The relay's backends, whether it was given one address or several."""
    if isinstance(upstream, str) or (len(upstream) == 2 and isinstance(upstream[1], int)):
        return (upstream,)  # type: ignore[return-value]  # one (host, port), or a path
    return tuple(upstream)  # type: ignore[arg-type]


def parse_upstream(text: str | tuple[str, int]) -> Address:
    """ "HOST:PORT", "[::1]:PORT" or "unix:PATH" -> an address for `connect`; from
    Python, a (host, port) tuple as it is."""
    if isinstance(text, tuple):
        if (len(text) == 2 and isinstance(text[0], str) and text[0]
                and isinstance(text[1], int) and 1 <= text[1] <= 65535):
            return text
        raise ValueError(f"{text!r} is not a (host, port) pair")
    text = str(text).strip()
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise ValueError("unix: needs the socket's path, e.g. unix:/run/backend.sock")
        return path
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (PORT 1-65535) or unix:PATH")
    return host, int(port)


def ca_file(path: str) -> str:
    """A PEM file of CA certificates: there, readable, and PEM; ValueError if not.
    (Whether OpenSSL takes it is known at the first connect: handlers do no TLS.)"""
    try:
        with open(path, "rb") as pem:
            start = pem.read(1 << 16)
    except OSError as exc:
        raise ValueError(f"{path} does not load: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in start:
        raise ValueError(f"{path} does not load: no PEM certificate in it")
    return path


def seconds(text: str | float) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError("a timeout must be more than 0 seconds")
    return value


def count(text: str | int) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


class RelayHandler(Handler):
    """The client's side of the relay: it opens the backend's (`BackendSide`)."""

    supports_udp = False
    backpressure_stops_reading = False
    options = {
        "upstream": Option("the backend: HOST:PORT or unix:PATH (required); several, "
                           "comma-separated, are balanced and health-checked",
                           type=parse_upstreams),
        "upstream_tls": Option("speak TLS to the backend, its certificate checked against the "
                               "system's CAs", choices=("off", "on"), default="off"),
        "upstream_ca": Option("check the backend's certificate against this CA file "
                              "instead (implies --upstream-tls on)", type=ca_file),
        "upstream_server_name": Option("the name the backend's certificate must carry "
                                       "(default: the upstream host)"),
        "connect_timeout": Option("seconds to connect to the backend (each, with several)",
                                  type=seconds, default=DEFAULT_CONNECT_TIMEOUT),
        "balance": Option("with several backends: roundrobin (each client starts at the "
                          "next) or first (the first up takes every client)",
                          choices=("roundrobin", "first"), default="roundrobin"),
        "check_interval": Option("with several backends: seconds between health checks",
                                 type=seconds, default=2.0),
        "check_fall": Option("failed checks in a row that take a backend down", type=count,
                             default=3),
        "check_rise": Option("passed checks in a row that bring it back up", type=count,
                             default=2),
    }

    def __init__(self, upstream: Address | Sequence[Address],
                 max_message: int = DEFAULT_MAX_MESSAGE, tls: bool | str = False,
                 server_hostname: str | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        super().__init__(max_message=max_message)
        self.upstreams = backends(upstream)
        self.tls = tls
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        self.backend: Context | None = None

    @classmethod
    def factory(cls, max_message: int = DEFAULT_MAX_MESSAGE,
                **options: Any) -> Callable[[], Handler]:
        upstream = options.get("upstream")
        if upstream is None:
            raise ValueError("upstream: the relay needs a backend: upstream HOST:PORT "
                             "or upstream unix:PATH")
        tls, server_name, timeout = _dialling(options)
        if tls and server_name is None:
            try:
                tls_name(list(backends(upstream)))
            except ValueError:
                raise ValueError("upstream: TLS to several hosts needs upstream_server_name, "
                                 "the name every backend's certificate carries") from None
        return functools.partial(cls, upstream, max_message, tls, server_name, timeout)

    @classmethod
    def server_started(cls, server: ServerContext) -> None:
        options = server.options
        if options.get("upstream") is None:
            return
        pool = Upstreams(backends(options["upstream"]),
                         fall=options.get("check_fall") or 3, rise=options.get("check_rise") or 2,
                         round_robin=options.get("balance", "roundrobin") != "first")
        server.shared["upstreams"] = pool
        tls, server_hostname, timeout = _dialling(options)
        interval = options.get("check_interval") or 2.0
        check: dict[str, Any] = {"tls": tls or None, "server_hostname": server_hostname}
        # At start-up, as a client's connect would; then within a round, so none overlap.
        pool.check(server, timeout=timeout, **check)
        if len(pool.backends) > 1:
            server.call_every(interval, lambda: pool.check(server, timeout=min(timeout, interval),
                                                           **check))

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        pool = context.server.shared.get("upstreams") if context.server is not None else None
        order = pool.order() if pool is not None else list(self.upstreams)
        self.backend = context.connect(order if len(order) > 1 else order[0], BackendSide(self),
                                       tls=self.tls or None, server_hostname=self.server_hostname,
                                       timeout=self.connect_timeout)
        context.forward_to(self.backend)  # queued there until the backend is up
        return None

    def data_received(self, data: bytes) -> Reply:
        # Forwarded from connection_made on: a handler must still say what its bytes
        # mean (a harness may feed it directly), and here it is the same push.
        self.backend.push(data)  # type: ignore[union-attr]  # set in connection_made
        return b""

    def eof_received(self) -> Reply | bool:
        assert self.backend is not None
        self.backend.write_eof()
        return True  # the backend's answer may still come

    def pause_writing(self) -> None:  # the client does not read: stop reading the backend
        if self.backend is not None:
            self.backend.pause_reading()

    def resume_writing(self) -> None:
        if self.backend is not None:
            self.backend.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.backend is not None:
            if exc is None:
                self.backend.close()  # what the client sent is delivered first
            else:
                self.backend.abort()


class BackendSide(Handler):
    """The backend's side of the relay: everything it says goes to the client."""

    supports_udp = False
    backpressure_stops_reading = False

    def __init__(self, client: RelayHandler) -> None:
        super().__init__(client.max_message)
        self.client = client.context
        self.connected = False

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.connected = True
        context.forward_to(self.client)
        return None

    def data_received(self, data: bytes) -> Reply:
        self.client.push(data)  # as forward_to does (RelayHandler.data_received)
        return b""

    def eof_received(self) -> Reply | bool:
        self.client.write_eof()
        return True  # the client may still be sending

    def pause_writing(self) -> None:  # the backend does not read: stop reading the client
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected:
            log.warning("%s: upstream unreachable: %s; closing the client", self.client.peer,
                        reason(exc))
            self.client.close()
        elif exc is not None:  # its context's peer: the backend it reached
            log.info("%s: upstream %s: %s; dropping the client", self.client.peer,
                     self.context.peer, reason(exc))
            self.client.abort()
        else:
            self.client.close()  # what the backend sent is delivered first


def _dialling(options: Mapping[str, Any]) -> tuple[bool | str, str | None, float]:
    """(tls, server_hostname, timeout) for connect(), from the relay's options."""
    ca = options.get("upstream_ca")
    tls: bool | str = ca if ca else options.get("upstream_tls") == "on"
    return (tls, options.get("upstream_server_name"),
            options.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
