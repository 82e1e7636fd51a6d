"""Exercise 01-fifty-clients: fifty clients, three models (a measurement).

Chapter 1 (docs/01-from-the-labs.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write `time_clients(port, clients=50, messages=5, think=0.010)`.
It starts `clients` clients at once (a thread each), each sending
`messages` length-prefixed messages (the labs' framing: three digits of
length, then the payload, as `frame` below makes them) and reading each
reply, with `think` seconds of "thinking" after each reply, as a person at a
keyboard would.  It returns the seconds until the last client is done, and
raises an exception if any reply was wrong.

The grader runs it against `bench.iterative`, `bench.threads` and
`evloop.serve` (all with `--handler lenprefix`) and judges the shape of the
three times.  Done when: every reply was right, the iterative server took
about the sum of every client's thinking (50 x 5 x 10 ms = 2.5 s), and the
thread-per-client server and evloop each took under a quarter of that.
Report the three times: they are this machine's.

Try it:  python3 -m evloop.serve --handler lenprefix   and, in another terminal,
         python3 docs/exercises/01-fifty-clients/starter.py 12000
Grade it:  python3 -m docs.grade 01-fifty-clients docs/exercises/01-fifty-clients/starter.py
"""

import socket
import sys
import time


def frame(payload):
    return str(len(payload)).zfill(3).encode() + payload  # the labs' length prefix


def one_client(port, n, messages, think):
    """One client's conversation: `messages` messages, each answered, `think` s apart."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        for k in range(messages):
            message = frame(f"client {n} message {k}".encode())
            sock.sendall(message)
            # Your code here: read the whole reply (recv() may return part of it),
            # check it, then think.


def time_clients(port, clients=50, messages=5, think=0.010):
    """Start every client at once; the seconds until the last is done."""
    started = time.perf_counter()
    # Your code here: the clients must run at the same time, not one after another.
    raise NotImplementedError("time_clients")
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"{time_clients(int(sys.argv[1])):.3f} s")
