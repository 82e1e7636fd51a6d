"""Addresses: what `context.connect()` may be given, and how an address is named.

An address is `(host, port)` over TCP or the path of a Unix socket, as
`socket.connect()` takes them.  `check_address` refuses anything else with a
ValueError that says what is wrong, before any socket is made;
`tls_name` is the host a certificate is checked against;
`format_address` is the one way evloop writes an address: a context's
`peer`, a log line, a trace, a startup line: "127.0.0.1:80", "[::1]:80"
(brackets, so the port stands apart), "unix:/run/x.sock".  Part of the
handler API, with no I/O: every layer above may name an address with it.
"""

from __future__ import annotations

import os
from typing import Any
from typing import Union

#: Where to connect: (host, port) over TCP, or the path of a Unix socket.
Address = Union[tuple[str, int], str]


def check_address(address: object) -> Address:
    """`address` if it is one connect() can take; ValueError saying what is wrong."""
    if isinstance(address, str):
        if not address:
            raise ValueError("a Unix socket path must not be empty")
        return address
    if (isinstance(address, tuple) and len(address) == 2 and isinstance(address[0], str)
            and isinstance(address[1], int) and not isinstance(address[1], bool)):
        host, port = address
        if not host:
            raise ValueError("the host must not be empty")
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is outside 1-65535")
        return host, port
    raise ValueError(f"an address is (host, port) or a Unix socket path, not {address!r}")


def tls_name(addresses: list[Address]) -> str | None:
    """The name a TLS server's certificate is checked against when none is given: the
    host, if every address has the same one (None for Unix sockets); ValueError if not."""
    hosts = {address[0] if isinstance(address, tuple) else None for address in addresses}
    if len(hosts) > 1:
        raise ValueError("TLS to several hosts needs server_hostname, the name every "
                         "backend's certificate carries")
    return hosts.pop()


def format_address(address: Any) -> str:
    """("127.0.0.1", 80) -> "127.0.0.1:80"; IPv6 hosts get brackets; a Unix path
    "unix:/run/x.sock"."""
    if isinstance(address, (str, bytes)):
        return f"unix:{os.fsdecode(address)}"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
