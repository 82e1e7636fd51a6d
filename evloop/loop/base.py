"""The event loop: one backend, a queue of callbacks, a heap of timers, signals, one error path.

An event loop answers one question over and over: *which of my sockets can
make progress right now?*  The kernel answers it (select, poll, epoll;
evloop.loop.backends), and `BaseLoop` adds what a server needs around it:

* readers and writers: each descriptor has at most one reader and one
  writer (`add_reader(fd, callback, *args)`), kept in one record per
  descriptor (evloop.loop.descriptors);
* callbacks and timers: `call_soon` queues a callback for the end of the
  turn, `call_later` pushes a timer on a heap (evloop.loop.timers), and the
  nearest deadline becomes the wait's timeout, as ae.c's `aeProcessEvents`
  computes it; `timeouts(delay, callback)` is a queue of many timeouts of
  one length behind one timer (evloop.loop.timeouts);
* waking: a socket the backend watches, written by `call_soon_threadsafe`
  and by a signal's C-level handler, so that another thread or SIGTERM
  wakes the loop at once (evloop.loop.waking);
* one error path: a callback that raises is reported through
  `call_exception_handler()` (by default: logged, with its traceback;
  evloop.loop.errors) and the loop goes on, as asyncio's does.  Only
  KeyboardInterrupt and SystemExit leave `run()`;
* instruments: objects called at named points of a turn, through which
  tracing and metrics watch the loop (evloop.loop.instruments).

A turn (`run_once`, `run_once_queue_first`) is evloop.loop.turns': its
phases, its two orders, and the hot path over the ready descriptors.
The loop knows nothing about connections or handlers: it calls callables.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable
from collections.abc import Collection
from typing import Any
from typing import NamedTuple

from evloop.loop.backends import Backend
from evloop.loop.backends import FileLike
from evloop.loop.backends import fileno_of
from evloop.loop.backends import make_backend
from evloop.loop.descriptors import Descriptors
from evloop.loop.descriptors import idle
from evloop.loop.errors import ExceptionHandler
from evloop.loop.errors import callback_name
from evloop.loop.errors import log_exception
from evloop.loop.instruments import Instrument
from evloop.loop.instruments import Instruments
from evloop.loop.timeouts import Timeouts
from evloop.loop.timers import Scheduled
from evloop.loop.timers import Timer
from evloop.loop.timers import TimerHeap
from evloop.loop.turns import IO
from evloop.loop.turns import Turns
from evloop.loop.waking import Waker



# The loop drops its empty timeout queues when it holds this many of them, or twice as
# many as after the last sweep (BaseLoop.timeouts).
TIMEOUT_QUEUES_SWEPT_AT = 64


class LoopStatistics(NamedTuple):
    """What `BaseLoop.statistics()` reports, so that tests need not read private state."""

    selector: str
    descriptors: int  # watched by the backend
    readers: int
    writers: int
    timers: int  # on the heap, not cancelled
    ready: int  # call_soon callbacks waiting for the end of the turn


class BaseLoop(Turns):
    """A single-threaded event loop over one backend ("auto", "epoll", "poll", ...).

    Methods for the caller: `add_reader` / `remove_reader`, `add_writer` /
    `remove_writer`, `watching`, `call_soon`, `call_later`, `timeouts`,
    `call_soon_threadsafe`, `at_turn_end`, `time`, `add_signal_handler` /
    `remove_signal_handler`, `set_exception_handler`, `call_exception_handler`,
    `add_instrument` / `remove_instrument`, `statistics`, `run`, `run_once`,
    `stop`, `close`.  For a loop built on this one (evloop.aio): `enqueue`
    (a handle made elsewhere, onto the call_soon queue), `push_timer` (onto
    the heap, at its `_when`), `timer_cancelled`, `wake`,
    `run_once_queue_first`, `waker_fd`.
    """

    def __init__(self, selector: str | Backend = "auto") -> None:
        self.backend = selector if isinstance(selector, Backend) else make_backend(selector)
        self.selector_name = self.backend.name
        self.now = time.monotonic()
        self.phase = IO
        self._descriptors = Descriptors(self.backend)
        self._fds = self._descriptors.records  # read by the hot path, as a local
        # Install or drop a callback (None: leave it as it is).  The records' own
        # method, so that adding or removing a reader pays no wrapper's frame.
        self._set = self._descriptors.set
        self._timers = TimerHeap()
        self._heap = self._timers.timers  # read every turn, with no method call
        self._timeouts: dict[tuple[float, Callable[[Any], object]], Timeouts] = {}
        self._timeouts_sweep_at = TIMEOUT_QUEUES_SWEPT_AT
        self._ready: collections.deque[Scheduled] = collections.deque()
        self._turn_end: list[Callable[[], object]] = []
        # Bound to the containers' own methods, so a caller pays no wrapper's frame
        # (the containers are only cleared in place).  at_turn_end(callback): once,
        # at this turn's end; asked outside a turn, the next wait only looks.
        self.enqueue: Callable[[Scheduled], None] = self._ready.append
        self.push_timer: Callable[[Scheduled], None] = self._timers.push_at
        self.at_turn_end: Callable[[Callable[[], object]], None] = self._turn_end.append
        self.instruments = Instruments(
            lambda exc, hook: self._callback_raised(exc, hook, "the instrument hook"))
        self._poll: Callable[[float | None], list[tuple[int, int]]] = self.backend.poll
        self._callback_hooks: tuple[tuple[Callable[..., Any], ...],
                                    tuple[Callable[..., Any], ...]] | None = None
        self._io_hooks: tuple[tuple[Callable[..., Any], ...],
                              tuple[Callable[..., Any], ...]] | None = None
        self._turn_hooks: tuple[Callable[[float], object], ...] = ()
        self._running = False
        self._exception_handler: ExceptionHandler | None = None
        self._closed = False
        self._waker = Waker(self.call_soon)
        self.add_reader(self._waker.reader, self._waker.on_readable)

    # -- file descriptors -----------------------------------------------------

    def add_reader(self, fileobj: int | FileLike, callback: Callable[..., object],
                   *args: Any) -> None:
        """Call `callback(*args)` whenever `fileobj` is readable (or has hung up)."""
        # A descriptor's number is taken as it is, with no fileno_of() call:
        # connections add and remove their reader as they pause and resume.
        self._set(fileobj if type(fileobj) is int else fileno_of(fileobj),
                  functools.partial(callback, *args) if args else callback, None)

    def remove_reader(self, fileobj: int | FileLike) -> None:
        self._set(fileobj if type(fileobj) is int else fileno_of(fileobj), idle, None)

    def add_writer(self, fileobj: int | FileLike, callback: Callable[..., object],
                   *args: Any) -> None:
        """Call `callback(*args)` whenever `fileobj` is writable (or has failed)."""
        self._set(fileno_of(fileobj), None, functools.partial(callback, *args) if args else callback)

    def remove_writer(self, fileobj: int | FileLike) -> None:
        self._set(fileno_of(fileobj), None, idle)

    def callbacks(self, fd: int) -> tuple[Callable[[], object] | None, Callable[[], object] | None]:
        """The reader and the writer installed for `fd` (None where there is none)."""
        return self._descriptors.callbacks(fd)

    def watching(self, fileobj: int | FileLike) -> int:
        """The events watched for `fileobj`: EVENT_READ, EVENT_WRITE, both or 0."""
        return self._descriptors.watching(fileno_of(fileobj))

    # -- callbacks and timers -----------------------------------------------

    def time(self) -> float:
        """The loop's clock (time.monotonic()), which timers are set against."""
        return time.monotonic()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Timer:
        """Run `callback(*args)` after the current turn's events."""
        timer = Timer(0.0, callback, args)
        self._ready.append(timer)
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run `callback(*args)` in `delay` seconds; returns a cancellable Timer."""
        return self._timers.push(delay, callback, args)

    def timeouts(self, delay: float, callback: Callable[[Any], object]) -> Timeouts:
        """The loop's queue of `delay`-second timeouts that call `callback(key)`
        (evloop.loop.timeouts): cheaper than a timer each where many are armed,
        all of one length, and most are disarmed before they fall due."""
        key = delay, callback
        queue = self._timeouts.get(key)
        if queue is None:
            if len(self._timeouts) >= self._timeouts_sweep_at:
                self._sweep_timeouts()
            made = Timeouts(self, delay, callback)
            made.on_empty = functools.partial(self._forget_timeouts, key, made)
            queue = self._timeouts[key] = made
        return queue

    def _forget_timeouts(self, key: tuple[float, Callable[[Any], object]],
                         queue: Timeouts) -> None:
        if self._timeouts.get(key) is queue:  # not a newer queue of the same length
            del self._timeouts[key]

    def _sweep_timeouts(self) -> None:
        """Drop the empty queues (evloop.loop.timeouts); sweep again at twice what is left,
        so that a sweep costs O(1) a queue made, however many lengths are in use."""
        for key, queue in list(self._timeouts.items()):
            if not queue.entries:
                queue.close()
                del self._timeouts[key]
        self._timeouts_sweep_at = max(TIMEOUT_QUEUES_SWEPT_AT, 2 * len(self._timeouts))

    def timer_cancelled(self) -> None:
        """A handle given to `push_timer` was cancelled (the heap compacts by this count)."""
        self._timers.cancelled_one()

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> Timer:
        """From another thread: run `callback(*args)` in the loop's thread."""
        timer = self.call_soon(callback, *args)  # deque.append is atomic
        self._waker.wake()
        return timer

    def wake(self) -> None:
        """From any thread: make the loop's wait return at once."""
        self._waker.wake()

    @property
    def waker_fd(self) -> int:
        """The descriptor the loop watches for wake-ups and signals (to name it in a trace)."""
        return self._waker.reader.fileno()

    # -- errors ---------------------------------------------------------------

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        """Call `handler(loop, context)` for every callback that raises; None
        restores the default, which logs the message and the traceback."""
        self._exception_handler = handler

    def get_exception_handler(self) -> ExceptionHandler | None:
        return self._exception_handler

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Report an error that a callback did not handle: the one error path."""
        handler = self._exception_handler
        if handler is None:
            return self.default_exception_handler(context)
        try:
            handler(self, context)
        except Exception as exc:  # a broken handler must not stop the loop either
            self.default_exception_handler({"message": "the loop's exception handler raised",
                                            "exception": exc})
            self.default_exception_handler(context)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log the message at ERROR, with the traceback (evloop.loop.errors)."""
        log_exception(context)

    def _callback_raised(self, exc: Exception, callback: Callable[..., object],
                         what: str) -> None:
        self.call_exception_handler({"message": f"{what} {callback_name(callback)} raised",
                                     "exception": exc, "callback": callback})

    # -- signals ------------------------------------------------------------

    def add_signal_handler(self, signum: int, callback: Callable[[int], object]) -> None:
        """Run `callback(signum)` in the loop when signal `signum` arrives.

        Must be called from the main thread; see evloop.loop.waking for how.
        """
        self._waker.add_signal_handler(signum, callback)

    def remove_signal_handler(self, signum: int) -> None:
        """Stop carrying `signum`: the handler it had before comes back."""
        self._waker.remove_signal_handler(signum)

    # -- instruments --------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        """Call `instrument`'s hooks from now on (evloop.loop.instruments)."""
        self.instruments.add(instrument)
        self._instruments_changed()

    def remove_instrument(self, instrument: Instrument) -> None:
        """Stop calling `instrument`'s hooks; KeyError if it was not added."""
        self.instruments.remove(instrument)
        self._instruments_changed()

    def _instruments_changed(self) -> None:
        """Choose the poll and the hooks a turn calls: with no instrument, none at all."""
        get = self.instruments.get
        self._poll = self.instruments.observe_poll(self.backend.poll)
        befores, afters = get("before_callback"), get("after_callback")
        self._callback_hooks = (befores, afters) if befores or afters else None
        befores, afters = get("before_io"), get("after_io")
        self._io_hooks = (befores, afters) if befores or afters else None
        self._turn_hooks = get("after_turn")
        watch_hooks = get("watch_changed")
        self._descriptors.on_change = (
            None if not watch_hooks else
            lambda fd, events: self.instruments.notify(watch_hooks, fd, events))

    # -- running ------------------------------------------------------------

    def run(self) -> None:
        """Run until `stop()` is called."""
        self._running = True
        while self._running:
            self.run_once(None)

    def stop(self) -> None:
        """Make `run()` return after the current turn."""
        self._running = False

    def statistics(self) -> LoopStatistics:
        """How much the loop is watching and holding, for tests and metrics."""
        readers, writers = self._descriptors.counts()
        return LoopStatistics(
            selector=self.selector_name,
            descriptors=len(self._fds),
            readers=readers,
            writers=writers,
            # the queued timeouts, not the timers that wait for them
            timers=len(self._timers) + sum(
                len(queue) - (queue.timer is not None and queue.timer._scheduled)
                for queue in self._timeouts.values()),
            ready=sum(not timer._cancelled for timer in self._ready))

    def is_closed(self) -> bool:
        return self._closed

    def discard_pending(self) -> None:
        """Drop the queued callbacks, the timers and what asked for the turn's end:
        what asyncio's loop does as it closes (evloop.aio).  A Loop's own close()
        keeps them, as it keeps its readers, for whoever still holds the loop."""
        self._ready.clear()
        self._turn_end.clear()
        for queue in self._timeouts.values():  # before the heap goes: close() cancels on it
            queue.close()
        self._timeouts.clear()
        self._timers.clear()

    def close(self, ignore: Collection[int] = ()) -> None:
        """Release the backend, and restore the signal handlers, except that the
        signals in `ignore` are ignored from now on.  A second call does nothing.

        Closing the backend drops every registration at once, with no call per
        descriptor: after a fork, the child's epoll descriptor is the parent's
        epoll instance, and removing the waker from it would silence the parent.
        """
        if self._closed:
            return
        self._closed = True
        self.backend.close()
        self._waker.close(ignore)
