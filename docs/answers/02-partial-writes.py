"""Answer to 02-partial-writes (a measurement): count the partial writes of a 4 MiB echo.

The loop prints a --trace line for each send() (`send N B, M B left
queued`, or `all sent`) through its method `say`; overriding `say` counts
them instead.  The grader echoes 4 MiB through it with the default send
buffer and with SO_SNDBUF at 4096 on the listening socket.  A run printed:

    default SO_SNDBUF (16384 B): 0 partial writes in 67 send() calls, 0.01 s
    SO_SNDBUF 4096 (8192 B): 65 partial writes in 66 send() calls, 2.08 s

The kernel doubles the size asked for (its bookkeeping shares the buffer)
and reports the doubled value.  The default buffer grows by itself as the
connection runs (the kernel's autotuning), a fixed one cannot.  With the
small buffer each send() took about one 64 KiB piece, and the loop then
slept some 30 ms before the socket was writable again: the kernel frees
buffer space only once the client has acknowledged what was sent.
"""

from bench import common
from bench import nonblocking


class CountingServer(nonblocking.Server):
    """bench.nonblocking's loop, counting its send() calls instead of tracing them."""

    sends = partial = 0

    def say(self, label, text):
        if text.startswith("send "):
            self.sends += 1
            self.partial += "left queued" in text


if __name__ == "__main__":
    options = common.parse_args("nonblocking", ["--trace"])
    CountingServer(options).run(common.listen(options))
