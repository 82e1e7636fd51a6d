"""The pure-Python load generator: the fallback when no C compiler is found.

Same options, same message pattern, same verification and the same JSON as
bench/c/loadgen.c, built on evloop's own loop.  It runs in several processes
(one per core by default) because a single Python process saturates long
before most servers do; even so it is often the bottleneck, which is why the
results always say which load generator ran.

What it counts about the connections themselves, in the JSON and the
summary line: `connected` (the handshake completed, busy and idle alike),
`failed_connections` (connect() failed: refused, reset, timed out, or no
address left), and `lost_connections` (connected, then closed or reset by
the server before the run ended).  An idle connection sends nothing and
reads nothing while the run lasts, so the server may close it unseen (a
select() server refuses a descriptor past FD_SETSIZE only after accepting
it); each is read once at the end, and one found closed counts as lost.
"""

import argparse
import errno
import json
import multiprocessing
import socket
import sys
import time

import evloop
from bench.common import default_port
from bench.histogram import Histogram

MAX_SIZE = 1 << 20  # the C load generator's bound too
PATTERN = bytes(65 + i % 26 for i in range(26 * 2 + MAX_SIZE))


def make_message(options, conn_id, k):
    start = (conn_id * 7 + k * 13) % 26
    payload = PATTERN[start:start + options.size]
    if options.framing == "lenprefix":
        return str(options.size).zfill(3).encode() + payload
    if options.framing == "line":
        return payload + b"\n"
    return payload


class Client:
    """One load connection: DEPTH messages in flight, every reply checked."""

    def __init__(self, loop, options, conn_id, stats):
        self.loop, self.options, self.id, self.stats = loop, options, conn_id, stats
        self.sock = socket.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.sent = self.done = 0
        self.queued_at = {}
        self.out = bytearray()
        self.inbox = bytearray()
        self.connected = False
        error = self.sock.connect_ex((options.host, options.port))
        if error not in (0, errno.EINPROGRESS):  # e.g. EADDRNOTAVAIL: no port left
            self.stats["failed_connections"] += 1
            self.sock.close()
            return
        loop.add_writer(self.sock, self.on_connected)

    def on_connected(self):
        if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            return self.fail("failed_connections")
        self.connected = True
        self.stats["connected"] += 1
        self.loop.add_reader(self.sock, self.on_readable)
        for _ in range(self.options.depth):
            self.queue()
        self.flush()

    def queue(self):
        self.out += make_message(self.options, self.id, self.sent)
        self.queued_at[self.sent] = time.monotonic()
        self.sent += 1

    def flush(self):
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            return self.fail("lost_connections")
        del self.out[:sent]
        if self.out:
            self.loop.add_writer(self.sock, self.flush)
        else:
            self.loop.remove_writer(self.sock)

    def on_readable(self):
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self.fail("lost_connections")
        self.inbox += data
        while True:
            expected = make_message(self.options, self.id, self.done)
            if len(self.inbox) < len(expected):
                if not expected.startswith(bytes(self.inbox)):
                    self.fail("errors")
                return
            if self.inbox[:len(expected)] != expected:
                return self.fail("errors")
            del self.inbox[:len(expected)]
            now = time.monotonic()
            if self.stats["measuring"]:
                self.stats["histogram"].record((now - self.queued_at[self.done]) * 1e6)
                self.stats["messages"] += 1
                self.stats["bytes"] += len(expected)
            del self.queued_at[self.done]
            self.done += 1
            pending = bool(self.out)
            self.queue()
            if not pending:  # otherwise the writer is installed and will send it
                self.flush()

    def fail(self, counter):
        self.stats[counter] += 1
        self.loop.remove_reader(self.sock)
        self.loop.remove_writer(self.sock)
        self.sock.close()
        self.connected = False


def worker(options, first_id, count, results):
    loop = evloop.Loop("auto")
    stats = {"connected": 0, "messages": 0, "bytes": 0, "errors": 0, "failed_connections": 0,
             "lost_connections": 0, "measuring": options.warmup <= 0, "histogram": Histogram()}
    clients = [Client(loop, options, first_id + i, stats) for i in range(count)]
    start = time.monotonic()
    measure_from = start + options.warmup
    stop_at = measure_from + options.duration
    while time.monotonic() < stop_at:
        stats["measuring"] = time.monotonic() >= measure_from
        loop.run_once(timeout=0.05)
    stats["active_connections"] = sum(1 for c in clients if c.done)
    stats["histogram"] = stats["histogram"].counts
    results.put(stats)


