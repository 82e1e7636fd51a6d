"""Microbenchmark: nanoseconds per ready event, stock EpollSelector vs evloop's lean one.

    python -m bench.micro_selectors

100 socket pairs, each readable, selected 20,000 times per class, the
classes alternated twice.  Kernel time (epoll_wait) is included, so the
difference is the Python work fastepoll saves per event.
"""

import selectors
import socket
import time

from evloop.fastepoll import LeanEpollSelector


def per_event_ns(cls, pairs, turns=20000):
    selector = cls()
    for a, _ in pairs:
        selector.register(a, selectors.EVENT_READ, None)
    start = time.perf_counter()
    for _ in range(turns):
        selector.select(0)
    elapsed = time.perf_counter() - start
    selector.close()
    return elapsed / turns / len(pairs) * 1e9


def main():
    pairs = [socket.socketpair() for _ in range(100)]
    for _, b in pairs:
        b.send(b"x")
    for cls in (selectors.EpollSelector, LeanEpollSelector) * 2:
        print(f"{cls.__name__:20} {per_event_ns(cls, pairs):6.0f} ns per ready event")
    for a, b in pairs:
        a.close()
        b.close()


if __name__ == "__main__":
    main()
