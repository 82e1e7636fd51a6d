"""Listening sockets and the process limits around them.

What every server needs before its loop runs: a bound, listening,
non-blocking socket (`bind_socket`), a readable name for an address
(`format_address`), a one-line explanation when binding fails
(`describe_bind_error`: the lab's "address already in use", "permission
denied" below port 1024), and enough file descriptors for many clients
(`raise_fd_limit`).
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from evloop.limits import DEFAULT_BACKLOG


def format_address(address: Any) -> str:
    """("127.0.0.1", 80) -> "127.0.0.1:80"; IPv6 hosts get brackets."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_socket(host: str, port: int, kind: socket.SocketKind, backlog: int = DEFAULT_BACKLOG,
                reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A bound (and for TCP, listening) non-blocking socket; raises OSError.

    `reuse_port` sets SO_REUSEPORT, so that several processes (--workers)
    can each bind the same port and the kernel spreads clients among them.
    """
    family, _, _, _, address = socket.getaddrinfo(host, port, type=kind)[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Rebinding at once after a restart, while old connections sit in
            # TIME_WAIT: the labs' SO_REUSEADDR lesson.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM and listen:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def describe_bind_error(exc: OSError, host: str, port: int) -> str:
    """One line saying why listening on host:port failed."""
    where = f"cannot listen on {format_address((host, port))}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: unknown host ({exc.strerror})"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: address already in use (another server there?)"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: no such address on this machine"
    return f"{where}: {exc.strerror or exc}"


def raise_fd_limit() -> int | None:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the new figure."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
