"""06-toy-sleep: sleep() for the chapter's toy coroutines, and a slow echo on it.

The student's `sleep(loop, seconds)` and `slow_echo(loop, sock)` run on the
toy (bench/coroutines.py) over an evloop Loop in a thread; the grader's
accept loop starts a Task per client.  A tortoise asks for 1 s, a hare, just
after, for 0.1 s.  Judged: both answered right, the hare first and long
before the tortoise's second was up (they slept at the same time, on one
thread), the tortoise not before its second.
"""

import time

from docs.checks import _kit

TITLE = "sleep() for the toy"
CHAPTER = "06-callbacks-to-coroutines.md"
LEVEL = 1
MINUTES = 20


def grade(student: _kit.Student) -> str:
    student.need("sleep")
    slow_echo = student.need("slow_echo")
    with _kit.toy_server(slow_echo) as (loop, port):
        with _kit.connect(port, timeout=5) as tortoise, _kit.connect(port, timeout=5) as hare:
            started = time.monotonic()
            tortoise.sendall(b"1.0 tortoise")
            hare.sendall(b"0.1 hare")
            hare_said = _kit.recv_until_eof(hare)
            hare_after = time.monotonic() - started
            tortoise_said = _kit.recv_until_eof(tortoise)
            tortoise_after = time.monotonic() - started
    _kit.check(hare_said == b"hare" and tortoise_said == b"tortoise",
               f"the replies were {hare_said!r} and {tortoise_said!r}, not b'hare' and b'tortoise'")
    _kit.expect(hare_after < 0.7, f"the hare (0.1 s) was answered after {hare_after:.2f} s: "
                                  f"did it wait for the tortoise's sleep?")
    _kit.expect(tortoise_after >= 0.9, f"the tortoise (1.0 s) was answered after "
                                       f"{tortoise_after:.2f} s: did it sleep?")
    return f"the hare woke after {hare_after:.2f} s, the tortoise after {tortoise_after:.2f} s"
