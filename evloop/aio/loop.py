"""evloop.aio.EventLoop: the whole of asyncio's loop interface, in layers.

Each layer is one module, each a class over the one before, so that a
reader can take the loop a concern at a time, as BaseEventLoop and
selector_events do in the standard library:

1. evloop.aio.core.Core: callbacks, timers, futures, tasks, readers;
2. evloop.aio.running.Running: running, closing, errors, debug, signals,
   the executor;
3. evloop.aio.socks.Sockets: the `sock_*` calls and name lookups;
4. evloop.aio.network.Network: connections, servers and their TLS;
5. evloop.aio.upgrades.Upgrades: start_tls and sendfile;
6. this module: datagrams, pipes and subprocesses, and the class users
   make, EventLoop.

Underneath all of them is one evloop.Loop: one backend, one timer heap,
one ready queue, one exception path.
"""

from __future__ import annotations

from evloop.aio.upgrades import Upgrades


class EventLoop(Upgrades):
    """An asyncio event loop on evloop's Loop.  Make one with
    `evloop.aio.new_event_loop()`, or run a coroutine with `evloop.aio.run()`."""

    async def create_datagram_endpoint(self, protocol_factory, local_addr=None,  # type: ignore[no-untyped-def]
                                       remote_addr=None, **kwargs):
        raise NotImplementedError("evloop.aio: create_datagram_endpoint is not written yet")

    async def connect_read_pipe(self, protocol_factory, pipe):  # type: ignore[no-untyped-def]
        raise NotImplementedError("evloop.aio: connect_read_pipe is not written yet")

    async def connect_write_pipe(self, protocol_factory, pipe):  # type: ignore[no-untyped-def]
        raise NotImplementedError("evloop.aio: connect_write_pipe is not written yet")

    async def subprocess_exec(self, protocol_factory, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError("evloop.aio: subprocess_exec is not written yet")

    async def subprocess_shell(self, protocol_factory, cmd, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError("evloop.aio: subprocess_shell is not written yet")
