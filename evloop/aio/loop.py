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
6. evloop.aio.datagram.Datagrams: create_datagram_endpoint;
7. evloop.aio.pipes.Pipes: connect_read_pipe and connect_write_pipe;
8. evloop.aio.subprocesses.Subprocesses: subprocess_exec and
   subprocess_shell, each child's exit seen through a pidfd;
9. this module: the class users make, EventLoop.

Underneath all of them is one evloop.Loop: one backend, one timer heap,
one ready queue, one exception path.
"""

from __future__ import annotations

from evloop.aio.subprocesses import Subprocesses


class EventLoop(Subprocesses):
    """An asyncio event loop on evloop's Loop.  Make one with
    `evloop.aio.new_event_loop()`, or run a coroutine with `evloop.aio.run()`."""
