"""epoll without the conversion: the kernel's (fd, events) list, as it comes.

The stock `selectors.EpollSelector.select()` turns each (fd, events) pair the
kernel returns into a (key, mask) pair: a method call (`_key_from_fd`), a few
attribute lookups and a new tuple per event.  That is fine for most
programs; for an echo server it is a measurable slice of the Python work per
message, because every message is one readiness event.

`LeanEpollSelector` keeps everything else of the stock class (register,
modify, unregister, the key objects, the mapping) and adds `poll()`, which
returns epoll's list untouched.  The loop keeps its own fd -> callback dicts,
so it needs no key at all: for the common event, EPOLLIN alone, it compares
the bits with EVENT_READ (both are 1) and calls the reader.  Rarer bits go
through `event_mask()`, which maps them as the stock class does: EPOLLOUT to
EVENT_WRITE, and an error or hang-up to both, so that whichever callback
is watching hears of it.

Measured on this machine with 100 ready sockets, from the wait to a no-op
callback (`python -m bench.micro_selectors`, three pairings): 389-395 ns
per ready event for the stock select() and a loop over its (key, mask)
pairs, 213-218 ns for poll() and the loop's own dispatch.

It reads one attribute CPython's selectors module keeps private
(`_selector`, the epoll object); `make()` checks it is there and falls back
to the stock class, which the loop then drives through `select()` as it
drives poll and select, if a future Python renames it.
"""

import select
import selectors

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
EPOLLIN = getattr(select, "EPOLLIN", 1)
EPOLLOUT = getattr(select, "EPOLLOUT", 4)
# Events per epoll_wait() at most, as nginx's loop caps it (the C reference
# takes 512).  With 10,000 busy clients a turn handles 1,024 of them, runs the
# timers, then waits again and gets the next: level-triggered epoll keeps the
# ones not yet returned at the head of its ready list, so none is skipped.
MAX_EVENTS = 1024


class LeanEpollSelector(selectors.EpollSelector):
    max_events = 1  # the most events one poll() asks for: see register()

    def poll(self, timeout=None):
        """The kernel's answer as it comes: a list of (fd, epoll event bits).

        `timeout` in seconds, None to wait for ever.  select.epoll rounds a
        timeout up to whole milliseconds itself (bpo-20311), so a timer is
        never woken early, and retries a wait a signal interrupted (PEP 475).
        """
        return self._selector.poll(timeout, self.max_events)

    # select.epoll allocates room for `max_events` events on every call: as
    # many as are registered (one turn sees every ready descriptor), up to
    # MAX_EVENTS.  Kept up to date here rather than worked out on every poll.

    def register(self, fileobj, events, data=None):
        key = super().register(fileobj, events, data)
        self._count_events()
        return key

    def unregister(self, fileobj):
        key = super().unregister(fileobj)
        self._count_events()
        return key

    def _count_events(self):
        self.max_events = min(max(len(self.get_map()), 1), MAX_EVENTS)

    @staticmethod
    def event_mask(event):
        """epoll bits as a selectors mask: EPOLLIN is EVENT_READ, EPOLLOUT is
        EVENT_WRITE, and anything else (EPOLLERR, EPOLLHUP) is both."""
        return (event & ~EPOLLIN and EVENT_WRITE) | (event & ~EPOLLOUT and EVENT_READ)


def make():
    """A LeanEpollSelector, or the stock EpollSelector if CPython's internals moved."""
    selector = LeanEpollSelector()
    if isinstance(getattr(selector, "_selector", None), select.epoll):
        return selector
    try:
        selector.close()
    except AttributeError:  # the very internals we missed
        getattr(selector, "_selector", None) and selector._selector.close()
    return selectors.EpollSelector()
