"""Exercise 03-select-vs-epoll: where select() loses (a measurement).

Chapter 3 (docs/03-select-poll-epoll.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write `measure(n)`.  It makes n socket pairs, makes exactly one
of them readable (send a byte into it), watches one end of each pair with
`select.select`, a `select.poll` object and a `select.epoll` object, checks
that each call finds the one ready socket, and returns the microseconds
one call of each takes (timeout 0), as a tuple (select, poll, epoll).  Take
the median of a few rounds of a couple of thousand calls.  Close everything.

Done when: `python3 docs/exercises/03-select-vs-epoll/starter.py` prints
the table for N from 1 to 480, and the grader finds the shape the chapter
explains: at 480 sockets select() and poll() each cost several times what
epoll costs, and select() several times what it cost over one socket.
Report the smallest N where select() costs more than epoll, then 2x, then
10x; the figures are this machine's.

Grade it:  python3 -m docs.grade 03-select-vs-epoll docs/exercises/03-select-vs-epoll/starter.py
"""

import select
import socket
import statistics
import time


def per_call_us(ask, calls=2000, rounds=3):
    """Median over `rounds` of the microseconds one call of `ask()` takes."""
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            ask()
        results.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(results)


def measure(n):
    """(select, poll, epoll) microseconds per call over n watched sockets, one readable."""
    pairs = [socket.socketpair() for _ in range(n)]
    try:
        watched = [a.fileno() for a, _ in pairs]
        pairs[n // 2][1].send(b"x")  # exactly one ready, in the middle
        if len(select.select(watched, [], [], 0)[0]) != 1:
            raise AssertionError(f"N={n}: select() did not find the one ready socket")
        select_us = per_call_us(lambda: select.select(watched, [], [], 0))
        # Your code here: a poll and an epoll object watching `watched`, a check that
        # each finds the one ready socket, then time a call of each.
        raise NotImplementedError(f"measure: select() took {select_us:.2f} us; now poll and epoll")
    finally:
        for a, b in pairs:
            a.close()
            b.close()


if __name__ == "__main__":
    print(f"{'N':>9} {'select us':>11} {'poll us':>9} {'epoll us':>9}")
    for n in (1, 8, 32, 128, 256, 480):
        print(f"{n:>9}" + "".join(f"{t:>10.2f}" for t in measure(n)))
