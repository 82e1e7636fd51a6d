"""Tracing evloop.aio: an asyncio program's loop, narrated (`python3 -m evloop.aio --trace`).

The narration is evloop's own (evloop.trace, chapter 4): one line per step
on stderr, with its time since the start and the descriptor's name, in the
same format, through the same `Steps`.  It tells three things:

* every wake-up, how long the loop slept and what woke it, as for evloop's
  servers (evloop.trace.loop.LoopTracer);
* every callback the loop runs, in order, each turn: a Task's steps are
  named by the task and its coroutine (`task 'Task-2' echo(): step`), a
  Task woken by the future it awaited says so (`wake-up`), anything else by
  its qualified name (`callback StreamReaderProtocol.connection_made`);
* what each transport's socket took: every read (recv), recv_into and write
  (send) with its byte count, would-blocks, the FIN and the close.

How: a traced loop (`traced_loop`) is a plain EventLoop with two
instruments (evloop.loop.instruments) on its Loop: LoopTracer, which
narrates the waits, and this module's Narration, which says what each
queued callback is before it runs; an untraced loop has neither, and pays
nothing.  Debug mode's own instrument runs beside them.  A transport is
built by the module that needs it (evloop.aio's loop, servers, tls), not by
a method the trace could replace; but every transport's first callback is
its protocol's `connection_made(transport)`, run from the ready queue.  There, before the call, Narration names the
transport's lane and routes its socket's calls through a TracedSocket
(`SocketTransport.route_system_calls`), which reports each system call and
passes everything else through.  A listener is named when the loop first
watches it (the `watch_changed` hook).  Bytes a program moves with the
`sock_*` calls, and datagrams, are not narrated.

`install()` makes asyncio use traced loops (a policy, as evloop.aio.install).
"""

from __future__ import annotations

import asyncio
import os
import socket
import warnings
import weakref
from typing import Any

from evloop.aio import EventLoopPolicy
from evloop.aio.loop import EventLoop
from evloop.aio.stream import SocketTransport
from evloop.handlers.addresses import format_address
from evloop.loop.backends import EVENT_READ
from evloop.loop.base import BaseLoop
from evloop.loop.errors import callback_name
from evloop.loop.instruments import Instrument
from evloop.trace.loop import LoopTracer
from evloop.trace.steps import Lane
from evloop.trace.steps import Steps

__all__ = ["Narration", "TracedSocket", "TracingPolicy", "describe", "install", "traced_loop"]

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


class Narration(Instrument):
    """Narrates what the ready queue runs, names listeners, and traces each new transport."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.traced: weakref.WeakSet[SocketTransport] = weakref.WeakSet()

    def before_callback(self, handle: Any) -> None:
        callback = handle._callback  # asyncio.Handle's field (evloop's Timer has it too)
        if getattr(callback, "__name__", "") == "connection_made":
            self.trace_transport(handle._args)
        self.steps.say(self.steps.loop_lane, "runs " + describe(callback))

    def watch_changed(self, fd: int, events: int) -> None:
        """A descriptor watched for the first time may be a listener: give it its lane."""
        if not events & EVENT_READ or fd in self.steps.by_fd:
            return
        address = listening_address(fd)
        if address is not None:
            lane = self.steps.lane(f"fd {fd} listener {format_address(address)}", "listener", fd)
            self.steps.say(lane, "listening")

    def trace_transport(self, args: tuple[Any, ...]) -> None:
        """Name a new transport's lane and route its socket's calls through a TracedSocket."""
        transport = args[0] if args else None
        if not isinstance(transport, SocketTransport) or transport in self.traced:
            return  # TLS's transport is over one already traced; datagrams are not narrated
        sock = transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return
        self.traced.add(transport)
        fd = sock.fileno()
        peer = transport.get_extra_info("peername")
        name = f"fd {fd} {format_address(peer)}" if peer else f"fd {fd}"
        kind = "client" if transport.accepted else "outbound"
        lane = self.steps.lane(name, kind, fd)
        transport.route_system_calls(lambda sock: TracedSocket(sock, self.steps, lane))
        protocol = type(transport.get_protocol()).__name__
        self.steps.say(lane, ("accepted" if kind == "client" else "connected")
                       + f", a {type(transport).__name__} for {protocol}")


def listening_address(fd: int) -> Any:
    """The address `fd` listens on, or None if it is not a listening socket."""
    copy = os.dup(fd)  # a socket object of our own, which closes only the copy
    try:
        sock = socket.socket(fileno=copy)
    except OSError:  # not a socket: a pipe, a pidfd
        os.close(copy)
        return None
    with sock:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return None
        return sock.getsockname()


def traced_loop(steps: Steps, selector: str = "auto") -> EventLoop:
    """An EventLoop that narrates its turns on `steps` (see the module's essay)."""
    base = BaseLoop(selector)
    base.add_instrument(LoopTracer(steps, base))
    loop = EventLoop(base)
    loop.add_instrument(Narration(steps))
    return loop


class TracingPolicy(EventLoopPolicy):
    """evloop.aio's policy, making traced loops that all narrate on one `steps`."""

    def __init__(self, steps: Steps) -> None:
        super().__init__()
        self.steps = steps

    def _loop_factory(self) -> EventLoop:
        return traced_loop(self.steps)

    def new_event_loop(self) -> EventLoop:
        return traced_loop(self.steps)


def install(steps: Steps | None = None) -> Steps:
    """Make asyncio's new loops traced evloop.aio loops; returns where the steps go."""
    steps = steps if steps is not None else Steps(True, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.14 deprecates policies
        asyncio.set_event_loop_policy(TracingPolicy(steps))
    return steps
