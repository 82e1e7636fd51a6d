"""Greenlets: the thread-per-client code, with gevent making each thread a greenlet.

This is bench/threads.py run after one line more: `gevent.monkey.patch_all()`
swaps the standard library's socket, threading and time for cooperative
versions, so each "thread" is a greenlet on one libev loop, and every blocking
`recv()` is a switch.  The handler code and the server code are the labs'
blocking code, unchanged: the "threads without threads" answer.  gevent comes
with the `bench` extra.
"""

import sys

try:
    from gevent import monkey
except ImportError:  # the runner skips this model with a note without it
    sys.exit("bench.greenlets: gevent is not installed (pip install '.[bench]')")
monkey.patch_all()  # before bench.threads imports threading and socket

from bench import common  # noqa: E402
from bench import threads  # noqa: E402

if __name__ == "__main__":
    common.run(lambda: threads.main("gevent"))
