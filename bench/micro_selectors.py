"""Microbenchmark: nanoseconds per ready event, from the wait to the callback.

    python -m bench.micro_selectors

100 socket pairs, each readable, waited on 5,000 times per way (500,000 events), the ways
alternated three times.  Each way ends in the loop's work: calling every
ready descriptor's callback (a no-op here).

* stock: selectors.EpollSelector.select(), then a loop over (key, mask)
  calling `key.data(mask)`, the textbook way
* lean:  select.epoll's own poll(), the kernel's (fd, events) list as it
  comes, which is all evloop's epoll backend does (evloop/loop/backends.py),
  then evloop's own dispatch: a comparison with READABLE and a dict
  subscript per event (Loop.run_once)

Kernel time (epoll_wait) is included, so the difference is the Python work
evloop's epoll path saves per event.
"""

import select
import selectors
import socket
import time



def nothing(*mask):
    pass


def by_select(selector, readers, turns):
    for _ in range(turns):
        for key, mask in selector.select(0):
            key.data(mask)


def by_poll(selector, readers, turns):
    """The same steps as Loop.run_once's hot path."""
    read = selectors.EVENT_READ
    for _ in range(turns):
        for fd, event in selector.poll(0):
            if event == read:
                try:
                    reader = readers[fd]
                except KeyError:
                    continue
                reader()


class LeanEpoll:
    """The kernel's list as it comes, as evloop.loop.backends.EpollBackend returns it."""

    def __init__(self):
        self.epoll = select.epoll()

    def register(self, sock, events, data):
        self.epoll.register(sock.fileno(), select.EPOLLIN)

    def poll(self, timeout):
        return self.epoll.poll(timeout, 1024)

    def close(self):
        self.epoll.close()


WAYS = {"stock": (selectors.EpollSelector, by_select),
        "lean": (LeanEpoll, by_poll)}


def per_event_ns(way, pairs, turns=5000):
    cls, run = WAYS[way]
    selector = cls()
    readers = {}
    for a, _ in pairs:
        selector.register(a, selectors.EVENT_READ, nothing)
        readers[a.fileno()] = nothing
    start = time.perf_counter()
    run(selector, readers, turns)
    elapsed = time.perf_counter() - start
    selector.close()
    return elapsed / turns / len(pairs) * 1e9


def main():
    pairs = [socket.socketpair() for _ in range(100)]
    for _, b in pairs:
        b.send(b"x")
    for way in list(WAYS) * 3:
        print(f"{way:10} {per_event_ns(way, pairs):6.0f} ns per ready event")
    for a, b in pairs:
        a.close()
        b.close()


if __name__ == "__main__":
    main()
