"""Listening sockets and the process limits around them.

What every server needs before its loop runs: a bound, listening,
non-blocking socket, over TCP or UDP (`bind_socket`) or a Unix stream socket
(`bind_unix`); a name for a Unix client, which has no address of its own
(`unix_peer`: its process and user); a one-line explanation when binding
fails (`describe_bind_error`: the lab's "address already in use",
"permission denied" below port 1024); and enough file descriptors for many
clients (`raise_fd_limit`).  Addresses are named by
evloop.handlers.addresses's `format_address`.

A Unix socket is a file, and a server that died leaves it behind, where
bind() fails with EADDRINUSE.  The rule: a file at the path is removed only
if it is a socket and nothing answers a connect on it; anything else (a
live server's socket, a regular file) is an error, and never taken over.
(nginx removes nothing at start; gunicorn removes any socket it finds, a
live server's too.)  The server removes its own socket file when it stops
cleanly (`remove_unix`), as nginx does, and only if the file is still the
one it made.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct

from evloop.handlers.addresses import format_address
from evloop.settings.limits import DEFAULT_BACKLOG


def unix_peer(sock: socket.socket) -> str:
    """A Unix client's name: its process and user (SO_PEERCRED, Linux), or the path."""
    if hasattr(socket, "SO_PEERCRED"):
        try:
            pid, uid, _ = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            return f"unix:pid={pid},uid={uid}"
        except OSError:
            pass
    return format_address(sock.getsockname())


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


def bind_unix(path: str, backlog: int = DEFAULT_BACKLOG, mode: int | None = None) -> socket.socket:
    """A listening, non-blocking Unix stream socket at `path`; raises OSError
    (FileExistsError for a path that is taken: see the module's essay)."""
    _remove_if_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_if_stale(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, "the path exists and is not a socket", path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # nobody answers: a socket file left by a server that died
            return
        except OSError:
            pass  # it answers in some way: not ours to take
    raise FileExistsError(errno.EADDRINUSE, "a live server is listening on it", path)


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, to know it again later; None if none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def remove_unix(path: str, identity: tuple[int, int] | None) -> None:
    """Remove the socket file we bound at `path`, if it is still that file
    (`identity`, taken when it was bound): a successor's file is left alone."""
    if identity is not None and file_identity(path) == identity:
        try:
            os.unlink(path)
        except OSError:
            pass


class BindError(OSError):
    """An OSError from listening somewhere other than the server's main
    address (the metrics endpoint), which `describe_bind_error` names."""

    def __init__(self, exc: OSError, where: str) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.where = where


def describe_bind_error(exc: OSError, where: str) -> str:
    """One line saying why listening on `where` (format_address's form) failed."""
    where = f"cannot listen on {exc.where if isinstance(exc, BindError) else where}"
    if isinstance(exc, FileExistsError):
        return f"{where}: {exc.strerror}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: unknown host ({exc.strerror})"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: address already in use (another server there?)"
    if exc.errno == errno.EACCES:
        if where.startswith("cannot listen on unix:"):
            return f"{where}: permission denied (can this user write to that directory?)"
        return f"{where}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: no such address on this machine"
    return f"{where}: {exc.strerror or exc}"


def raise_fd_limit(wanted: int | None = None) -> int | None:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit, or to `wanted` past
    it where the process may (root, up to the kernel's fs.nr_open); return the
    new soft limit, or None where there are no such limits."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted is not None and wanted > hard != resource.RLIM_INFINITY:
        try:  # only with CAP_SYS_RESOURCE; otherwise the hard limit stands
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
