"""Exercise appendix-side-by-side: one figure, reproduced small (a measurement).

Appendix B (docs/appendix-performance.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: reproduce the shape of one row of chapter 5's first table (echo,
100-byte messages, 10 connections, evloop against a thread per client) in
seconds, the way the appendix says figures are taken.  Write
`one_round(port)`: it runs `python3 -m bench.loadgen --port PORT` once
(10 connections, 100-byte messages, `--duration 0.8 --warmup 0.2
--processes 1`; it prints JSON: read `python3 -m bench.loadgen --help`),
raises an exception if a client did not connect or got a wrong reply, and
returns the messages per second.

The grader starts both servers at once and interleaves rounds (evloop,
threads, evloop, threads), keeping the medians.  Done when every round ran
and the two medians are within a factor of 3: the Python load generator, not
the C one the table used, saturates first here, so expect a ratio unlike
the table's, and report which load generator ran beside it.

Try it:  python3 -m evloop.serve --handler echo, then
         PYTHONPATH=. python3 docs/exercises/appendix-side-by-side/starter.py 12000
Grade it:  python3 -m docs.grade appendix-side-by-side docs/exercises/appendix-side-by-side/starter.py
"""

import sys


def one_round(port):
    """Messages per second from one run of the Python load generator against `port`."""
    raise NotImplementedError("one_round")


if __name__ == "__main__":
    print(f"{one_round(int(sys.argv[1])):,.0f} msg/s")
