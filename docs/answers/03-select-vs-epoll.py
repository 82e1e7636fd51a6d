"""Answer to 03-select-vs-epoll (a measurement): the cost of one call, by descriptor count.

The three system calls are used bare (the `select` module), so what is
timed is the kernel's work plus the least Python can add: select() and
poll() hand the kernel every watched descriptor on every call, epoll only
its ready list.  N stays below 500: two descriptors a socket pair, and
select() cannot watch a descriptor numbered 1024 or more.  A run printed:

        N   select us   poll us  epoll us
        1        0.56      0.34      0.42
        8        0.93      0.62      0.43
       32        2.13      1.67      0.43
      128        7.51      6.43      0.42
      256       14.85     12.57      0.44
      480       27.54     23.12      0.43

Run it: python3 docs/answers/03-select-vs-epoll.py
"""

import select
import socket
import statistics
import time

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
    """(select, poll, epoll) microseconds per call over n watched sockets, one readable."""
    pairs = [socket.socketpair() for _ in range(n)]
    try:
        watched = [a.fileno() for a, _ in pairs]
        pairs[n // 2][1].send(b"x")  # exactly one ready, in the middle
        poller = select.poll()
        epoller = select.epoll()
        for fd in watched:
            poller.register(fd, select.POLLIN)
            epoller.register(fd, select.EPOLLIN)
        found = (len(select.select(watched, [], [], 0)[0]), len(poller.poll(0)), len(epoller.poll(0)))
        if found != (1, 1, 1):
            raise AssertionError(f"N={n}: the calls found {found} ready sockets, not one each")
        times = (per_call_us(lambda: select.select(watched, [], [], 0)),
                 per_call_us(lambda: poller.poll(0)),
                 per_call_us(lambda: epoller.poll(0)))
        epoller.close()
        return times
    finally:
        for a, b in pairs:
            a.close()
            b.close()


if __name__ == "__main__":
    print(f"{'N':>9} {'select us':>11} {'poll us':>9} {'epoll us':>9}")
    for n in (1, 8, 32, 128, 256, 480):
        print(f"{n:>9}" + "".join(f"{t:>10.2f}" for t in measure(n)))
