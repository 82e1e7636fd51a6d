"""Chapter 6, exercise 2 (a measurement): the memory of 1,000 threads vs 1,000 connections.

The exercise: open 1,000 connections to the thread-per-client server
(`python3 -m bench.threads --handler echo`) and to evloop
(`python3 -m evloop.serve --handler echo`), send one message on each so that
each is really being served, and read each server's resident memory (VmRSS
in /proc/PID/status) and thread count before and after.

Done when: every connection got its echo from both servers, and the RSS per
connection of each, their ratio, and the threads each server held are
printed.  The figures are this machine's; the check is only that the
measurement ran and gave sane figures (a thread per client holds about 1,000
threads, evloop one or two).

A run here printed:

    threads   1000 connections: +20,920 KiB RSS, 20.9 KiB each, 1001 threads
    evloop    1000 connections: +1,012 KiB RSS, 1.0 KiB each, 1 threads
    a thread per client holds 20.7x the memory per connection of evloop

Run it: python3 docs/answers/06-thread-memory.py
"""

import resource

import _kit

CONNECTIONS = 1000


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def measure(module):
    """(RSS growth in KiB, threads held) with CONNECTIONS served connections."""
    with _kit.process("--handler", "echo", module=module) as (server, port):
        before = _kit.rss_kib(server.pid)
        clients = []
        try:
            for n in range(CONNECTIONS):
                sock = _kit.connect(port)
                clients.append(sock)
                sock.sendall(b"%05d" % n)
                _kit.check(_kit.recv_exactly(sock, 5) == b"%05d" % n, f"{module}: wrong echo")
            return _kit.rss_kib(server.pid) - before, threads_of(server.pid)
        finally:
            for sock in clients:
                sock.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONNECTIONS + 100:
        if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 100:
            _kit.skip(f"RLIMIT_NOFILE's hard limit is {hard}: {CONNECTIONS} connections need more")
        resource.setrlimit(resource.RLIMIT_NOFILE, (CONNECTIONS + 100, hard))
    figures = {}
    for name, module in (("threads", "bench.threads"), ("evloop", "evloop.serve")):
        grown, threads = measure(module)
        figures[name] = grown
        print(f"{name:<9} {CONNECTIONS} connections: +{grown:,} KiB RSS, "
              f"{grown / CONNECTIONS:.1f} KiB each, {threads} threads")
        if name == "threads":
            _kit.check(threads > CONNECTIONS, f"the threaded server held only {threads} threads")
        else:
            _kit.check(threads < 10, f"evloop held {threads} threads")
    _kit.check(figures["threads"] > 0, f"no RSS growth measured for threads: {figures}")
    if figures["evloop"] > 0:
        print(f"a thread per client holds {figures['threads'] / figures['evloop']:.1f}x "
              f"the memory per connection of evloop")
    else:
        print("evloop's RSS did not grow measurably (under a page per connection)")
    _kit.ok(f"measured the RSS of {CONNECTIONS} served connections under both models")


if __name__ == "__main__":
    main()
