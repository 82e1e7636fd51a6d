"""05-offload-slow: blocking work through context.offload frees the other clients.

The student's `Lookup` line handler answers `slow NAME` after 0.3 s of
blocking work run through `self.context.offload`, and `fast NAME` at once.
Client A asks `slow a`; once A's line has reached the handler, client B
asks `fast b`.  Judged: served inline (no pool), B waits behind A's work,
the stall; served with `offload="thread"`, B is answered at once.
"""

import threading
import time

from docs.checks import _kit

TITLE = "Make the slow handler offload"
CHAPTER = "05-threads-vs-event-loop.md"
LEVEL = 2
MINUTES = 30

WORK = 0.3  # seconds of blocking work per `slow` line


def ask(port: int, line: bytes, arrivals: list[tuple[float, str]]) -> None:
    with _kit.connect(port, timeout=5) as sock:
        sock.sendall(line)
        reply = sock.recv(1024)
        arrivals.append((time.monotonic(), reply.decode().strip()))


def b_waited(handler: type, offload: str) -> float:
    """How long after A's work began B was answered."""
    with _kit.served(handler, offload=offload) as server:
        arrivals: list[tuple[float, str]] = []
        a = threading.Thread(target=ask, args=(server.address[1], b"slow a\n", arrivals))
        b = threading.Thread(target=ask, args=(server.address[1], b"fast b\n", arrivals))
        a.start()
        # B asks once A's line has reached the handler (so its work has begun): the
        # server's own count says when, whatever the machine's load.
        _kit.wait_for(lambda: server.stats().stream.messages_received)
        began = time.monotonic()
        b.start()
        a.join(timeout=10)
        b.join(timeout=10)
    answers = {text: when - began for when, text in arrivals}
    _kit.check(sorted(answers) == ["fast answer for b", "slow answer for a"],
               f"offload={offload}: the answers were {sorted(answers)}, not 'slow answer for a' "
               f"and 'fast answer for b'")
    return answers["fast answer for b"]


def grade(student: _kit.Student) -> str:
    handler = student.need("Lookup")
    inline = b_waited(handler, "none")
    _kit.expect(inline >= 0.5 * WORK, f"inline, B was answered {inline:.3f} s after A's work "
                                      f"began, before it could end: is the work blocking?")
    pooled = b_waited(handler, "thread")
    _kit.expect(pooled < 0.5 * WORK, f"with offload='thread', B waited {pooled:.3f} s, behind "
                                     f"A's work: is it run through context.offload?")
    return f"B waited {inline:.2f} s inline, {pooled:.3f} s with a thread pool"
