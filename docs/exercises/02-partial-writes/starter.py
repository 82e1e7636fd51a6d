"""Exercise 02-partial-writes: count the partial writes (a measurement).

Chapter 2 (docs/02-non-blocking.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: make `CountingServer`, a subclass of bench.nonblocking's
`Server`, count its send() calls in `self.sends` and the ones that took
less than they were given (bytes left queued) in `self.partial`.  The
loop narrates every send() through its method `say(label, text)` when
`--trace` is on: read bench/nonblocking.py's `on_writable` to see what it
says.

The grader sends 4 MiB to a fresh server, half-closes, and reads the echo
back: once with the kernel's default send buffer, once with `SO_SNDBUF` at
4096 on the listening socket (accepted sockets inherit it).  Done when both
echoes are intact, every send() was counted, and the small buffer cut many
more writes short (about one per 64 KiB the server read) than the default.
Report the counts and the times; they are this machine's.

Grade it:  python3 -m docs.grade 02-partial-writes docs/exercises/02-partial-writes/starter.py
"""

from bench import common
from bench import nonblocking


class CountingServer(nonblocking.Server):
    """bench.nonblocking's loop, counting its send() calls instead of tracing them."""

    sends = partial = 0

    def say(self, label, text):
        pass  # Your code here: which lines are about a send(), and which say bytes were left?


if __name__ == "__main__":
    options = common.parse_args("nonblocking", ["--trace"])
    CountingServer(options).run(common.listen(options))
