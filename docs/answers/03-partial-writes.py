"""Chapter 3, exercise 2 (a measurement): how many partial writes does a 4 MiB echo take?

The exercise: send 4 MiB to bench.nonblocking's echo, half-close, read the
echo back, and count the send() calls that took less than they were given
(the trace's "left queued" lines): once with the kernel's default send
buffer, once with SO_SNDBUF at 4096 bytes.  Time both.

The answer sets SO_SNDBUF on the listening socket: on Linux an accepted
socket inherits its listener's buffer sizes.  It counts by overriding the
loop's `say` (what prints a --trace line).  Done when: both runs return all
4 MiB intact, and the small buffer cut more writes short than the default
one.  The counts and times are what you report: they depend on the kernel.
A run here printed:

    default SO_SNDBUF (16384 B): 0 partial writes in 67 send() calls, 0.01 s
    SO_SNDBUF 4096 (8192 B): 65 partial writes in 66 send() calls, 2.08 s

The kernel doubles the size asked for (its bookkeeping shares the buffer)
and reports the doubled value.  The default buffer grows by itself as the
connection runs (the kernel's autotuning), a fixed one cannot.  With the
small buffer each send() took about one 64 KiB piece, and the loop then
slept some 30 ms before the socket was writable again: the kernel frees
buffer space only once the client has acknowledged what was sent.  Why each
wait lasts that long is a question for a capture (`tcpdump -i lo`).

Run it: python3 docs/answers/03-partial-writes.py
"""

import socket
import threading
import time

import _kit

from bench import common
from bench import nonblocking

SIZE = 4 * 2**20


class CountingServer(nonblocking.Server):
    """bench.nonblocking's loop, counting its send() calls instead of tracing them."""

    sends = partial = 0

    def say(self, label, text):
        if text.startswith("send "):
            self.sends += 1
            self.partial += "left queued" in text


def echo_once(sndbuf):
    """One 4 MiB echo through a fresh server: (intact?, partial writes, sends, buffer, seconds)."""
    options = common.parse_args("nonblocking", ["--port", "0", "--trace"])
    listener = socket.socket()
    if sndbuf:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    size = listener.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    server = CountingServer(options)
    threading.Thread(target=server.run, args=(listener,), daemon=True).start()
    data = bytes(range(256)) * (SIZE // 256)
    started = time.perf_counter()
    with _kit.connect(listener.getsockname()[1], timeout=20) as sock:
        sock.sendall(data)  # the server reads it all and queues the echo
        sock.shutdown(socket.SHUT_WR)
        echo = _kit.recv_until_eof(sock)
    return echo == data, server.partial, server.sends, size, time.perf_counter() - started


def main():
    runs = {}
    for name, sndbuf in (("default SO_SNDBUF", None), ("SO_SNDBUF 4096", 4096)):
        intact, partial, sends, size, seconds = runs[name] = echo_once(sndbuf)
        _kit.check(intact, f"the echo with {name} came back wrong")
        print(f"{name} ({size} B): {partial} partial writes in {sends} send() calls, {seconds:.2f} s")
    small, default = runs["SO_SNDBUF 4096"][1], runs["default SO_SNDBUF"][1]
    _kit.check(small > default, "a smaller send buffer should cut more writes short")
    _kit.ok(f"{small} partial writes with SO_SNDBUF 4096, {default} by default")


if __name__ == "__main__":
    main()
