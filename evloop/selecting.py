"""Choosing the kernel's readiness call: select, poll, epoll, kqueue.

Every Unix answers "which of these descriptors are ready?", each with its
own system call and its own limits:

* select() takes three bitmaps of FD_SETSIZE (1024) bits, so it cannot watch
  descriptor 1024 or above at all, and it scans every bit on every call;
* poll() takes an array of the watched descriptors: no ceiling, but the
  whole array crosses into the kernel on every call;
* epoll (Linux) and kqueue (BSD, macOS) keep the watched set in the kernel
  and return only the ready descriptors, so a call costs what is ready, not
  what is watched.

Python's `selectors` module wraps each behind one interface;
`selectors.DefaultSelector` is the best one the platform has.  This module
names them ("epoll", "poll", "select", ...) for `--selector`, builds one by
name (epoll as evloop.fastepoll's LeanEpollSelector), and says what the
loop needs to know about each: the descriptor ceiling, and how to read
ready masks.  docs/03-select-poll-epoll.md measures the differences.
"""

import selectors

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


class FdLimitError(ValueError):
    """A file descriptor is beyond what the chosen selector can watch."""


def available_selectors():
    """The selector names this platform offers, best first, after "auto"."""
    names = [name for name, cls in SELECTOR_CLASSES.items() if hasattr(selectors, cls)]
    return ["auto"] + names


def make_selector(name="auto"):
    """Build a selector by its short name ("auto" is selectors.DefaultSelector).

    epoll comes as evloop.fastepoll's LeanEpollSelector: the stock class with
    a `poll()` that returns the kernel's list as it is (see that module).
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


def same_mask(mask):
    """The stock selectors already answer in EVENT_READ / EVENT_WRITE terms."""
    return mask
