"""Exercise 05-offload-slow: make the slow handler offload.

Chapter 5 (docs/05-threads-vs-event-loop.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: `Lookup` is a line handler whose `slow NAME` does 0.3 s of
blocking work (`lookup`, standing for a database query) and whose
`fast NAME` answers at once.  As written, the blocking call stalls the loop:
every other client waits.  Run it through
`self.context.offload(fn, *args, then=...)` instead: with a thread pool
(`evloop.Config(offload="thread")`, `--offload thread`) the loop goes on
while the work runs, and `then` turns its result into the bytes to send.

The grader has client A ask `slow a`, then client B ask `fast b`.

Done when, served with `offload="thread"`, B's answer arrives at once, and,
served inline (no pool), only after A's work: the stall this chapter
measured.

Try it:  python3 docs/exercises/05-offload-slow/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade 05-offload-slow docs/exercises/05-offload-slow/starter.py
"""

import time

import evloop

WORK = 0.3  # seconds of blocking work per `slow` line


def lookup(name):
    """The blocking call."""
    time.sleep(WORK)
    return f"slow answer for {name}\n".encode()


class Lookup(evloop.LineHandler):
    """`slow NAME` after the blocking lookup, `fast NAME` at once."""

    def line_received(self, line):
        command, _, name = line.decode().partition(" ")
        if command == "slow":
            return lookup(name)  # Your code here: this blocks the loop; offload it
        return f"fast answer for {name}\n".encode()


if __name__ == "__main__":
    evloop.run(Lookup, evloop.Config(port=12000, offload="thread"))
