"""The `sock_*` methods: one system call, and a future for when it would block.

Each method tries its call at once, as chapter 3's loop does: a socket that
can take the bytes, or has them, answers without a turn of the loop.  Only
on BlockingIOError does it watch the descriptor (a reader for recv and
accept, a writer for send and connect) and finish in the callback; the
future's done callback always removes the watch, so a cancelled
`await loop.sock_recv()` leaves nothing behind.  A non-blocking connect is
chapter 3's EINPROGRESS: watch for writable, then read SO_ERROR.

Names are resolved with `getaddrinfo` in the default executor, as asyncio
does, except numeric addresses, which `numeric_address` recognises without
a thread.  Sockets must be non-blocking (asyncio's rule, checked in debug
mode); SSL sockets are refused, since their records are not the kernel's
bytes.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import ssl
from collections.abc import Callable
from typing import Any

from evloop.aio.running import Running

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


class Sockets(Running):
    """asyncio's low-level socket calls, over the loop's readers and writers."""

    def _check_socket(self, sock: socket.socket) -> None:
        if isinstance(sock, ssl.SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _wait(self, sock: Any, writing: bool, step: Callable[..., None],
              future: asyncio.Future[Any], *args: Any) -> None:
        """Watch `sock` and call `step(future, sock, *args)` when it is ready.

        The future's end removes the watch only if it is still this one: a
        cancelled recv must not remove the reader of the recv that came next."""
        fd = sock.fileno()
        callback = functools.partial(step, future, sock, *args)
        role = 1 if writing else 0
        (self._evloop.add_writer if writing else self._evloop.add_reader)(fd, callback)

        def done(_: asyncio.Future[Any]) -> None:
            if not self._closed and self._evloop.callbacks(fd)[role] is callback:
                (self._evloop.remove_writer if writing else self._evloop.remove_reader)(fd)
        future.add_done_callback(done)

    async def _call(self, sock: socket.socket, writing: bool, call: str, *args: Any) -> Any:
        """`sock.<call>(*args)` now, or, if it would block, once the socket is ready."""
        self._check_socket(sock)
        try:
            return getattr(sock, call)(*args)
        except (BlockingIOError, InterruptedError):
            pass
        future = self.create_future()
        self._wait(sock, writing, self._retry, future, call, *args)
        return await future

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        return await self._call(sock, False, "recv", nbytes)  # type: ignore[no-any-return]

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        return await self._call(sock, False, "recv_into", buf)  # type: ignore[no-any-return]

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        return await self._call(sock, False, "recvfrom", bufsize)  # type: ignore[no-any-return]

    async def sock_recvfrom_into(self, sock: socket.socket, buf: Any, nbytes: int = 0
                                 ) -> tuple[int, Address]:
        return await self._call(  # type: ignore[no-any-return]
            sock, False, "recvfrom_into", buf, nbytes or len(buf))

    def _retry(self, future: asyncio.Future[Any], sock: socket.socket, call: str,
               *args: Any) -> None:
        if future.done():
            return
        try:
            result = getattr(sock, call)(*args)  # looked up now: a test may swap it
        except (BlockingIOError, InterruptedError):
            return  # a spurious wake-up: wait on
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._check_socket(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent == len(data):
            return
        future = self.create_future()
        self._wait(sock, True, self._send_rest, future, memoryview(data).cast("B"), [sent])
        await future

    def _send_rest(self, future: asyncio.Future[Any], sock: socket.socket,
                   view: memoryview, sent: list[int]) -> None:
        if future.done():
            return
        try:
            sent[0] += sock.send(view[sent[0]:])
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            future.set_exception(exc)
            return
        if sent[0] == len(view):
            future.set_result(None)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        return await self._call(sock, True, "sendto", data, address)  # type: ignore[no-any-return]

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        self._check_socket(sock)
        if sock.family != getattr(socket, "AF_UNIX", None):
            resolved = await self._resolved(address, family=sock.family, type=sock.type,
                                            proto=sock.proto)
            address = resolved[0][4]
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        future = self.create_future()
        self._wait(sock, True, self._connected, future, address)
        try:
            await future
        finally:
            future = None  # type: ignore[assignment]  # no cycle through the traceback

    def _connected(self, future: asyncio.Future[Any], sock: socket.socket, address: Address
                   ) -> None:
        if future.done():
            return
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error == errno.EINPROGRESS or error == errno.EINTR:
            return
        if error:
            future.set_exception(OSError(error, f"Connect call failed {address}"))
        else:
            future.set_result(None)

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        self._check_socket(sock)
        future = self.create_future()
        self._accept(future, sock)
        if not future.done():
            self._wait(sock, False, self._accept, future)
        return await future  # type: ignore[no-any-return]

    def _accept(self, future: asyncio.Future[Any], sock: socket.socket) -> None:
        if future.done():
            return
        try:
            conn, address = sock.accept()
            conn.setblocking(False)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result((conn, address))

    # -- names ------------------------------------------------------------------

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        return await self.run_in_executor(None, socket.getaddrinfo, host, port, family,
                                          type, proto, flags)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    async def _resolved(self, address: Address, *, family: int = 0, type: int = 0,
                        proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        """getaddrinfo's answer for (host, port, ...), without a thread for numbers."""
        host, port = address[:2]
        known = numeric_address(host, port, family, type, proto)
        if known is not None:
            family, type_, proto, name, sockaddr = known
            if len(address) > 2 and family == socket.AF_INET6:
                sockaddr = (sockaddr[0], sockaddr[1], *address[2:])
            return [(family, type_, proto, name, sockaddr)]
        infos = await self.getaddrinfo(host, port, family=family, type=type, proto=proto,
                                       flags=flags)
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos
