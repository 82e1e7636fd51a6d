"""Answer to 05-offload-slow: blocking work through context.offload.

`slow NAME` does blocking work (a 0.3 s `time.sleep()`, standing for a
database query) through `self.context.offload(fn, *args, then=...)`.  With
a pool (`Config(offload="thread")`, `--offload thread`) the loop goes back to
select() while the work runs, and `then` sends the answer when it is done.
Without a pool the same call runs inline: the stall of chapter 5.

Serve it by hand: `python3 docs/answers/05-offload-slow.py` (port 12000,
with a thread pool).
"""

import time

import evloop

WORK = 0.3  # seconds of blocking work per `slow` line


def lookup(name):
    """The blocking call: module-level, so a process pool could pickle it too."""
    time.sleep(WORK)
    return f"slow answer for {name}\n".encode()


class Lookup(evloop.LineHandler):
    """`slow NAME` after the blocking lookup, `fast NAME` at once."""

    def line_received(self, line):
        command, _, name = line.decode().partition(" ")
        if command == "slow":
            # With a pool: returns None now, and `then`'s bytes are sent later.
            # Without one: runs lookup() here and returns `then`'s bytes at once.
            return self.context.offload(lookup, name, then=lambda answer: answer)
        return f"fast answer for {name}\n".encode()


if __name__ == "__main__":
    evloop.run(Lookup, evloop.Config(port=12000, offload="thread"))
