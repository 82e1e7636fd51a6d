"""Tracing evloop.aio: an asyncio program's loop, narrated (`python3 -m evloop.aio --trace`).

The narration is evloop's own (evloop.trace, chapter 5): one line per step
on stderr, with its time since the start and the descriptor's name, in the
same format, through the same `Steps`.  It tells three things:

* every wake-up, how long the loop slept and what woke it: the backend's
  poll, wrapped by evloop.trace.traced_poll, as for evloop's servers;
* every callback the loop runs, in order, each turn: a Task's steps are
  named by the task and its coroutine (`task 'Task-2' echo(): step`), a
  Task woken by the future it awaited says so (`wake-up`), anything else by
  its qualified name (`callback StreamReaderProtocol.connection_made`);
* what each transport's socket took: every read (recv), recv_into and write
  (send) with its byte count, would-blocks, the FIN and the close.

How: a TracedEventLoop is an EventLoop whose Loop has two instance
attributes over its own methods, `_poll` and `_run_ready`, so the untraced
loop pays nothing.  A transport is built by the module that needs it
(evloop.aio.network, .servers, .tls), not by a method of the loop, so
there is no class to swap; but every transport's first callback is its
protocol's `connection_made(transport)`, run from the ready queue.  There,
before the call, the traced pass puts a TracedSocket in front of the
transport's socket, and its `_sys_read`/`_sys_write` (os.read and
os.write on the descriptor) with the proxy's: it reports each system call
and passes everything else through.  Bytes a program moves with the `sock_*` calls,
and datagrams, are not narrated.

`install()` makes asyncio use traced loops (a policy, as evloop.aio.install).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import warnings
from typing import Any

from evloop.aio import EventLoopPolicy
from evloop.aio.loop import EventLoop
from evloop.aio.stream import SocketTransport
from evloop.loop.errors import callback_name
from evloop.connection.addresses import format_address
from evloop.trace.loop import LoopTracer
from evloop.trace.steps import Lane
from evloop.trace.steps import Steps

__all__ = ["TracedEventLoop", "TracedSocket", "TracingPolicy", "describe", "install"]

log = logging.getLogger("asyncio")


def describe(callback: Any) -> str:
    """What a callback on the ready queue is, in words: a Task's step, or its name."""
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        coro_name = getattr(coro, "__qualname__", None) or type(coro).__name__
        # The C Task's wake-up is `task_wakeup`, the Python one's `__wakeup`; its
        # step is a TaskStepMethWrapper, which has no name.
        what = "wake-up" if "wakeup" in getattr(callback, "__name__", "") else "step"
        return f"task {task.get_name()!r} {coro_name}(): {what}"
    return f"callback {callback_name(callback)}"


class TracedSocket:
    """A transport's socket, saying what each system call took; all else passes through."""

    def __init__(self, sock: socket.socket, steps: Steps, lane: Lane) -> None:
        self._sock = sock
        self._steps = steps
        self._lane = lane

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def read(self, fd: int, size: int) -> bytes:
        """The transport's `_sys_read`: os.read() on the socket's descriptor, narrated."""
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            self._steps.say(self._lane, "recv would block")
            raise
        self._steps.say(self._lane, f"recv {len(data)} B" if data else
                        "recv 0 B: the peer closed its side (EOF)")
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        try:
            count = self._sock.recv_into(buffer, nbytes)
        except BlockingIOError:
            self._steps.say(self._lane, "recv_into would block")
            raise
        self._steps.say(self._lane, f"recv_into {count} B" if count else
                        "recv_into 0 B: the peer closed its side (EOF)")
        return count

    def write(self, fd: int, data: Any) -> int:
        """The transport's `_sys_write`: os.write(), narrated."""
        size = len(data)
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            self._steps.say(self._lane, f"send would block: {size} B wait")
            raise
        # The transport queues what send() did not take (or keeps it queued).
        left = size - sent
        self._steps.say(self._lane, f"send {sent} B, " + (f"{left} B left" if left else "all sent"))
        return sent

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)
        self._steps.say(self._lane, "shutdown: FIN sent" if how == socket.SHUT_WR
                        else f"shutdown({how})")

    def close(self) -> None:
        fd = self._sock.fileno()
        self._sock.close()
        if fd >= 0:
            self._steps.say(self._lane, "closed")
            self._steps.forget(self._lane, fd)


