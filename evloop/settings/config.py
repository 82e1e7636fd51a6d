"""Config: every setting of a server in one frozen, validated object.

A server has many settings: where to listen, which backend, the bounds
that keep one client from hurting the others (evloop.settings.limits), the
timeouts, the processes and pools, and the options of the handler it
serves.  They live in one place, are checked once, when the object is
built, and cannot change afterwards, so no part of the server has to
re-check a value or wonder whether another part changed it.

Rules
-----
* Every field has a sane default: `Config()` is a server on 127.0.0.1:12000
  with the defaults of evloop.settings.limits.  `unix` (a path) listens on a
  Unix stream socket instead of host and port.
* `proxy_allow`: the networks (CIDR, or bare addresses) whose peers may send
  a PROXY header, this machine by default; any other TCP peer is closed.  A
  Unix socket's peer has no address and is believed: only processes that
  the file's permissions let in can connect.  `proxy_networks`: parsed, once.
* A bad value is a `ValueError` that names the field and the rule, e.g.
  "high_water (10) must be greater than low_water (100)".  The command line
  (evloop.cli.serve) only turns flags into a Config and shows that message
  in one line, with the flag's name in place of the field's.
* `fds` are listening sockets inherited by number (`--fd`), served instead
  of binding host and port; `reload_grace` is how long a reload's old
  workers may finish their connections (None: `drain_timeout`);
  `worker_timeout`, how long a loop may go without a turn before it is
  taken for stuck and its process killed (evloop.supervisor.watchdog);
  `worker_start_timeout`, how long a worker may take to listen, and
  `graceful_timeout`, how long one told to stop may take to end, before
  its supervisor kills it (evloop.supervisor.children); `user`, `group`
  and `pid_file` are the process's own affairs (evloop.supervisor.hygiene).
* `handler_options` are the handler's own options (the slow handler's
  `work_ms` and `work`), by name.  The framework does not know them: the
  server checks them against the handler class's declared `options`.
* A changed copy is `dataclasses.replace(config, port=0)`, validated again.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import types
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from evloop.handlers.addresses import format_address
from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.loop.backends import available_backends
from evloop.settings import limits

OFFLOAD_KINDS = ("none", "thread", "process")
DEFAULT_PROXY_ALLOW = ("127.0.0.0/8", "::1")  # this machine: a proxy on the same host


@dataclasses.dataclass(frozen=True)
class Config:
    """A server's settings.  Build it with keywords; every field is checked."""

    host: str = "127.0.0.1"
    port: int = limits.DEFAULT_PORT
    unix: str | None = None
    unix_mode: int | None = None
    udp: bool = False
    backlog: int = limits.DEFAULT_BACKLOG
    selector: str = "auto"
    max_message: int = DEFAULT_MAX_MESSAGE
    high_water: int = limits.DEFAULT_HIGH_WATER
    low_water: int = limits.DEFAULT_LOW_WATER
    max_output: int = limits.DEFAULT_MAX_OUTPUT
    idle_timeout: float = limits.DEFAULT_IDLE_TIMEOUT
    max_connections: int = limits.DEFAULT_MAX_CONNECTIONS
    drain_timeout: float = limits.DEFAULT_DRAIN_TIMEOUT
    handshake_timeout: float = limits.DEFAULT_HANDSHAKE_TIMEOUT
    proxy_protocol: bool = False
    proxy_allow: tuple[str, ...] = DEFAULT_PROXY_ALLOW
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    workers: int = 1
    reuse_port: bool = False
    fds: tuple[int, ...] = ()
    reload_grace: float | None = None
    worker_timeout: float = limits.DEFAULT_WORKER_TIMEOUT
    worker_start_timeout: float = limits.DEFAULT_WORKER_START_TIMEOUT
    graceful_timeout: float = limits.DEFAULT_GRACEFUL_TIMEOUT
    user: str | None = None
    group: str | None = None
    pid_file: str | None = None
    offload: str = "none"
    offload_workers: int | None = None
    trace: bool = False
    trace_file: str | None = None  # the Chrome Trace file to write (evloop.trace.recording)
    access_log: bool = False  # a line per client connection (evloop.server.access_log)
    handler_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for check in (self._check_types, self._check_address, self._check_bounds,
                      self._check_processes, self._check_tls, self._check_metrics,
                      self._check_proxy):
            check()
        # A read-only copy: the caller's dict may change, this must not.
        object.__setattr__(self, "handler_options",
                           types.MappingProxyType(dict(self.handler_options)))

    @property
    def where(self) -> str:
        """Where the server listens, for messages: "127.0.0.1:12000" or "unix:/run/x.sock"."""
        return format_address(self.unix if self.unix is not None else (self.host, self.port))

    def _check_types(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            wanted = _TYPES[field.name]
            # bool is an int in Python; a port of True is a mistake all the same.
            if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
                names = " or ".join("None" if t is type(None) else t.__name__ for t in wanted)
                raise ValueError(f"{field.name} must be {names}, not {type(value).__name__} "
                                 f"({value!r})")

    def _check_address(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty (127.0.0.1 for this machine only, "
                             "0.0.0.0 for every interface)")
        _in_range("port", self.port, 0, 65535)
        if self.unix is not None:
            if not self.unix:
                raise ValueError("unix must be the path of a socket file, not empty")
            if self.udp:
                raise ValueError("udp is for IP sockets; unix serves stream sockets only")
        if self.unix_mode is not None:
            if self.unix is None:
                raise ValueError(f"unix_mode ({self.unix_mode:o}) needs unix, a socket path")
            if not 0 <= self.unix_mode <= 0o777:
                raise ValueError(f"unix_mode ({self.unix_mode:o}) must be permission bits, "
                                 f"0 to 777 in octal")
        _in_range("backlog", self.backlog, 1, 65535)
        if self.selector not in available_backends():
            raise ValueError(f"selector ({self.selector!r}) must be one of: "
                             f"{', '.join(available_backends())}")

    @property
    def tls(self) -> bool:
        """Is every TCP connection to be TLS?"""
        return self.tls_cert is not None

    def _check_tls(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: a certificate and its private key")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ValueError("tls_ca (client certificates) needs tls_cert and tls_key")
        if self.tls and self.udp:
            raise ValueError("udp cannot be encrypted: DTLS is not in the standard library; "
                             "serve TLS over TCP only")

    def _check_proxy(self) -> None:
        for text in self.proxy_allow:
            try:
                parse_network(text)
            except ValueError as exc:
                raise ValueError(f"proxy_allow ({text!r}) must be networks such as 10.0.0.0/8 "
                                 f"or ::1: {exc}") from None
        if not self.proxy_allow:
            raise ValueError("proxy_allow must name at least one network (0.0.0.0/0 and ::/0 "
                             "believe every peer)")
        if self.proxy_allow != DEFAULT_PROXY_ALLOW and not self.proxy_protocol:
            raise ValueError(f"proxy_allow ({', '.join(self.proxy_allow)}) needs "
                             f"proxy_protocol: it says who may send a PROXY header")

    @functools.cached_property
    def proxy_networks(self) -> Networks:
        """`proxy_allow`, parsed at the first connection; every later one only reads it."""
        return Networks(self.proxy_allow)

    def _check_metrics(self) -> None:
        if self.metrics_port is None:
            return
        _in_range("metrics_port", self.metrics_port, 0, 65535)  # one port, --workers or not
        if not self.metrics_host:
            raise ValueError("metrics_host must not be empty (127.0.0.1 keeps the figures "
                             "on this machine)")
        if self.metrics_port and self.unix is None and self.metrics_port == self.port:
            raise ValueError(f"metrics_port ({self.metrics_port}) must differ from port")

    def _check_bounds(self) -> None:
        _in_range("max_message", self.max_message, 1, None)
        _in_range("low_water", self.low_water, 0, None)
        if self.high_water <= self.low_water:
            raise ValueError(f"high_water ({self.high_water}) must be greater than "
                             f"low_water ({self.low_water})")
        if self.max_output <= self.high_water:
            raise ValueError(f"max_output ({self.max_output}) must be greater than "
                             f"high_water ({self.high_water})")
        _in_range("idle_timeout", self.idle_timeout, 0, None, "0 means never")
        _in_range("drain_timeout", self.drain_timeout, 0, None)
        if not self.handshake_timeout > 0:
            raise ValueError(f"handshake_timeout ({self.handshake_timeout}) must be more than 0")
        _in_range("max_connections", self.max_connections, 1, None)

    def _check_processes(self) -> None:
        _in_range("workers", self.workers, 1, limits.MAX_WORKERS)
        for fd in self.fds:
            if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
                raise ValueError(f"fds ({fd!r}) must be open file descriptor numbers, 0 or more")
        if self.reload_grace is not None:
            _in_range("reload_grace", self.reload_grace, 0, None)
        if self.worker_timeout != 0:  # a heartbeat a second: a bound of 1 s would race it
            _in_range("worker_timeout", self.worker_timeout, 2, None, "0 means never")
        for name in ("worker_start_timeout", "graceful_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} ({getattr(self, name)}) must be more than 0")
        for name in ("user", "group", "pid_file"):
            if getattr(self, name) == "":
                raise ValueError(f"{name} must not be empty")
        if self.workers > 1 and not hasattr(os, "fork"):
            raise ValueError(f"workers ({self.workers}) needs os.fork(), which this "
                             f"platform lacks")
        if self.offload not in OFFLOAD_KINDS:
            raise ValueError(f"offload ({self.offload!r}) must be one of: {', '.join(OFFLOAD_KINDS)}")
        if self.offload_workers is not None:
            _in_range("offload_workers", self.offload_workers, 1, limits.MAX_OFFLOAD_WORKERS)
            if self.offload == "none":
                raise ValueError(f"offload_workers ({self.offload_workers}) needs offload "
                                 f"'thread' or 'process'")


_TYPES: dict[str, tuple[type, ...]] = {
    "host": (str,), "port": (int,), "unix": (str, type(None)), "unix_mode": (int, type(None)),
    "udp": (bool,), "backlog": (int,), "selector": (str,),
    "max_message": (int,), "high_water": (int,), "low_water": (int,), "max_output": (int,),
    "idle_timeout": (int, float), "max_connections": (int,), "drain_timeout": (int, float),
    "handshake_timeout": (int, float), "proxy_protocol": (bool,), "proxy_allow": (tuple,),
    "tls_cert": (str, type(None)), "tls_key": (str, type(None)), "tls_ca": (str, type(None)),
    "metrics_port": (int, type(None)), "metrics_host": (str,),
    "workers": (int,), "reuse_port": (bool,), "fds": (tuple,),
    "reload_grace": (int, float, type(None)), "worker_timeout": (int, float),
    "worker_start_timeout": (int, float), "graceful_timeout": (int, float),
    "user": (str, type(None)), "group": (str, type(None)), "pid_file": (str, type(None)),
    "offload": (str,),
    "offload_workers": (int, type(None)), "trace": (bool,),
    "trace_file": (str, type(None)), "access_log": (bool,),
    "handler_options": (Mapping,),
}


def _in_range(name: str, value: float, low: float, high: float | None, note: str = "") -> None:
    if value != value or value < low or (high is not None and value > high):  # NaN fails too
        rule = f"between {low} and {high}" if high is not None else (
            f"at least {low}" if low else "0 or more")
        raise ValueError(f"{name} ({value}) must be {rule}" + (f" ({note})" if note else ""))


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ "10.0.0.0/8", or "::1" (one address) -> a network; ValueError saying why not.
    "10.0.0.1/8" is refused: which was meant, 10.0.0.1 or 10.0.0.0/8, is for its
    author to say, not for a guess that would trust more or fewer peers."""
    if not isinstance(text, str):  # ip_network(5) would be 0.0.0.5
        raise ValueError(f"not text but {type(text).__name__}")
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        network = ipaddress.ip_network(text, strict=False)  # not one at all: ipaddress says so
    raise ValueError(f"{text} is an address in {network}, not a network: write {network} "
                     f"or {text.partition('/')[0]}")


class Networks:
    """IP networks, parsed once: `host in networks` for a peer's address as text.

    An IPv4 client of a dual-stack listener (host "::") comes as an IPv4-mapped
    IPv6 address, ::ffff:127.0.0.1, so a mapped address is also looked for as
    the IPv4 address it carries: 127.0.0.0/8 holds it.  Text that is no IP
    address is in none of them.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = tuple(texts)
        self.networks = tuple(parse_network(text) for text in self.texts)

    def __contains__(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        return any(address in network or (mapped is not None and mapped in network)
                   for network in self.networks)

    def __str__(self) -> str:
        return ", ".join(self.texts)
