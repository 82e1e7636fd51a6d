"""06-toy-timeout: a receive with a deadline for the toy, leaving nothing behind.

The student's `recv_within(loop, sock, seconds)` returns what the socket
gave (b"" at EOF), or None when nothing came in time.  Either way one of two
things it set up did not happen, and must be undone: a timer that did not
fire must be cancelled, a reader that did not fire removed.  The grader's
echo server gives each read 1 s.  Judged: a quick client is echoed twice and
then leaves; after it the loop holds no timer and no reader but the
listener's and its waker's; a silent client is told `* too slow, bye` after
about a second; a client after it is served; and nothing is left behind.
"""

import time
from typing import Any

from docs.checks import _kit

TITLE = "A receive with a deadline"
CHAPTER = "06-callbacks-to-coroutines.md"
LEVEL = 2
MINUTES = 30

DEADLINE = 1.0


def settled(loop: Any) -> tuple[int, int]:
    """(readers, timers) once the loop has had time to see the last client's EOF."""
    stats = _kit.in_loop(loop, loop.statistics)
    for _ in range(100):
        if stats.readers <= 2:
            break
        time.sleep(0.02)
        stats = _kit.in_loop(loop, loop.statistics)
    return stats.readers, stats.timers


def grade(student: _kit.Student) -> str:
    from bench import coroutines
    recv_within = student.need("recv_within")

    async def echo(loop, sock):  # type: ignore[no-untyped-def]
        try:
            while True:
                data = await recv_within(loop, sock, DEADLINE)
                if data is None:
                    sock.send(b"* too slow, bye\n")
                    return
                if not data:
                    return
                await coroutines.send_all(loop, sock, bytearray(data))
        finally:
            sock.close()

    with _kit.toy_server(echo) as (loop, port):
        with _kit.connect(port, timeout=5) as quick:
            for word in (b"quick", b"again"):
                quick.sendall(word)
                _kit.check(_kit.recv_exactly(quick, 5) == word, f"the quick client's {word!r} "
                                                                f"was not echoed")
        readers, timers = settled(loop)
        _kit.expect(timers == 0, f"after the quick client left, {timers} timers were still "
                                 f"waiting: a deadline that did not fire must be cancelled")
        _kit.expect(readers == 2, f"after the quick client left, {readers} readers were "
                                  f"installed, not the listener's and the waker's")
        with _kit.connect(port, timeout=5) as silent:
            started = time.monotonic()
            told = _kit.recv_until_eof(silent)
            waited = time.monotonic() - started
        _kit.check(told == b"* too slow, bye\n", f"the silent client got {told!r}")
        _kit.expect(0.8 * DEADLINE <= waited < 3 * DEADLINE,
                    f"the silent client was told after {waited:.2f} s, not about {DEADLINE} s")
        with _kit.connect(port, timeout=5) as after:
            after.sendall(b"after")
            _kit.check(_kit.recv_exactly(after, 5) == b"after", "the client after it was not echoed")
        readers, timers = settled(loop)
        _kit.expect(timers == 0, f"at the end {timers} timers were still waiting: a deadline "
                                 f"that did not fire must be cancelled")
        _kit.expect(readers == 2, f"at the end {readers} readers were installed, not the "
                                  f"listener's and the waker's: a reader that did not fire "
                                  f"must be removed")
    return f"echoed, told off after {waited:.2f} s, served again, and nothing left behind"
