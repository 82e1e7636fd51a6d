"""Chapter 4, exercise 1 (a measurement): the descriptor count where select() loses to epoll.

The exercise: watch N sockets of which exactly one is readable, ask "which
are ready?" many times with select(), poll() and epoll, and find the N from
which select() costs more per call than epoll.  The three system calls are
used bare (the `select` module), so what is timed is the kernel's work plus
the least Python can add: select() and poll() hand the kernel every watched
descriptor on every call, epoll only its ready list.

Done when: the table of microseconds per call for each N is printed, and the
smallest N where select() took longer than epoll is named (then 2x and 10x
longer), or "none" if it never did.  The
figures are this machine's and move from run to run; the check is only that
each was measured and is a positive time, and that each call found the one
ready socket.  N stays below 500 (two descriptors a socket pair, and select()
cannot watch a descriptor numbered 1024 or more).

A run here printed:

        N   select us   poll us  epoll us
        1        0.56      0.34      0.42
        8        0.93      0.62      0.43
       32        2.13      1.67      0.43
      128        7.51      6.43      0.42
      256       14.85     12.57      0.44
      480       27.54     23.12      0.43
    select() cost more than 1x epoll from N = 1
    select() cost more than 2x epoll from N = 8
    select() cost more than 10x epoll from N = 128

Run it: python3 docs/answers/04-select-vs-epoll.py
"""

import select
import socket
import statistics
import sys
import time

import _kit

COUNTS = (1, 8, 32, 128, 256, 480)
CALLS = 2000  # per round; 3 rounds, the median kept
ROUNDS = 3


def per_call_us(ask, calls=CALLS):
    """Median over ROUNDS of the microseconds one call of `ask()` takes."""
    results = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            ask()
        results.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(results)


def measure(n):
    """select, poll and epoll over n watched sockets, one of them readable."""
    pairs = [socket.socketpair() for _ in range(n)]
    try:
        watched = [a.fileno() for a, _ in pairs]
        pairs[n // 2][1].send(b"x")  # exactly one ready, in the middle
        poller = select.poll()
        epoller = select.epoll()
        for fd in watched:
            poller.register(fd, select.POLLIN)
            epoller.register(fd, select.EPOLLIN)
        answers = (len(select.select(watched, [], [], 0)[0]), len(poller.poll(0)),
                   len(epoller.poll(0)))
        if answers != (1, 1, 1):
            _kit.fail(f"N={n}: the calls found {answers} ready sockets, not one each")
        times = (per_call_us(lambda: select.select(watched, [], [], 0)),
                 per_call_us(lambda: poller.poll(0)),
                 per_call_us(lambda: epoller.poll(0)))
        epoller.close()
        return times
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def main():
    if not hasattr(select, "epoll"):
        _kit.skip("this system has no epoll (it is Linux's); compare select with poll instead")
    print(f"{'N':>9} {'select us':>11} {'poll us':>9} {'epoll us':>9}")
    table = {}
    for n in COUNTS:
        table[n] = measure(n)
        print(f"{n:>9} {table[n][0]:>11.2f} {table[n][1]:>9.2f} {table[n][2]:>9.2f}")
    _kit.check(all(t > 0 for row in table.values() for t in row), f"a time was not positive: {table}")
    for factor in (1, 2, 10):  # where select() first loses, then by how much
        lost = [n for n, (sel, _, epo) in table.items() if sel > factor * epo]
        where = f"from N = {lost[0]}" if lost else "at none of the counts measured"
        print(f"select() cost more than {factor}x epoll {where}")
    _kit.ok(f"measured {len(COUNTS)} descriptor counts x 3 calls, {CALLS} calls x {ROUNDS} rounds each")


if __name__ == "__main__":
    sys.exit(main())
