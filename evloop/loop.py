"""The event loop: one selector, a heap of timers, and signals.

An event loop answers one question over and over: *which of my sockets can
make progress right now?*  The kernel answers it (select, poll, epoll,
kqueue), Python's `selectors` module hides the differences between those
system calls, and this module adds the three things a server needs around it:

* callbacks: each registered file object carries one callback in
  `SelectorKey.data`; the loop calls it with the ready mask;
* timers: `call_later()` pushes onto a heap, and the nearest deadline becomes
  the selector's timeout, as in Redis's ae.c (`aeProcessEvents`);
* signals: `signal.set_wakeup_fd()` makes the C-level signal handler write the
  signal number into a socket the selector watches, so SIGINT or SIGTERM wakes
  the loop at once instead of waiting for the next timeout.

One turn of the loop (`run_once`) is: compute the timeout, select, call the
ready callbacks, run the timers that are due, run the `call_soon` queue.

The loop knows nothing about connections or handlers: it calls callables.
Users call `register` / `modify` / `unregister`, `call_soon`, `call_later`,
`call_soon_threadsafe`, `add_signal_handler`, `run` and `stop`.
"""

import collections
import heapq
import logging
import selectors
import signal
import socket
import time

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE

# glibc's fd_set is a fixed 1024-bit array: select() cannot watch a file
# descriptor numbered FD_SETSIZE or above, whatever RLIMIT_NOFILE says.
FD_SETSIZE = 1024

SELECTOR_CLASSES = {
    "epoll": "EpollSelector",
    "kqueue": "KqueueSelector",
    "devpoll": "DevpollSelector",
    "poll": "PollSelector",
    "select": "SelectSelector",
}

log = logging.getLogger("evloop")


class FdLimitError(ValueError):
    """A file descriptor is beyond what the chosen selector can watch."""


def available_selectors():
    """The selector names this platform offers, best first, after "auto"."""
    names = [name for name, cls in SELECTOR_CLASSES.items() if hasattr(selectors, cls)]
    return ["auto"] + names


def make_selector(name="auto"):
    """Build a selector by its short name ("auto" is selectors.DefaultSelector).

    epoll comes as evloop.fastepoll's LeanEpollSelector: the stock class with
    a faster select() (see that module for the figures).
    """
    if name == "auto":
        name = selector_name(selectors.DefaultSelector)
    if name == "epoll" and hasattr(selectors, "EpollSelector"):
        import evloop.fastepoll
        return evloop.fastepoll.make()
    cls = getattr(selectors, SELECTOR_CLASSES.get(name, ""), None)
    if cls is None:
        choices = ", ".join(available_selectors())
        raise ValueError(f"selector {name!r} is not available here; choose from: {choices}")
    return cls()


def selector_name(selector):
    """The short name of a selector object or class: "epoll", "select", ..."""
    cls = selector if isinstance(selector, type) else type(selector)
    for base in cls.__mro__:
        for name, cls_name in SELECTOR_CLASSES.items():
            if base.__name__ == cls_name:
                return name
    return cls.__name__


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
        # epoll's lean selector can call the callbacks itself (see run_once).
        self._dispatch = getattr(self.selector, "dispatch", None)
        # Made now, not on first use: poll() and select() do not notice a
        # descriptor registered by another thread while they are blocked.
        self._open_waker()

    # -- file objects -------------------------------------------------------

    def register(self, fileobj, events, callback):
        """Watch `fileobj` for `events`; call `callback(mask)` when ready."""
        self._check_fd_limit(fileobj)
        return self.selector.register(fileobj, events, callback)

    def modify(self, fileobj, events, callback):
        return self.selector.modify(fileobj, events, callback)

    def unregister(self, fileobj):
        return self.selector.unregister(fileobj)

    def _check_fd_limit(self, fileobj):
        if self.fd_limit is None:
            return
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd >= self.fd_limit:
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
        self.register(reader, EVENT_READ, self._on_waker_readable)

    def _on_waker_readable(self, mask):
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
        if self._dispatch is not None and self.tracer is None:
            # Fast path (evloop.fastepoll): the callbacks are called straight
            # from the kernel's (fd, events) list, with no (key, mask) list.
            ready = self.selector.poll(timeout)
            self.now = time.monotonic()
            self._dispatch(ready)
        else:
            events = self.selector.select(timeout)
            self.now = time.monotonic()
            if self.tracer is not None:
                self.tracer.on_wakeup(self, events, timeout)
            for key, mask in events:
                key.data(mask)
        if self._timers:
            self._run_due_timers()
        if self._ready:
            self._run_ready()

    def _next_timeout(self):
        if self._ready or not self._running:
            return 0
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        return max(0.0, timers[0].when - time.monotonic())

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

    def close(self):
        """Restore signal handlers and release the selector."""
        for signum, old in self._old_signal_handlers.items():
            signal.signal(signum, old)
        self._old_signal_handlers.clear()
        if self._old_wakeup_fd is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self._old_wakeup_fd = None
        if self._waker is not None:
            self.unregister(self._waker[0])
            for sock in self._waker:
                sock.close()
            self._waker = None
        self.selector.close()


def _ignore_signal(signum, frame):
    """Python-level handler: the wake-up fd already carries the signal."""
