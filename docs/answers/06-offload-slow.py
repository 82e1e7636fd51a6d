"""Chapter 6, exercise 1: make the slow handler offload, and free the other clients.

The exercise: a line handler whose `slow NAME` command does blocking work
(a 0.3 s `time.sleep()`, standing for a database query) and whose
`fast NAME` command answers at once.  Run the blocking call through
`self.context.offload(fn, *args, then=...)` so that, with a pool
(`Config(offload="thread")`, `--offload thread`), the loop goes back to
select() while the work runs, and `then` sends the answer when it is done.
Without a pool the same call runs inline, which is the stall of chapter 6.

Done when: client A asks `slow a`, then client B asks `fast b`; with the
thread pool B's answer comes at once (B no longer waits behind A's work),
and without it only once A's work is done (the stall is real, so the check
can tell).

Run it: python3 docs/answers/06-offload-slow.py
"""

import threading
import time

import _kit
import evloop

WORK = 0.3  # seconds of blocking work per `slow` line


def lookup(name):
    """The blocking call: module-level, so a process pool could pickle it too."""
    time.sleep(WORK)
    return f"slow answer for {name}\n".encode()


class Lookup(evloop.LineHandler):
    """The solution."""

    def line_received(self, line):
        command, _, name = line.decode().partition(" ")
        if command == "slow":
            # With a pool: returns None now, and `then`'s bytes are sent later.
            # Without one: runs lookup() here and returns `then`'s bytes at once.
            return self.context.offload(lookup, name, then=lambda answer: answer)
        return f"fast answer for {name}\n".encode()


def ask(port, line, arrivals):
    with _kit.connect(port) as sock:
        sock.sendall(line)
        reply = sock.recv(1024)
        arrivals.append((time.monotonic(), reply.decode().strip()))


def who_answers_first(offload):
    with _kit.served(Lookup, offload=offload) as server:
        arrivals = []
        a = threading.Thread(target=ask, args=(server.address[1], b"slow a\n", arrivals))
        b = threading.Thread(target=ask, args=(server.address[1], b"fast b\n", arrivals))
        a.start()
        # B asks once A's line has reached the handler (so its work has begun): the
        # server's own count says when, whatever the machine's load.
        deadline = time.monotonic() + 5
        while not server.stats().stream.messages_received and time.monotonic() < deadline:
            time.sleep(0.005)
        began = time.monotonic()  # A's work has begun
        b.start()
        a.join(timeout=10)
        b.join(timeout=10)
    answers = {text: when - began for when, text in arrivals}
    _kit.check(sorted(answers) == ["fast answer for b", "slow answer for a"],
               f"offload={offload}: wrong answers {arrivals}")
    # Judged by the clock, not by which client thread appended first: two replies
    # sent microseconds apart may reach their threads in either order.
    return answers["fast answer for b"], [text for _, text in sorted(arrivals)]


def main():
    b_after, inline = who_answers_first("none")
    _kit.check(b_after >= 0.8 * WORK,
               f"inline, B was answered {b_after:.3f} s after A's work began, before it "
               f"could end: {inline}; is the work blocking?")
    b_after, pooled = who_answers_first("thread")
    _kit.check(b_after < 0.8 * WORK,
               f"with --offload thread, B waited {b_after:.3f} s, behind A's work: {pooled}")
    print(f"inline:          {' then '.join(inline)}")
    print(f"--offload thread: {' then '.join(pooled)}")
    _kit.ok("offloaded, the slow line no longer stalls the other client")


if __name__ == "__main__":
    main()
