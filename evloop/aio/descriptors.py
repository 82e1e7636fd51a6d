"""The second level of evloop.aio's loop: its dealings with the kernel, outside transports.

`DescriptorEventLoop` adds to the scheduler (evloop.aio.base) what asyncio
programs do with descriptors themselves, without a transport:

* readers and writers: `add_reader(fd, callback, *args)` goes to the
  evloop Loop's own reader, the callback run in the contextvars context
  current when it was added, as asyncio runs it;
* signals arrive through the Loop's waker (evloop.loop.waking): the
  C-level handler writes the signal's number into its socket, and the
  program's callback runs as an ordinary Handle, in the loop's thread;
* the `sock_*` calls: each tries its system call at once, as chapter 2's
  loop does, and only on BlockingIOError watches the descriptor (a reader
  for recv and accept, a writer for send and connect) and finishes in the
  callback.  The future's done callback always removes the watch, so a
  cancelled `await loop.sock_recv()` leaves nothing behind.  A
  non-blocking connect is chapter 2's EINPROGRESS: watch for writable,
  then read SO_ERROR.  Sockets must be non-blocking (asyncio's rule,
  checked in debug mode); SSL sockets are refused, since their records
  are not the kernel's bytes;
* names: `getaddrinfo` and `getnameinfo` run in the default executor, as
  asyncio's do; a numeric address needs no thread (evloop.aio.connecting);
* the default executor, a thread pool made on first use
  (evloop.aio.executor).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import functools
import signal
import socket
import ssl
import sys
import warnings
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from evloop.aio.base import BaseEventLoop
from evloop.aio.connecting import Address
from evloop.aio.connecting import resolve
from evloop.aio.executor import new_pool
from evloop.aio.executor import shut_down
from evloop.aio.handles import in_this_context
from evloop.aio.sendfile import by_kernel
from evloop.aio.sendfile import by_reading
from evloop.aio.sendfile import check_range
from evloop.aio.sendfile import regular_fileno
from evloop.loop.backends import FileLike
from evloop.loop.backends import fileno_of
from evloop.loop.base import BaseLoop

__all__ = ["DescriptorEventLoop"]

T = TypeVar("T")


class DescriptorEventLoop(BaseEventLoop):
    """asyncio's readers, writers, signals, socket calls, names and executor."""

    def __init__(self, selector: str | BaseLoop = "auto") -> None:
        self._default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_shutdown_called = False
        self._signal_handlers: dict[int, asyncio.Handle] = {}
        super().__init__(selector)

    def _release(self) -> None:
        pool, self._default_executor = self._default_executor, None
        if pool is not None:
            pool.shutdown(wait=False)
        for signum in list(self._signal_handlers):
            self.remove_signal_handler(signum)

    # -- readers and writers ----------------------------------------------------------

    def _bound(self, callback: Callable[..., object], args: tuple[Any, ...]) -> Callable[[], None]:
        if self._debug:
            self._check_callback(callback, "add_reader")
        return in_this_context(callback, *args)

    def add_reader(self, fd: int | FileLike, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        self._check_closed()
        self._evloop.add_reader(fileno_of(fd), self._bound(callback, args))

    def remove_reader(self, fd: int | FileLike) -> bool:
        if self._closed:
            return False
        number = fileno_of(fd)
        had = self._evloop.watching(number) & 1
        self._evloop.remove_reader(number)
        return bool(had)

    def add_writer(self, fd: int | FileLike, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        self._check_closed()
        self._evloop.add_writer(fileno_of(fd), self._bound(callback, args))

    def remove_writer(self, fd: int | FileLike) -> bool:
        if self._closed:
            return False
        number = fileno_of(fd)
        had = self._evloop.watching(number) & 2
        self._evloop.remove_writer(number)
        return bool(had)

    # -- signals ----------------------------------------------------------------------

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, None)
        try:
            self._evloop.add_signal_handler(sig, lambda _: self._signalled(sig))
        except OSError as exc:
            raise RuntimeError(f"sig {sig} cannot be caught") from exc
        except ValueError as exc:  # not the main thread
            raise RuntimeError(str(exc)) from exc
        self._signal_handlers[sig] = handle

    def _signalled(self, sig: int) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is not None and not handle._cancelled:
            self._enqueue(handle)

    def remove_signal_handler(self, sig: int) -> bool:
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        self._evloop.remove_signal_handler(sig)
        return True

    # -- the sock_* calls ---------------------------------------------------------------

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
        self._wait(sock, writing, _retry, future, call, *args)
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

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._check_socket(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent == len(data):
            return
        future = self.create_future()
        self._wait(sock, True, _send_rest, future, memoryview(data).cast("B"), [sent])
        await future

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        return await self._call(sock, True, "sendto", data, address)  # type: ignore[no-any-return]

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        self._check_socket(sock)
        if sock.family != getattr(socket, "AF_UNIX", None):
            resolved = await resolve(self, address, family=sock.family, type=sock.type,
                                     proto=sock.proto)
            address = resolved[0][4]
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        future = self.create_future()
        self._wait(sock, True, _connected, future, address)
        try:
            await future
        finally:
            future = None  # type: ignore[assignment]  # no cycle through the traceback

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        conn, address = await self._call(sock, False, "accept")
        conn.setblocking(False)
        return conn, address

    async def sock_sendfile(self, sock: socket.socket, file: Any, offset: int = 0,
                            count: int | None = None, *, fallback: bool | None = True) -> int:
        self._check_socket(sock)
        if sock.type != socket.SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        check_range(offset, count)
        fileno = regular_fileno(file)
        if fileno is None:
            if not fallback:
                raise asyncio.SendfileNotAvailableError("os.sendfile() is not available "
                                                        "for this file")
            return await by_reading(self, sock, file, offset, count)
        return await by_kernel(self, sock, file, fileno, offset, count)

    # -- names and the default executor -----------------------------------------------------

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        return await self.run_in_executor(None, socket.getaddrinfo, host, port, family,
                                          type, proto, flags)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    def run_in_executor(self, executor: concurrent.futures.Executor | None,  # type: ignore[override]
                        func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            if self._default_executor is None:
                self._default_executor = new_pool()
            executor = self._default_executor
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor: Any) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            if sys.version_info >= (3, 11):
                raise TypeError("executor must be ThreadPoolExecutor instance")
            warnings.warn("Using the default executor that is not an instance of "
                          "ThreadPoolExecutor is deprecated and will be prohibited "
                          "in Python 3.9", DeprecationWarning, 2)  # 3.10's words
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True
        if self._default_executor is not None:
            await shut_down(self, self._default_executor, timeout)



def _check_signal(sig: int) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


# The steps the `sock_*` calls take when their socket is ready: `step(future, sock, *args)`.

def _retry(future: asyncio.Future[Any], sock: socket.socket, call: str, *args: Any) -> None:
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


def _send_rest(future: asyncio.Future[Any], sock: socket.socket, view: memoryview,
               sent: list[int]) -> None:
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


def _connected(future: asyncio.Future[Any], sock: socket.socket, address: Address) -> None:
    if future.done():
        return
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error == errno.EINPROGRESS or error == errno.EINTR:
        return
    if error:
        future.set_exception(OSError(error, f"Connect call failed {address}"))
    else:
        future.set_result(None)
