"""01-fifty-clients (a measurement): 50 clients against three models, and the shape of the times.

The student's `time_clients(port, clients, messages, think)` is run against
the iterative server, a thread per client and evloop.  Judged: every run
finished, the iterative server took about the sum of every client's
thinking (it serves one client at a time), and the other two took a
fraction of that (they overlap the clients).  The bounds are loose: a loaded
machine slows every model, not the iterative one alone.
"""

from docs.checks import _kit

TITLE = "Fifty clients, three models"
CHAPTER = "01-from-the-labs.md"
LEVEL = 2
MINUTES = 30
MEASUREMENT = True

CLIENTS, MESSAGES, THINK = 50, 5, 0.010
SERIAL = CLIENTS * MESSAGES * THINK  # 2.5 s: every client's thinking, one after another


def grade(student: _kit.Student) -> str:
    time_clients = student.need("time_clients")
    seconds = {}
    for name, module in (("iterative", "bench.iterative"), ("threads", "bench.threads"),
                         ("evloop", "evloop.serve")):
        with _kit.process("--handler", "lenprefix", module=module) as (_, port):
            seconds[name] = time_clients(port, CLIENTS, MESSAGES, THINK)
        _kit.check(isinstance(seconds[name], (int, float)) and seconds[name] > 0,
                   f"time_clients returned {seconds[name]!r} for {name}, not a time in seconds")
        print(f"{name:<10} {CLIENTS} clients in {seconds[name]:.3f} s")
    _kit.expect(seconds["iterative"] >= 0.6 * SERIAL,
                f"the iterative server took {seconds['iterative']:.2f} s, well under the "
                f"{SERIAL:.1f} s its clients spend thinking one after another: do all "
                f"{CLIENTS} clients send all {MESSAGES} messages and sleep between them?")
    for name in ("threads", "evloop"):
        _kit.expect(seconds[name] * 4 <= seconds["iterative"],
                    f"{name} took {seconds[name]:.2f} s, not a quarter of the iterative "
                    f"server's {seconds['iterative']:.2f} s: do the clients run at once?")
    return (f"iterative / evloop {seconds['iterative'] / seconds['evloop']:.0f}x, "
            f"threads / evloop {seconds['threads'] / seconds['evloop']:.1f}x")
