"""Addresses and sockets for the calls that make transports: resolving, connecting, binding.

asyncio's create_connection and create_server (evloop.aio.loop) take
names, ports, lists of hosts, local addresses and flags, and have exact
rules for each: which mistakes raise what, which address is tried first,
what error comes out when every one failed.  Programs and CPython's tests
depend on them, so they are asyncio's, and they live here as functions of
the loop's public calls (getaddrinfo, sock_connect), apart from the loop:

* `resolve` is getaddrinfo's answer, without a thread for a numeric
  address (`numeric_address` knows one as getaddrinfo would);
* `connect_any` tries every address getaddrinfo gave, in order, each with
  its own socket, bound first to a local address of the same family if
  one was asked for; when all fail, the one error, or all of them in one
  OSError (`one_error`), or an ExceptionGroup with `all_errors`;
  `connect_unix` connects to a Unix socket's path;
* `bind_all` binds every address of every host a server is given, with
  SO_REUSEADDR (and SO_REUSEPORT when asked), IPv6 sockets IPv6-only; from
  Python 3.13 an address this host does not have (EADDRNOTAVAIL) is
  skipped, as asyncio skips it, and a failed bind's words are 3.13's
  (`NEW_BIND_RULES`); `bind_unix` binds a Unix server's path, replacing a
  stale socket file;
* the argument checks that several calls share: `check_tls_arguments`,
  `check_stream`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import sys
from typing import Any

__all__ = ["Address", "bind_all", "bind_error", "bind_local", "bind_unix", "check_stream",
           "check_tls_arguments", "connect_any", "connect_unix", "numeric_address", "one_error",
           "resolve"]

NEW_BIND_RULES = sys.version_info >= (3, 13)
log = logging.getLogger("asyncio")

Address = Any


def numeric_address(host: Any, port: Any, family: int, type_: int, proto: int
                    ) -> tuple[int, int, int, str, tuple[Any, ...]] | None:
    """(family, type, proto, "", sockaddr) when `host` is an IP address already."""
    if host is None or not isinstance(host, (str, bytes)):
        return None
    if isinstance(host, bytes):
        host = host.decode("idna")
    if port is None:
        port = 0
    elif isinstance(port, (bytes, str)):
        if port == b"" or port == "":
            port = 0
        else:
            try:
                port = int(port)
            except ValueError:
                return None
    elif not isinstance(port, int):
        return None
    for candidate in (socket.AF_INET, socket.AF_INET6):
        if family not in (socket.AF_UNSPEC, candidate):
            continue
        try:
            socket.inet_pton(candidate, host.partition("%")[0])
        except (OSError, ValueError):
            continue
        if candidate == socket.AF_INET6:
            return candidate, type_ or socket.SOCK_STREAM, proto, "", (host, port, 0, 0)
        return candidate, type_ or socket.SOCK_STREAM, proto, "", (host, port)
    return None


async def resolve(loop: Any, address: Address, *, family: int = 0, type: int = 0,
                  proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
    """getaddrinfo's answer for (host, port, ...), without a thread for numbers."""
    host, port = address[:2]
    known = numeric_address(host, port, family, type, proto)
    if known is not None:
        family, type_, proto, name, sockaddr = known
        if len(address) > 2 and family == socket.AF_INET6:
            sockaddr = (sockaddr[0], sockaddr[1], *address[2:])
        return [(family, type_, proto, name, sockaddr)]
    infos = await loop.getaddrinfo(host, port, family=family, type=type, proto=proto,
                                   flags=flags)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos  # type: ignore[no-any-return]


def check_tls_arguments(ssl: Any, server_hostname: Any, handshake: Any, shutdown: Any) -> None:
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if handshake is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if shutdown is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def check_stream(sock: socket.socket, family: int | None = None) -> None:
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    if family is not None and sock.family != family:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


def one_error(exceptions: list[OSError]) -> OSError:
    """The error to raise when every address failed: asyncio's rule."""
    if len(exceptions) == 1:
        return exceptions[0]
    model = str(exceptions[0])
    if all(str(exc) == model for exc in exceptions):
        return exceptions[0]
    return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in exceptions)))


