"""The event loop: one selector, a heap of timers, and signals.

An event loop answers one question over and over: *which of my sockets can
make progress right now?*  The kernel answers it (select, poll, epoll,
kqueue), Python's `selectors` module hides the differences between those
system calls, and this module adds the three things a server needs around it:

* callbacks: as in Redis's ae.c and asyncio, each file descriptor has at most
  one reader and one writer, zero-argument callables set with `add_reader` /
  `add_writer`; the loop keeps the selector's interest (EVENT_READ,
  EVENT_WRITE) in step with them;
* timers: `call_later()` pushes onto a heap, and the nearest deadline becomes
  the selector's timeout, as in ae.c's `aeProcessEvents`;
* signals: `signal.set_wakeup_fd()` makes the C-level signal handler write the
  signal number into a socket the selector watches, so SIGINT or SIGTERM wakes
  the loop at once instead of waiting for the next timeout.

One turn of the loop (`run_once`) is: compute the timeout, wait, call the
ready callbacks (the reader, then the writer if it is still there, as ae.c
does), run the timers that are due, run the `call_soon` queue.

The hot path is the loop over ready descriptors.  A descriptor that is
readable and nothing else is by far the most common event, so it costs one
comparison, one dict lookup and the call; anything else (writable, both,
an error or a hang-up) goes through `_dispatch_other`.  With epoll the loop
reads the kernel's own (fd, events) list (evloop.fastepoll), and EPOLLIN is
1, the same number as EVENT_READ, so that comparison serves every selector.

The loop knows nothing about connections or handlers: it calls callables.
Users call `add_reader` / `remove_reader`, `add_writer` / `remove_writer`,
`call_soon`, `call_later`, `call_soon_threadsafe`, `add_signal_handler`,
`run` and `stop`.
"""

import collections
import heapq
import logging
import signal
import socket
import time

from evloop.selecting import EVENT_READ
from evloop.selecting import EVENT_WRITE
from evloop.selecting import FD_SETSIZE
from evloop.selecting import FdLimitError
from evloop.selecting import make_selector
from evloop.selecting import same_mask
from evloop.selecting import selector_name

log = logging.getLogger("evloop")


