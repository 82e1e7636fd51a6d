"""relay: every byte to a backend and back, unchanged: a TCP proxy.

`python3 -m evloop.serve --handler relay --upstream HOST:PORT` (or
`--upstream unix:PATH`) opens a connection to the backend for each client
and passes bytes both ways.  It is written on the handler API alone, as any
user's handler could be, and it is Twisted's `portforward` in evloop's
words: two handlers back to back, each the other's only reader.

* A client's handler (`RelayHandler`) opens the backend connection with
  `context.connect()` as soon as the client arrives; what the client sends
  before the backend is up waits in the backend connection's output.
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

With `--upstream-tls on` (or `--upstream-ca FILE`) the relay speaks TLS to
the backend; behind `--tls-cert` it terminates TLS in front of a plain one,
and behind `--proxy-protocol` it sees HAProxy's original client.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from evloop.handlers.addresses import Address
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import Option
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.context import ServerContext

log = logging.getLogger("evloop")

DEFAULT_CONNECT_TIMEOUT = 10.0


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


class RelayHandler(Handler):
    """The client's side of the relay: it opens the backend's (`BackendSide`)."""

    supports_udp = False
    backpressure_stops_reading = False
    options = {
        "upstream": Option("the backend: HOST:PORT or unix:PATH (required)",
                           type=parse_upstream),
        "upstream_tls": Option("speak TLS to the backend, its certificate checked against the "
                               "system's CAs", choices=("off", "on"), default="off"),
        "upstream_ca": Option("check the backend's certificate against this CA file "
                              "instead (implies --upstream-tls on)", type=ca_file),
        "upstream_server_name": Option("the name the backend's certificate must carry "
                                       "(default: the upstream host)"),
        "connect_timeout": Option("seconds to connect to the backend", type=seconds,
                                  default=DEFAULT_CONNECT_TIMEOUT),
    }

    def __init__(self, upstream: Address, max_message: int = DEFAULT_MAX_MESSAGE,
                 tls: bool | str = False, server_hostname: str | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        super().__init__(max_message=max_message)
        self.upstream = upstream
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
        return functools.partial(cls, upstream, max_message, *_dialling(options))

    @classmethod
    def server_started(cls, server: ServerContext) -> None:
        upstream = server.options.get("upstream")
        if upstream is not None:
            tls, server_hostname, timeout = _dialling(server.options)
            server.connect(upstream, StartupCheck(upstream), tls=tls or None,
                           server_hostname=server_hostname, timeout=timeout)

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.backend = context.connect(self.upstream, BackendSide(self), tls=self.tls or None,
                                       server_hostname=self.server_hostname,
                                       timeout=self.connect_timeout)
        return None

    def data_received(self, data: bytes) -> Reply:
        self.backend.push(data)  # type: ignore[union-attr]  # set in connection_made
        return b""  # a message, as far as the idle timeout goes: bytes moved

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
        self.upstream = client.upstream
        self.connected = False

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.connected = True
        return None

    def data_received(self, data: bytes) -> Reply:
        self.client.push(data)
        return b""

    def eof_received(self) -> Reply | bool:
        self.client.write_eof()
        return True  # the client may still be sending

    def pause_writing(self) -> None:  # the backend does not read: stop reading the client
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = _reason(exc)
        if not self.connected:
            log.warning("%s: upstream unreachable: %s; closing the client", self.client.peer,
                        reason)
            self.client.close()
        elif exc is not None:
            log.info("%s: upstream %s: %s; dropping the client", self.client.peer,
                     _name(self.upstream), reason)
            self.client.abort()
        else:
            self.client.close()  # what the backend sent is delivered first


class StartupCheck(Handler):
    """The relay's one connection to its backend at start-up: closed once made;
    if it cannot be made, one warning."""

    supports_udp = False

    def __init__(self, upstream: Address) -> None:
        super().__init__()
        self.upstream = upstream
        self.connected = False

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.connected = True
        log.debug("relay: upstream %s answers", _name(self.upstream))
        context.close()
        return None

    def data_received(self, data: bytes) -> Reply:
        return b""  # a backend that speaks first: nothing to say back

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected:
            log.warning("relay: upstream %s does not answer at start-up (%s); serving anyway, "
                        "each client closed while it does not", _name(self.upstream),
                        _reason(exc))


def _dialling(options: Mapping[str, Any]) -> tuple[bool | str, str | None, float]:
    """(tls, server_hostname, timeout) for connect(), from the relay's options."""
    ca = options.get("upstream_ca")
    tls: bool | str = ca if ca else options.get("upstream_tls") == "on"
    return (tls, options.get("upstream_server_name"),
            options.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)


def _reason(exc: Exception | None) -> str:
    return (getattr(exc, "strerror", None) if not _is_tls(exc) else None) or str(exc)


def _is_tls(exc: object) -> bool:
    # An ssl.SSLError's strerror is only its first words; its str() says the rest.
    return type(exc).__module__ == "ssl"


def _name(address: Address) -> str:
    return f"unix:{address}" if isinstance(address, str) else f"{address[0]}:{address[1]}"
