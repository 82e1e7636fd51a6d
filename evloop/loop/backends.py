"""The kernel's readiness call behind one small interface: epoll, poll, select.

Every Unix answers "which of these descriptors are ready?", each with its
own system call and its own limits:

* select() takes three bitmaps of FD_SETSIZE (1024) bits, so it cannot watch
  descriptor 1024 or above at all, and it scans every bit on every call;
* poll() takes an array of the watched descriptors: no ceiling, but the
  whole array crosses into the kernel on every call;
* epoll (Linux) and kqueue (BSD, macOS) keep the watched set in the kernel
  and return only the ready descriptors, so a call costs what is ready, not
  what is watched.

As in Redis's ae.c (ae_epoll.c, ae_select.c, ...), each call is one small
`Backend`: register, modify and unregister a descriptor, `poll()`, close.
The loop holds one backend and never asks which kind it is.

The answer's shape
------------------
`poll(timeout)` returns a list of (fd, bits) pairs in poll(2)'s terms:
POLLIN (1) readable, POLLOUT (4) writable, any other bit an error or a
hang-up.  epoll and poll() use those very numbers, so their backends hand
the kernel's list over untouched: no key objects, no conversion, no new
tuple per event, which is where `selectors.EpollSelector.select()` spends
its time per event (`python3 -m bench.micro_selectors` times both ways).
The loop's common case, "readable and nothing else", is then one comparison
with READABLE.  select() and the `selectors` classes (kqueue, /dev/poll)
are translated into the same bits.  `event_mask()` turns bits into the
loop's EVENT_READ / EVENT_WRITE, with an error or hang-up waking both, as
`selectors` does.

docs/03-select-poll-epoll.md measures the differences.
"""

from __future__ import annotations

import abc
import math
import select
import selectors
from typing import Protocol

EVENT_READ = selectors.EVENT_READ  # 1: what the loop asks a backend to watch
EVENT_WRITE = selectors.EVENT_WRITE  # 2
READABLE = 1  # POLLIN and EPOLLIN: a ready event that is this and nothing else is a read
WRITABLE = 4  # POLLOUT and EPOLLOUT

# glibc's fd_set is a fixed 1024-bit array: select() cannot watch a file
# descriptor numbered FD_SETSIZE or above, whatever RLIMIT_NOFILE says.
FD_SETSIZE = 1024

# Events per epoll_wait() at most: a cap, as nginx's `epoll_events` is (512
# there by default, and in bench/c/echo_epoll.c), so that the timers run between
# batches.  With more ready than that, a turn handles MAX_EVENTS of them, runs
# the timers, then waits again and gets the next: level-triggered epoll keeps
# the ones not yet returned at the head of its ready list, so none is skipped.
MAX_EVENTS = 1024


class FileLike(Protocol):
    def fileno(self) -> int: ...


def fileno_of(fileobj: int | FileLike) -> int:
    """The descriptor of `fileobj`: an int, or anything with a fileno()."""
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class FdLimitError(ValueError):
    """A file descriptor is beyond what the chosen backend can watch."""


def event_mask(bits: int) -> int:
    """poll(2) bits as EVENT_READ / EVENT_WRITE; an error or hang-up is both."""
    return (EVENT_WRITE if bits & ~READABLE else 0) | (EVENT_READ if bits & ~WRITABLE else 0)


def _poll_bits(events: int) -> int:
    return (READABLE if events & EVENT_READ else 0) | (WRITABLE if events & EVENT_WRITE else 0)


