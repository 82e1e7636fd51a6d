"""03-select-vs-epoll (a measurement): microseconds per call of select, poll and epoll.

The student's `measure(n)` returns the microseconds one call of each takes
over n watched sockets, one of them readable.  Judged on the shape, with
wide margins (the expected ratios are tens): select() and poll() hand the
kernel every descriptor on every call, so at 480 sockets each costs several
times what it costs at 1, and several times epoll's, which reads only its
ready list.
"""

import select

from docs.checks import _kit

TITLE = "Where select() loses"
CHAPTER = "03-select-poll-epoll.md"
LEVEL = 2
MINUTES = 30
MEASUREMENT = True

COUNTS = (1, 32, 480)
FACTOR = 3  # what the shape must show at least; a run shows 20 to 60


def grade(student: _kit.Student) -> str:
    if not hasattr(select, "epoll"):
        _kit.skip("this system has no epoll (it is Linux's)")
    measure = student.need("measure")
    table = {}
    print(f"{'N':>5} {'select us':>10} {'poll us':>8} {'epoll us':>9}")
    for n in COUNTS:
        row = measure(n)
        _kit.check(isinstance(row, tuple) and len(row) == 3
                   and all(isinstance(t, (int, float)) and t > 0 for t in row),
                   f"measure({n}) returned {row!r}, not three positive times")
        table[n] = row
        print(f"{n:>5} {row[0]:>10.2f} {row[1]:>8.2f} {row[2]:>9.2f}")
    sel, pol, epo = table[480]
    _kit.expect(sel > FACTOR * epo, f"at 480 sockets select() took {sel:.2f} us, epoll {epo:.2f} us: "
                                    f"select() should cost several times more")
    _kit.expect(pol > FACTOR * epo, f"at 480 sockets poll() took {pol:.2f} us, epoll {epo:.2f} us: "
                                    f"poll() should cost several times more")
    _kit.expect(sel > FACTOR * table[1][0],
                f"select() took {table[1][0]:.2f} us over 1 socket and {sel:.2f} us over 480: "
                f"its cost should grow with the sockets watched")
    return f"at 480 sockets select() cost {sel / epo:.0f}x epoll, poll() {pol / epo:.0f}x"
