"""05-thread-memory (a measurement): the memory of 1,000 threads and of 1,000 connections.

The student's `rss_kib(pid)` and `thread_count(pid)` read /proc, and
`hold_connections(port, n)` opens n connections, each served one echo,
and returns them open.  The grader runs them against `bench.threads` and
`evloop.serve` (both `--handler echo`), checks the /proc readings against
its own, and judges the shape: a thread per client holds about a thousand
threads and evloop one or two, and a thread per client costs several times
the memory per connection (a run shows about 20x; the bound is 3x).
"""

import resource

from docs.checks import _kit

TITLE = "1,000 threads against 1,000 connections"
CHAPTER = "05-threads-vs-event-loop.md"
LEVEL = 2
MINUTES = 30
MEASUREMENT = True

CONNECTIONS = 1000


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def measure(student: _kit.Student, module: str) -> tuple[int, int]:
    """(RSS growth in KiB, threads held), read by the student's functions."""
    rss_kib, thread_count = student.need("rss_kib"), student.need("thread_count")
    hold_connections = student.need("hold_connections")
    with _kit.process("--handler", "echo", module=module) as (server, port):
        before = rss_kib(server.pid)
        mine = _kit.rss_kib(server.pid)
        _kit.check(isinstance(before, int) and abs(before - mine) <= max(mine // 10, 256),
                   f"rss_kib({server.pid}) said {before!r}, /proc says VmRSS {mine} KiB")
        clients = hold_connections(port, CONNECTIONS)
        try:
            _kit.check(len(clients) == CONNECTIONS,
                       f"hold_connections gave {len(clients)} connections, not {CONNECTIONS}")
            threads = thread_count(server.pid)
            _kit.check(threads == threads_of(server.pid),
                       f"thread_count said {threads!r}, /proc says {threads_of(server.pid)}")
            return rss_kib(server.pid) - before, threads
        finally:
            for sock in clients:
                sock.close()


def grade(student: _kit.Student) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONNECTIONS + 100:
        if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 100:
            _kit.skip(f"RLIMIT_NOFILE's hard limit is {hard}: {CONNECTIONS} connections need more")
        resource.setrlimit(resource.RLIMIT_NOFILE, (CONNECTIONS + 100, hard))
    grown, threads = {}, {}
    for name, module in (("threads", "bench.threads"), ("evloop", "evloop.serve")):
        grown[name], threads[name] = measure(student, module)
        print(f"{name:<9} {CONNECTIONS} connections: +{grown[name]:,} KiB RSS, "
              f"{grown[name] / CONNECTIONS:.1f} KiB each, {threads[name]} threads")
    _kit.expect(threads["threads"] > CONNECTIONS,
                f"the thread-per-client server held {threads['threads']} threads for "
                f"{CONNECTIONS} connections: were they all open at once?")
    _kit.expect(threads["evloop"] < 10, f"evloop held {threads['evloop']} threads")
    _kit.expect(grown["threads"] > 3 * max(grown["evloop"], 1),
                f"a thread per client grew by {grown['threads']} KiB, evloop by {grown['evloop']} "
                f"KiB: threads should cost several times more")
    ratio = grown["threads"] / max(grown["evloop"], 1)
    return f"a thread per client holds {ratio:.0f}x the memory per connection of evloop"