def bind_error(exc: OSError, address: Address) -> OSError:
    """asyncio's words for a failed bind (3.13: "[errno 98] address already in use")."""
    reason = str(exc) if NEW_BIND_RULES else (exc.strerror or "")
    return OSError(exc.errno, f"error while attempting to bind on address "
                              f"{address!r}: {reason.lower()}")


async def connect_any(loop: Any, host: Any, port: Any, family: int, proto: int, flags: int,
                      local_addr: Any, all_errors: bool) -> socket.socket:
    """A connected non-blocking socket to the first address of `host` that answers."""
    infos = await resolve(loop, (host, port), family=family, type=socket.SOCK_STREAM,
                          proto=proto, flags=flags)
    local = None if local_addr is None else await resolve(
        loop, local_addr, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags)
    exceptions: list[OSError] = []
    for family_, type_, proto_, _, address in infos:
        sock = socket.socket(family_, type_, proto_)
        try:
            sock.setblocking(False)
            if local is not None:
                bind_local(sock, family_, local)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            exceptions.append(exc)
        except BaseException:
            sock.close()
            raise
    if all_errors and sys.version_info >= (3, 11):  # Python 3.12's argument
        raise ExceptionGroup("create_connection failed", exceptions)
    raise one_error(exceptions)


async def connect_unix(loop: Any, path: str) -> socket.socket:
    """A connected non-blocking Unix stream socket to `path`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, path)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_local(sock: socket.socket, family: int, local: list[Any]) -> None:
    """Bind `sock` to the first of the resolved `local` addresses in its family."""
    errors = []
    for local_family, _, _, _, local_address in local:
        if local_family != family:
            continue
        try:
            sock.bind(local_address)
            return
        except OSError as exc:
            errors.append(bind_error(exc, local_address))
    raise errors[0] if errors else OSError(f"no matching local address with family={family} found")


async def bind_all(loop: Any, host: Any, port: Any, family: int, flags: int,
                   reuse_address: bool | None, reuse_port: bool | None,
                   keep_alive: bool | None) -> list[socket.socket]:
    """A bound socket for every address of every host (a name, or a list of them)."""
    if reuse_address is None:
        reuse_address = os.name == "posix"
    hosts = [None] if host == "" or host is None else (
        [host] if isinstance(host, str) or not hasattr(host, "__iter__") else list(host))
    infos: list[Any] = []
    for one in hosts:
        for info in await resolve(loop, (one, port), family=family, type=socket.SOCK_STREAM,
                                  flags=flags):
            if info not in infos:
                infos.append(info)
    sockets: list[socket.socket] = []
    try:
        for family_, type_, proto, _, address in infos:
            try:
                sock = socket.socket(family_, type_, proto)
            except OSError:
                continue  # e.g. IPv6 compiled in but off here
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            if reuse_port:
                if not hasattr(socket, "SO_REUSEPORT"):
                    raise ValueError("reuse_port not supported by socket module")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if keep_alive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
            if family_ == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
            try:
                sock.bind(address)
            except OSError as exc:
                if NEW_BIND_RULES and exc.errno == errno.EADDRNOTAVAIL:
                    # Python 3.13: taken for an address family that is off here.
                    sockets.pop()
                    sock.close()
                    if loop.get_debug():
                        log.warning("%s", bind_error(exc, address).strerror)
                    continue
                raise bind_error(exc, address) from None
        if not sockets:
            raise OSError(f"could not bind on any address out of {[i[4] for i in infos]!r}")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_unix(path: str) -> socket.socket:
    """A Unix stream socket bound to `path`, a stale socket file there removed first."""
    if path[0] not in (0, "\x00"):  # not Linux's abstract namespace
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)  # a stale socket file, as asyncio does
        except FileNotFoundError:
            pass
        # Any other OSError raises here, where asyncio logs it and goes on, as the
        # datagram endpoint's check does (evloop.aio.datagram.check_unix_paths): a
        # difference from asyncio, kept until it is changed with a test of its own.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise
    return sock
