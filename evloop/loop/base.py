"""The event loop: one backend, a heap of timers, signals, and one error path.

An event loop answers one question over and over: *which of my sockets can
make progress right now?*  The kernel answers it (select, poll, epoll,
kqueue; see evloop.loop.backends), and this module adds what a server needs
around it:

* callbacks: as in Redis's ae.c and asyncio, each file descriptor has at most
  one reader and one writer, set with `add_reader(fd, callback, *args)` /
  `add_writer` (arguments are bound once, with functools.partial, so the hot
  path calls a callable with none).  As trio does, the loop keeps one record per descriptor
  (reader, writer, the events the kernel watches) and tells the backend in
  one place (`_sync`) when what is watched changes;
* timers: `call_later()` pushes onto a heap, and the nearest deadline becomes
  the backend's timeout, as in ae.c's `aeProcessEvents` (evloop.loop.timers);
* waking: a socket the backend watches, written by `call_soon_threadsafe`
  and by the C-level handler of a signal, so another thread or SIGTERM wakes
  the loop at once instead of at its next timeout (evloop.loop.waking);
* one error path: a callback that raises is reported through
  `call_exception_handler()` (by default: logged once, with its traceback;
  evloop.loop.errors) and the loop goes on, as asyncio's does.  Only
  KeyboardInterrupt and SystemExit leave `run()`.

One turn of the loop (`run_once(timeout)`) is: compute the timeout (the
caller's limit, cut to the next timer; `run()` gives no limit), wait, call the
ready callbacks (the reader, then the writer if it is still there, as ae.c
does), run the timers that are due, run the `call_soon` queue, then what
asked for the turn's end (`at_turn_end`).  That last step is libuv's "check"
phase, where uvloop sends what its transports were given during the turn:
evloop.aio's transports do the same with what tasks and callbacks write
(`running_queue` is true while the queue runs), so that a response a task
writes in two pieces leaves in one system call.

The hot path is the loop over ready descriptors.  A descriptor that is
readable and nothing else is by far the most common event, so it costs one
comparison, one dict lookup, one attribute and the call; anything else
(writable, both, an error or a hang-up) goes through `_dispatch_other`.  An
absent reader or writer is the do-nothing `_idle`, never None, so the hot
path needs no test: an event left over for a callback removed earlier in
the same turn calls `_idle`.

Two more savings, counted with callgrind at one client: the heap's list is
read on every turn as an attribute of the loop, without a method call (two
calls cost 1,000 instructions a turn), and `add_reader`/`remove_reader` take
a descriptor's number as it is, without `fileno_of()` (a call per
connection).  `turn_observer`, when set, is called with each turn's
duration, from the wake-up to the end of its callbacks
(evloop.metrics.TurnHistogram.observe, while metrics are served).

The loop knows nothing about connections or handlers: it calls callables.
Methods for the caller: `add_reader` / `remove_reader`, `add_writer` /
`remove_writer`, `watching`, `call_soon`, `call_later`,
`call_soon_threadsafe`, `at_turn_end`, `time`, `add_signal_handler`, `set_exception_handler`,
`call_exception_handler`, `statistics`, `run`, `run_once`, `stop`, `close`.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable
from collections.abc import Collection
from typing import Any
from typing import NamedTuple

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.backends import READABLE
from evloop.loop.backends import Backend
from evloop.loop.backends import FileLike
from evloop.loop.backends import event_mask
from evloop.loop.backends import fileno_of
from evloop.loop.backends import make_backend
from evloop.loop.errors import ExceptionHandler
from evloop.loop.errors import callback_name
from evloop.loop.errors import log_exception
from evloop.loop.timers import Scheduled
from evloop.loop.timers import Timer
from evloop.loop.timers import TimerHeap
from evloop.loop.waking import Waker


class LoopStatistics(NamedTuple):
    """What `BaseLoop.statistics()` reports, so that tests need not read private state."""

    selector: str
    descriptors: int  # watched by the backend
    readers: int
    writers: int
    timers: int  # on the heap, not cancelled
    ready: int  # call_soon callbacks waiting for the end of the turn


def _idle() -> None:
    """The reader or writer of a descriptor that has none."""


class _FdRecord:
    """One watched descriptor: its callbacks, and the events the backend watches."""

    __slots__ = ("reader", "writer", "events")

    def __init__(self) -> None:
        self.reader: Callable[[], object] = _idle
        self.writer: Callable[[], object] = _idle
        self.events = 0


class BaseLoop:
    """A single-threaded event loop over one backend ("auto", "epoll", "poll", ...)."""

    def __init__(self, selector: str | Backend = "auto") -> None:
        self.backend = selector if isinstance(selector, Backend) else make_backend(selector)
        self.selector_name = self.backend.name
        self.now = time.monotonic()
        self.turn_observer: Callable[[float], object] | None = None
        self._fds: dict[int, _FdRecord] = {}
        self._timers = TimerHeap()
        self._heap = self._timers.timers  # read every turn (see the essay)
        self._poll: Callable[[float | None], list[tuple[int, int]]] = self.backend.poll
        self._ready: collections.deque[Scheduled] = collections.deque()
        self._turn_end: list[Callable[[], object]] = []
        self.running_queue = False  # True while the call_soon queue runs
        self._running = False
        self._exception_handler: ExceptionHandler | None = None
        self._closed = False
        self._waker = Waker(self.call_soon)
        self.add_reader(self._waker.reader, self._waker.on_readable)

    # -- file descriptors -----------------------------------------------------

    def add_reader(self, fileobj: int | FileLike, callback: Callable[..., object],
                   *args: Any) -> None:
        """Call `callback(*args)` whenever `fileobj` is readable (or has hung up)."""
        self._set(fileobj if type(fileobj) is int else fileno_of(fileobj),
                  functools.partial(callback, *args) if args else callback, None)

    def remove_reader(self, fileobj: int | FileLike) -> None:
        self._set(fileobj if type(fileobj) is int else fileno_of(fileobj), _idle, None)

    def add_writer(self, fileobj: int | FileLike, callback: Callable[..., object],
                   *args: Any) -> None:
        """Call `callback(*args)` whenever `fileobj` is writable (or has failed)."""
        self._set(fileno_of(fileobj), None, functools.partial(callback, *args) if args else callback)

    def remove_writer(self, fileobj: int | FileLike) -> None:
        self._set(fileno_of(fileobj), None, _idle)

    def callbacks(self, fd: int) -> tuple[Callable[[], object] | None, Callable[[], object] | None]:
        """The reader and the writer installed for `fd` (None where there is none)."""
        record = self._fds.get(fd)
        if record is None:
            return None, None
        return (None if record.reader is _idle else record.reader,
                None if record.writer is _idle else record.writer)

    def watching(self, fileobj: int | FileLike) -> int:
        """The events watched for `fileobj`: EVENT_READ, EVENT_WRITE, both or 0."""
        record = self._fds.get(fileno_of(fileobj))
        return 0 if record is None else record.events

    def _set(self, fd: int, reader: Callable[[], object] | None,
             writer: Callable[[], object] | None) -> None:
        """Install or drop a callback (None: leave it), then tell the backend."""
        record = self._fds.get(fd)
        if record is None:
            if reader is _idle or writer is _idle or (reader is None and writer is None):
                return  # removing what was never there
            if self.backend.fd_limit is not None:
                self.backend.check_fd(fd)
            record = self._fds[fd] = _FdRecord()
        before = record.reader, record.writer
        if reader is not None:
            record.reader = reader
        if writer is not None:
            record.writer = writer
        try:
            self._sync(fd, record)
        except BaseException:  # e.g. ENOSPC from epoll_ctl: leave things as they were
            record.reader, record.writer = before
            if not record.events:
                del self._fds[fd]
            raise

    def _sync(self, fd: int, record: _FdRecord) -> None:
        """The one place that tells the backend what a descriptor is watched for."""
        events = ((EVENT_READ if record.reader is not _idle else 0)
                  | (EVENT_WRITE if record.writer is not _idle else 0))
        if events == record.events:
            return
        if not record.events:
            self.backend.register(fd, events)
        elif not events:
            self.backend.unregister(fd)
            del self._fds[fd]
        else:
            self.backend.modify(fd, events)
        record.events = events

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

    def at_turn_end(self, callback: Callable[[], object]) -> None:
        """Call `callback()` once, at the end of this turn, after the call_soon queue."""
        self._turn_end.append(callback)

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> Timer:
        """From another thread: run `callback(*args)` in the loop's thread."""
        timer = self.call_soon(callback, *args)  # deque.append is atomic
        self._waker.wake()
        return timer

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

    # -- running ------------------------------------------------------------

    def run(self) -> None:
        """Run until `stop()` is called."""
        self._running = True
        while self._running:
            self.run_once(None)

    def stop(self) -> None:
        """Make `run()` return after the current turn."""
        self._running = False

    def run_once(self, timeout: float | None = 0) -> None:
        """One turn: wait for events at most `timeout` seconds (0, the default:
        only look; None: as long as it takes), never past the next timer, then
        call the ready callbacks, the due timers and the call_soon queue."""
        heap = self._heap
        if heap and not heap[0][2]._cancelled and not self._ready and not self._turn_end:
            # _next_timeout's common case, inlined: 400 instructions a turn (callgrind, 1 client)
            wait = heap[0][0] - time.monotonic()
            if wait < 0:
                wait = 0
            if timeout is None or wait < timeout:
                timeout = wait
        else:
            timeout = self._next_timeout(timeout)
        ready = self._poll(timeout)
        self.now = time.monotonic()
        fds = self._fds
        for fd, event in ready:
            if event == READABLE:  # readable, nothing else: most events by far
                # Subscript in a try costs ~170 instructions less per event than
                # fds.get(fd) and a test for None (callgrind).
                try:
                    reader = fds[fd].reader
                except KeyError:  # removed by an earlier callback this turn
                    continue
                try:
                    reader()
                except Exception as exc:  # free in CPython 3.11+ until one is raised
                    self._callback_raised(exc, reader, f"the reader of fd {fd}")
            else:
                self._dispatch_other(fd, event)
        if heap and heap[0][0] <= self.now:
            self._ready.extend(self._timers.pop_due(self.now))
        if self._ready:
            self.running_queue = True
            try:
                self._run_ready()
            finally:
                self.running_queue = False
        if self._turn_end:
            self._run_turn_end()
        observer = self.turn_observer
        if observer is not None:
            observer(time.monotonic() - self.now)

    def _dispatch_other(self, fd: int, event: int) -> None:
        """Writable, both, or an error/hang-up (which wakes whichever is watching)."""
        mask = event_mask(event)
        for role, wanted in (("reader", EVENT_READ), ("writer", EVENT_WRITE)):
            record = self._fds.get(fd)  # looked up again: the reader may have removed it
            if record is None or not mask & wanted:
                continue
            callback = record.reader if wanted == EVENT_READ else record.writer
            try:
                callback()
            except Exception as exc:
                self._callback_raised(exc, callback, f"the {role} of fd {fd}")

    def _next_timeout(self, limit: float | None) -> float | None:
        """How long the next wait may be: 0 with callbacks queued (at the turn's end
        too: asked for outside a turn), else until the next timer, and never more
        than `limit` (None: no limit)."""
        if self._ready or self._turn_end:
            return 0
        wait = self._timers.next_timeout()  # drops cancelled timers from the top
        if wait is None:
            return limit
        return wait if limit is None or wait < limit else limit

    def _run_ready(self) -> None:
        # Only what was queued before this pass runs now; callbacks that
        # queue more wait for the next turn, so the selector is never starved.
        ready = self._ready
        for _ in range(len(ready)):
            timer = ready.popleft()
            if not timer._cancelled:
                try:
                    timer._run()  # an asyncio.Handle reports its own errors
                except Exception as exc:
                    self._callback_raised(exc, timer._callback, "the callback")

    def _run_turn_end(self) -> None:
        # The list stays the same object (evloop.aio's transports hold it); what
        # these callbacks ask for runs at the next turn's end.
        callbacks = self._turn_end.copy()
        self._turn_end.clear()
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:
                self._callback_raised(exc, callback, "the turn-end callback")

    def statistics(self) -> LoopStatistics:
        """How much the loop is watching and holding, for tests and metrics."""
        records = self._fds.values()
        return LoopStatistics(
            selector=self.selector_name,
            descriptors=len(records),
            readers=sum(record.reader is not _idle for record in records),
            writers=sum(record.writer is not _idle for record in records),
            timers=len(self._timers),
            ready=sum(not timer._cancelled for timer in self._ready))

    def is_closed(self) -> bool:
        return self._closed

    def close(self, ignore: Collection[int] = ()) -> None:
        """Restore signal handlers, except that the signals in `ignore` are
        ignored from now on, and release the backend.  A second call does nothing.

        The registrations go with the backend, never one by one: after a fork the
        child's epoll descriptor is the parent's epoll instance, so a child that
        closes its copy of the loop must not EPOLL_CTL_DEL what the parent watches."""
        if self._closed:
            return
        self._closed = True
        self._fds.clear()
        self.backend.close()
        self._waker.close(ignore)

