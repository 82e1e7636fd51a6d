"""The thread-per-client model on the timeline: bench.threads, recorded.

`python3 -m evloop.serve --trace-file run.json` records the event loop's
turns; this records the same run under bench.threads, so that the two can
be drawn side by side (`python3 -m evloop.trace view run.json`):

    python3 -m bench.timelines --trace-file threads.json --handler slow --work-ms 300

Every other argument goes to bench.threads unchanged.  Nothing in
bench/threads.py changes: its `serve` (one client's thread) is wrapped
here, so each client's thread gets a lane ("thread 2 127.0.0.1:50122"),
each recv() and sendall() it blocks in is drawn as a span (cat "blocked"),
with the bytes as marks (cat "io"), and each handler call as a block (cat
"handler").  There is no loop lane: the kernel's scheduler is the loop
here, and what it does between threads is not seen from Python.

The file is written when the server stops (SIGINT or SIGTERM).
"""

import argparse
import atexit
import signal
import sys
import threading

import evloop
from bench import common
from bench import threads


class RecordedSocket:
    """A client's socket whose recv() and sendall() are recorded on its lane."""

    def __init__(self, sock, trace, lane):
        self._sock, self._trace, self._lane = sock, trace, lane

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def recv(self, size):
        start = self._trace.now()
        data = self._sock.recv(size)
        end = self._trace.now()
        self._trace.complete(self._lane, "blocked", "recv", start, end, bytes=len(data))
        self._trace.instant(self._lane, "io", "recv", end, bytes=len(data),
                            preview=evloop.TraceFile.preview(data))
        return data

    def sendall(self, data):
        start = self._trace.now()
        self._sock.sendall(data)
        end = self._trace.now()
        self._trace.complete(self._lane, "blocked", "send", start, end, bytes=len(data))
        self._trace.instant(self._lane, "io", "send", end, bytes=len(data), left=0,
                            preview=evloop.TraceFile.preview(data))


class RecordedHandler:
    """A handler whose calls are drawn as blocks on its thread's lane."""

    def __init__(self, handler, trace, lane):
        self._handler, self._trace, self._lane = handler, trace, lane

    def __getattr__(self, name):
        return getattr(self._handler, name)

    def _call(self, name, *args):
        start = self._trace.now()
        try:
            return getattr(self._handler, name)(*args)
        finally:
            self._trace.complete(self._lane, "handler", name, start, self._trace.now(),
                                 handler=type(self._handler).__name__)

    def connection_made(self, context):
        return self._call("connection_made", context)

    def data_received(self, data):
        return self._call("data_received", data)

    def eof_received(self):
        return self._call("eof_received")

    def connection_lost(self, exc):
        return self._call("connection_lost", exc)


def recording(serve, trace):
    """bench.threads.serve, with the client's socket and handler recorded."""
    listener = trace.lane("listener", "listener")
    count = iter(range(1, 1 << 30))
    lock = threading.Lock()

    def recorded_serve(sock, address, factory):
        with lock:
            number = next(count)
        peer = f"{address[0]}:{address[1]}"
        lane = trace.lane(f"thread {number} {peer}", "thread")
        trace.instant(listener, "io", "accept", peer=peer, fd=sock.fileno())
        trace.instant(lane, "io", "accepted", peer=peer)

        def make():
            return RecordedHandler(factory(), trace, lane)
        try:
            serve(RecordedSocket(sock, trace, lane), address, make)
        finally:
            trace.instant(lane, "io", "closed")
    return recorded_serve


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--trace-file", required=True, metavar="PATH")
    known, rest = parser.parse_known_args()
    trace = evloop.TraceFile(known.trace_file, model="threads", loop_lane=False)
    atexit.register(lambda: print(f"threads: trace file {trace.write()}", file=sys.stderr))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threads.serve = recording(threads.serve, trace)
    sys.argv = [sys.argv[0], *rest]
    threads.main()


if __name__ == "__main__":
    common.run(main)