class TracedEventLoop(EventLoop):
    """An EventLoop that narrates its turns on `steps` (see the module's essay)."""

    def __init__(self, steps: Steps, selector: str = "auto") -> None:
        self._steps = steps  # before super().__init__, which calls set_debug
        super().__init__(selector)
        self._evloop.add_instrument(LoopTracer(steps, self._evloop))

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)  # sets or drops the Loop's timed pass...
        self._evloop._run_ready = self._run_ready_traced  # type: ignore[method-assign]

    def _run_ready_traced(self) -> None:
        """The Loop's ready pass, one line per callback before it runs."""
        ready, steps = self._ready, self._steps
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            callback = handle._callback
            if getattr(callback, "__name__", "") == "connection_made":
                self._trace_transport(handle._args)
            steps.say(steps.loop_lane, "runs " + describe(callback))
            self._current_handle = handle
            start = time.monotonic()
            try:
                handle._run()
            except Exception as exc:
                self._evloop._callback_raised(exc, callback, "the callback")
            finally:
                self._current_handle = None
            took = time.monotonic() - start
            if self._debug and took >= self.slow_callback_duration:
                log.warning("Executing %r took %.3f seconds", handle, took)

    def _trace_transport(self, args: tuple[Any, ...]) -> None:
        """Name a new transport's lane and put a TracedSocket in front of its socket."""
        transport = args[0] if args else None
        if not isinstance(transport, SocketTransport):
            return  # TLS's transport is over one already traced; datagrams are not narrated
        sock = transport._sock
        if sock is None or isinstance(sock, TracedSocket):
            return
        peer = transport.get_extra_info("peername")
        fd = transport._sock_fd
        name = f"fd {fd} {format_address(peer)}" if peer else f"fd {fd}"
        kind = "client" if transport._server is not None else "outbound"
        lane = self._steps.lane(name, kind, fd)
        traced = TracedSocket(sock, self._steps, lane)
        transport._sock = traced  # type: ignore[assignment]
        transport._sys_read = traced.read
        transport._sys_write = traced.write
        protocol = type(transport.get_protocol()).__name__
        self._steps.say(lane, ("accepted" if kind == "client" else "connected")
                        + f", a {type(transport).__name__} for {protocol}")

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        server = await super().create_server(*args, **kwargs)
        self._name_listeners(server)
        return server

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> Any:
        server = await super().create_unix_server(*args, **kwargs)
        self._name_listeners(server)
        return server

    def _name_listeners(self, server: Any) -> None:
        for sock in server.sockets:
            fd = sock.fileno()
            lane = self._steps.lane(f"fd {fd} listener {format_address(sock.getsockname())}",
                                    "listener", fd)
            self._steps.say(lane, "listening")


class TracingPolicy(EventLoopPolicy):
    """evloop.aio's policy, making traced loops that all narrate on one `steps`."""

    def __init__(self, steps: Steps) -> None:
        super().__init__()
        self.steps = steps

    def _loop_factory(self) -> TracedEventLoop:
        return TracedEventLoop(self.steps)

    def new_event_loop(self) -> TracedEventLoop:
        return TracedEventLoop(self.steps)


def install(steps: Steps | None = None) -> Steps:
    """Make asyncio's new loops traced evloop.aio loops; returns where the steps go."""
    steps = steps if steps is not None else Steps(True, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.14 deprecates policies
        asyncio.set_event_loop_policy(TracingPolicy(steps))
    return steps
