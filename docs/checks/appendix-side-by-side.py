"""appendix-side-by-side (a measurement): echo at 10 connections, evloop against a thread per client.

The student's `one_round(port)` runs `python3 -m bench.loadgen` once
against the port (10 connections, 100-byte messages, under a second) and
returns the messages per second, raising if a client failed to connect or
got a wrong reply.  The grader starts both servers at once and interleaves
rounds (evloop, threads, evloop, threads), the appendix's method.  Judged on
the shape: every round ran, and the two medians are within a factor of 3
of each other, as they must be when the Python load generator, sharing the
machine's cores with both servers, saturates before either server does.
"""

import statistics

from docs.checks import _kit

TITLE = "One figure, reproduced small"
CHAPTER = "appendix-performance.md"
LEVEL = 2
MINUTES = 30
MEASUREMENT = True

ROUNDS = 2


def grade(student: _kit.Student) -> str:
    one_round = student.need("one_round")
    rates: dict[str, list[float]] = {"evloop": [], "threads": []}
    with _kit.process("--handler", "echo") as (_, evloop_port), \
            _kit.process("--handler", "echo", module="bench.threads") as (_, threads_port):
        for n in range(ROUNDS):
            for model, port in (("evloop", evloop_port), ("threads", threads_port)):
                rate = one_round(port)
                _kit.check(isinstance(rate, (int, float)) and rate > 0,
                           f"one_round returned {rate!r} for {model}, not messages per second")
                rates[model].append(rate)
            print(f"round {n + 1}: evloop {rates['evloop'][-1]:,.0f} msg/s, "
                  f"threads {rates['threads'][-1]:,.0f} msg/s")
    medians = {model: statistics.median(values) for model, values in rates.items()}
    ratio = medians["evloop"] / medians["threads"]
    _kit.expect(1 / 3 <= ratio <= 3, f"evloop / threads is {ratio:.2f}x: with the Python load "
                                     f"generator saturating first, the two should be within 3x")
    return f"median evloop {medians['evloop']:,.0f} msg/s, threads {medians['threads']:,.0f} " \
           f"msg/s; evloop / threads {ratio:.2f}x with the Python load generator"