class Timer:
    """A callback due at `when` (time.monotonic()); `cancel()` to drop it."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when, callback, args):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def __lt__(self, other):
        return self.when < other.when

    def cancel(self):
        self.cancelled = True


class Loop:
    """A single-threaded event loop over one `selectors` selector."""

    def __init__(self, selector="auto"):
        self.selector = make_selector(selector)
        self.selector_name = selector_name(self.selector)
        # Only select() has a hard ceiling on descriptor numbers.
        self.fd_limit = FD_SETSIZE if self.selector_name == "select" else None
        self.now = time.monotonic()
        self.tracer = None
        self._timers = []
        self._ready = collections.deque()
        self._running = False
        self._waker = None
        self._signal_callbacks = {}
        self._old_signal_handlers = {}
        self._old_wakeup_fd = None
        self._readers = {}  # fd -> callback()
        self._writers = {}
        # epoll's lean selector answers with the kernel's (fd, events) list; the
        # others answer (key, mask) pairs, which _select() turns into (fd, mask).
        self._wait = getattr(self.selector, "poll", self._select)
        self.event_mask = getattr(self.selector, "event_mask", same_mask)
        # Made now, not on first use: poll() and select() do not notice a
        # descriptor registered by another thread while they are blocked.
        self._open_waker()

    # -- file objects ---------------------------------------------------------

    def add_reader(self, fileobj, callback):
        """Call `callback()` whenever `fileobj` is readable (or has hung up)."""
        self._set(self._readers, fileobj, callback)

    def remove_reader(self, fileobj):
        self._set(self._readers, fileobj, None)

    def add_writer(self, fileobj, callback):
        """Call `callback()` whenever `fileobj` is writable (or has failed)."""
        self._set(self._writers, fileobj, callback)

    def remove_writer(self, fileobj):
        self._set(self._writers, fileobj, None)

    def _set(self, callbacks, fileobj, callback):
        """Install or drop one callback, then tell the selector what is watched."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        before = callbacks.get(fd)
        if callback is not None:
            self._check_fd_limit(fd)
            callbacks[fd] = callback
        else:
            callbacks.pop(fd, None)
        events = self.watching(fd)
        key = self.selector.get_map().get(fd)
        try:
            if key is None:
                if events:
                    self.selector.register(fileobj, events)
            elif not events:
                self.selector.unregister(fd)
            elif events != key.events:
                self.selector.modify(fd, events)
        except BaseException:  # e.g. ENOSPC from epoll_ctl: leave things as they were
            if before is None:
                callbacks.pop(fd, None)
            else:
                callbacks[fd] = before
            raise

    def watching(self, fileobj):
        """The events watched for `fileobj`: EVENT_READ, EVENT_WRITE, both or 0."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return (EVENT_READ if fd in self._readers else 0) | (EVENT_WRITE if fd in self._writers else 0)

    def _check_fd_limit(self, fd):
        if self.fd_limit is not None and fd >= self.fd_limit:
            raise FdLimitError(
                f"select() can only watch file descriptors below FD_SETSIZE={self.fd_limit}, "
                f"and this one is {fd}; use --selector poll or epoll for more connections")

    # -- callbacks and timers -----------------------------------------------

    def call_soon(self, callback, *args):
        """Run `callback(*args)` after the current turn's events."""
        timer = Timer(0.0, callback, args)
        self._ready.append(timer)
        return timer

    def call_later(self, delay, callback, *args):
        """Run `callback(*args)` in `delay` seconds; returns a cancellable Timer."""
        timer = Timer(time.monotonic() + delay, callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_soon_threadsafe(self, callback, *args):
        """From another thread: run `callback(*args)` in the loop's thread."""
        timer = self.call_soon(callback, *args)  # deque.append is atomic
        self._wake()
        return timer

    def _wake(self):
        waker = self._waker
        if waker is None:
            return  # the loop is closed: nothing will run the callback anyway
        try:
            waker[1].send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the socket is full of wake-ups already: the loop will wake
        except OSError:
            pass  # closed by close() in the loop's thread meanwhile

    # -- signals ------------------------------------------------------------

    def add_signal_handler(self, signum, callback):
        """Run `callback(signum)` in the loop when signal `signum` arrives.

        Must be called from the main thread.  The C-level handler writes the
        signal number into the waker socket (`signal.set_wakeup_fd`), so a
        blocked select() returns at once; the Python-level handler does
        nothing, because the loop dispatches from the number it reads.
        """
        if self._old_wakeup_fd is None:
            fd = self._waker[1].fileno()
            self._old_wakeup_fd = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        self._signal_callbacks[signum] = callback
        old = signal.signal(signum, _ignore_signal)
        self._old_signal_handlers.setdefault(signum, old)

    def _open_waker(self):
        if self._waker is not None:
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._waker = (reader, writer)
        self.add_reader(reader, self._on_waker_readable)

    def _on_waker_readable(self):
        try:
            data = self._waker[0].recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            callback = self._signal_callbacks.get(signum)
            if callback is not None:  # 0 is a call_soon_threadsafe wake-up
                self.call_soon(callback, signum)

    # -- running ------------------------------------------------------------

    def run(self):
        """Run until `stop()` is called."""
        self._running = True
        while self._running:
            self.run_once()

    def stop(self):
        """Make `run()` return after the current turn."""
        self._running = False

    def run_once(self):
        timeout = self._next_timeout()
        ready = self._wait(timeout)
        self.now = time.monotonic()
        if self.tracer is not None:
            self.tracer.on_wakeup(self, ready, timeout)
        readers = self._readers
        for fd, event in ready:
            if event == EVENT_READ:  # readable, nothing else: most events by far
                # Subscript in a try costs ~170 instructions less per event than
                # readers.get(fd) and a test for None (callgrind).
                try:
                    reader = readers[fd]
                except KeyError:  # removed by an earlier callback this turn
                    continue
                reader()
            else:
                self._dispatch_other(fd, event)
        timers = self._timers
        if timers and timers[0].when <= self.now:
            self._run_due_timers()
        if self._ready:
            self._run_ready()

    def _dispatch_other(self, fd, event):
        """Writable, both, or an error/hang-up (which wakes whichever is watching)."""
        mask = self.event_mask(event)
        if mask & EVENT_READ:
            reader = self._readers.get(fd)
            if reader is not None:
                reader()
        if mask & EVENT_WRITE:
            writer = self._writers.get(fd)  # looked up after the reader, which may have removed it
            if writer is not None:
                writer()

    def _select(self, timeout):
        """The stock selectors' answer as (fd, mask) pairs, like fastepoll's poll()."""
        return [(key.fd, mask) for key, mask in self.selector.select(timeout)]

    def _next_timeout(self):
        if self._ready or not self._running:
            return 0
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        timeout = timers[0].when - time.monotonic()
        return timeout if timeout > 0 else 0

    def _run_due_timers(self):
        timers = self._timers
        now = self.now
        while timers and timers[0].when <= now:
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                self._ready.append(timer)

    def _run_ready(self):
        # Only what was queued before this pass runs now; callbacks that
        # queue more wait for the next turn, so the selector is never starved.
        ready = self._ready
        for _ in range(len(ready)):
            timer = ready.popleft()
            if not timer.cancelled:
                timer.callback(*timer.args)

    def close(self, ignore=()):
        """Restore signal handlers, except that the signals in `ignore` are
        ignored from now on, and release the selector."""
        for signum, old in self._old_signal_handlers.items():
            signal.signal(signum, signal.SIG_IGN if signum in ignore else old)
        self._old_signal_handlers.clear()
        if self._old_wakeup_fd is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self._old_wakeup_fd = None
        if self._waker is not None:
            self.remove_reader(self._waker[0])
            for sock in self._waker:
                sock.close()
            self._waker = None
        self.selector.close()


def _ignore_signal(signum, frame):
    """Python-level handler: the wake-up fd already carries the signal."""