class Backend(abc.ABC):
    """One readiness system call.  `events` are EVENT_READ | EVENT_WRITE."""

    #: The short name `--selector` uses.
    name = "?"
    #: The first descriptor number this backend cannot watch, or None.
    fd_limit: int | None = None

    def check_fd(self, fd: int) -> None:
        """FdLimitError if this backend cannot watch `fd` at all."""
        if self.fd_limit is not None and fd >= self.fd_limit:
            raise FdLimitError(
                f"{self.name}() can only watch file descriptors below FD_SETSIZE={self.fd_limit}, "
                f"and this one is {fd}; use --selector poll or epoll for more connections")

    @abc.abstractmethod
    def register(self, fd: int, events: int) -> None:
        """Start watching `fd` (not watched yet) for `events`."""

    @abc.abstractmethod
    def modify(self, fd: int, events: int) -> None:
        """Watch `fd` for other events (not 0)."""

    @abc.abstractmethod
    def unregister(self, fd: int) -> None:
        """Stop watching `fd`; a descriptor closed meanwhile is no error."""

    @abc.abstractmethod
    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait up to `timeout` seconds (None: for ever); the ready (fd, bits)."""

    def close(self) -> None:
        """Release the kernel object, if there is one."""


class EpollBackend(Backend):
    """epoll(7): the watched set lives in the kernel."""

    name = "epoll"

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._watched = 0
        # select.epoll allocates room for `max_events` events on every call:
        # as many as are watched (one turn sees every ready descriptor), up to
        # MAX_EVENTS.  Kept up to date here rather than worked out per poll.
        self._max_events = 1

    def register(self, fd: int, events: int) -> None:
        # Runs once per connection (churn): EVENT_READ alone, the usual case, without
        # _poll_bits's call, and the bounds without min()'s.
        self._epoll.register(fd, READABLE if events == EVENT_READ else _poll_bits(events))
        self._watched += 1
        if self._watched <= MAX_EVENTS:
            self._max_events = self._watched

    def modify(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, _poll_bits(events))

    def unregister(self, fd: int) -> None:
        self._watched -= 1
        if self._watched < MAX_EVENTS:
            self._max_events = self._watched or 1
        try:
            self._epoll.unregister(fd)
        except OSError:  # closed already: the kernel dropped it with the last reference
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        # select.epoll rounds a timeout up to whole milliseconds itself
        # (bpo-20311), so a timer is never woken early, and retries a wait
        # that a signal interrupted (PEP 475).
        return self._epoll.poll(timeout, self._max_events)

    def close(self) -> None:
        self._epoll.close()


class PollBackend(Backend):
    """poll(2): no descriptor ceiling; the whole set crosses into the kernel per call."""

    name = "poll"

    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, fd: int, events: int) -> None:
        self._poll.register(fd, _poll_bits(events))

    def modify(self, fd: int, events: int) -> None:
        self._poll.modify(fd, _poll_bits(events))

    def unregister(self, fd: int) -> None:
        try:
            self._poll.unregister(fd)
        except KeyError:
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        # Milliseconds, rounded up as selectors.PollSelector does: rounding
        # down would wake a timer early and make the loop spin until it is due.
        return self._poll.poll(None if timeout is None else math.ceil(timeout * 1000))


class SelectBackend(Backend):
    """select(2): portable, and blind at FD_SETSIZE (1024) and above."""

    name = "select"
    fd_limit = FD_SETSIZE

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def register(self, fd: int, events: int) -> None:
        self.modify(fd, events)

    def modify(self, fd: int, events: int) -> None:
        for watched, event in ((self._readers, EVENT_READ), (self._writers, EVENT_WRITE)):
            if events & event:
                watched.add(fd)
            else:
                watched.discard(fd)

    def unregister(self, fd: int) -> None:
        self._readers.discard(fd)
        self._writers.discard(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        readable, writable, _ = select.select(self._readers, self._writers, [], timeout)
        ready = dict.fromkeys(readable, READABLE)
        for fd in writable:
            ready[fd] = ready.get(fd, 0) | WRITABLE
        return list(ready.items())


class SelectorsBackend(Backend):
    """Any `selectors` class (kqueue, /dev/poll), its answer translated to bits."""

    def __init__(self, selector_class: type[selectors.BaseSelector]) -> None:
        self._selector = selector_class()
        self.name = selector_name(selector_class)

    def register(self, fd: int, events: int) -> None:
        self._selector.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        self._selector.modify(fd, events)

    def unregister(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except KeyError:
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        return [(key.fd, _poll_bits(mask)) for key, mask in self._selector.select(timeout)]

    def close(self) -> None:
        self._selector.close()


# Best first.  epoll, poll and select are evloop's own; kqueue and /dev/poll
# go through `selectors`, which already wraps them well.
BACKENDS = {"epoll": "epoll", "kqueue": "kqueue", "devpoll": "devpoll", "poll": "poll",
            "select": "select"}
SELECTOR_CLASSES = {"kqueue": "KqueueSelector", "devpoll": "DevpollSelector"}


def available_backends() -> list[str]:
    """The names this platform offers, best first, after "auto"."""
    return ["auto"] + [name for name in BACKENDS if hasattr(select, name)]


def make_backend(name: str = "auto") -> Backend:
    """Build a backend by name; "auto" is the best the platform has."""
    available = available_backends()
    if name == "auto":
        name = available[1]
    if name not in available:
        raise ValueError(f"selector {name!r} is not available here; choose from: "
                         f"{', '.join(available)}")
    if name == "epoll":
        return EpollBackend()
    if name == "poll":
        return PollBackend()
    if name == "select":
        return SelectBackend()
    selector_class: type[selectors.BaseSelector] = getattr(selectors, SELECTOR_CLASSES[name])
    return SelectorsBackend(selector_class)


def selector_name(selector_class: type[selectors.BaseSelector]) -> str:
    """"kqueue" for selectors.KqueueSelector, and so on."""
    return selector_class.__name__.removesuffix("Selector").lower()