def run(options):
    processes = max(1, min(options.processes, options.connections or 1))
    results = multiprocessing.Queue()
    share, extra = divmod(options.connections, processes)
    workers, first = [], 0
    for n in range(processes):
        count = share + (1 if n < extra else 0)
        workers.append(multiprocessing.Process(target=worker, args=(options, first, count, results)))
        first += count
    started = time.monotonic()
    for proc in workers:
        proc.start()
    idle = []
    time.sleep(0.2)  # the busy connections first, as bench/c/loadgen.c does
    for _ in range(options.idle):  # held open, silent, by the parent
        try:
            idle.append(socket.create_connection((options.host, options.port), timeout=10))
        except OSError:
            break
    # The phase marks bench/c/loadgen.c prints, approximated from the parent.
    time.sleep(max(0.0, started + options.warmup - time.monotonic()))
    if not options.summary:
        print("loadgen: measuring", file=sys.stderr, flush=True)
    totals = {"connected": 0, "messages": 0, "bytes": 0, "errors": 0, "failed_connections": 0,
              "lost_connections": 0, "active_connections": 0}
    histogram = Histogram()
    for n, _ in enumerate(workers):
        stats = results.get(timeout=options.warmup + options.duration + 60)
        if n == 0 and not options.summary:
            print("loadgen: done", file=sys.stderr, flush=True)
        for key in totals:
            totals[key] += stats[key]
        histogram.merge(Histogram(stats["histogram"]))
    for proc in workers:
        proc.join()
    totals["connected"] += len(idle)
    totals["failed_connections"] += options.idle - len(idle)
    totals["lost_connections"] += sum(1 for sock in idle if closed_by_peer(sock))
    for sock in idle:
        sock.close()
    return {"loadgen": "python", "connections": options.connections, "idle": options.idle,
            "size": options.size, "depth": options.depth, "framing": options.framing,
            "duration": options.duration, **totals,
            "msgs_per_s": totals["messages"] / options.duration,
            "mb_per_s": totals["bytes"] / options.duration / 1e6,
            "histogram": {str(k): v for k, v in histogram.counts.items()}}


def closed_by_peer(sock):
    """Whether the server closed or reset this idle connection: what it sent
    before (a busy message) is read and dropped, then EOF or an error says so."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False  # open, and nothing more to read
    except OSError:
        return True  # ECONNRESET: closed with data unread, or aborted
    return True


def summary_line(result, options):
    latency = Histogram(result["histogram"]).summary()
    ms = {key: (value or 0) / 1000 for key, value in latency.items()}
    return (f"{result['connected']} of {options.connections + options.idle} connected, "
            f"{result['failed_connections']} failed to connect; "
            f"{result['msgs_per_s']:,.0f} msg/s; latency p50 {ms['p50_us']:.2f} ms, "
            f"p99 {ms['p99_us']:.2f} ms; {result['errors']} wrong replies, "
            f"{result['lost_connections']} lost connections, "
            f"{options.connections - result['active_connections']} clients got no reply")


def build_parser():
    parser = argparse.ArgumentParser(description="Pure-Python load generator (fallback)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port(),
                        help="server port (default: 12000, or $EVLOOP_PORT)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--framing", choices=["raw", "lenprefix", "line"], default="raw")
    parser.add_argument("--summary", action="store_true",
                        help="print one line for people instead of the JSON for the runner")
    parser.add_argument("--idle", type=int, default=0, help="extra connections that send nothing")
    parser.add_argument("--processes", type=int, default=multiprocessing.cpu_count())
    return parser


def main(argv=None):
    options = build_parser().parse_args(argv)
    evloop.raise_fd_limit()
    if options.framing == "lenprefix" and options.size > 999:
        print("loadgen: lenprefix messages are at most 999 bytes", file=sys.stderr)
        return 2
    if not 0 <= options.size <= MAX_SIZE:
        print(f"loadgen: --size must be 0 to {MAX_SIZE} bytes", file=sys.stderr)
        return 2
    result = run(options)
    if options.summary:
        print(summary_line(result, options))
    else:
        print(json.dumps(result))
        return 0
    # For people and scripts: fail when anything went wrong or anyone was starved.
    return 1 if result["errors"] or result["active_connections"] < options.connections else 0


if __name__ == "__main__":
    sys.exit(main())
