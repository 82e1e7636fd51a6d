"""evloop.aio: asyncio programs on evloop's loop.

Python's network code is written for asyncio: streams, Protocols, uvicorn,
aiohttp.  evloop.aio is an asyncio event loop (an AbstractEventLoop) built
on evloop's own Loop, so those programs run unchanged on a loop a reader
can follow line by line (and faster than on the one Python ships:
bench/results/README.md, "asyncio programs on evloop.aio")::

    import evloop.aio
    evloop.aio.run(main())                       # as asyncio.run, or uvloop.run

    asyncio.Runner(loop_factory=evloop.aio.new_event_loop)   # Python 3.11+
    uvicorn app:app --loop evloop.aio:new_event_loop

The loop is three classes (evloop.aio.loop says which does what), its
transports are evloop's (evloop.aio.transports), not asyncio's selector
transports, and it subclasses no part of asyncio's BaseEventLoop:
asyncio's Future, Task, streams and SSLProtocol run on it as they are.

The names: `EventLoop`, `new_event_loop()`, `run(main, *, debug=None)`,
`EventLoopPolicy` (for programs that set a policy; policies are
deprecated from Python 3.14), `install()` (sets the policy).
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

from evloop.aio.loop import EventLoop

__all__ = ["EventLoop", "EventLoopPolicy", "install", "new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> EventLoop:
    """A new evloop.aio loop (the loop_factory of asyncio.Runner and uvicorn's --loop)."""
    return EventLoop()


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run the coroutine `main` on a new evloop.aio loop, as asyncio.run does."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    return _run_310(main, debug)


# Runs on Python 3.10 only (3.11+ takes asyncio.Runner above), and is tested there.
def _run_310(main: Coroutine[Any, Any, T], debug: bool | None) -> T:  # pragma: no cover
    """asyncio.run's steps, for Python 3.10, which has no Runner."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError("evloop.aio.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for task in tasks:  # one that raised while it was cancelled: reported, as 3.10 does
                if not task.cancelled() and task.exception() is not None:
                    loop.call_exception_handler({
                        "message": "unhandled exception during asyncio.run() shutdown",
                        "exception": task.exception(), "task": task})
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, making evloop.aio loops."""

    def _loop_factory(self) -> EventLoop:
        return new_event_loop()

    def new_event_loop(self) -> EventLoop:
        return new_event_loop()


def install() -> None:
    """Make asyncio.new_event_loop() and asyncio.run() use evloop.aio (a policy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.14 deprecates policies
        asyncio.set_event_loop_policy(EventLoopPolicy())
