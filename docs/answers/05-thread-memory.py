"""Answer to 05-thread-memory (a measurement): 1,000 threads against 1,000 connections.

`rss_kib` and `thread_count` read /proc/PID/status; `hold_connections` opens
the connections and has each served one echo, so that each is really being
served.  The grader runs them against `python3 -m bench.threads --handler
echo` and `python3 -m evloop.serve --handler echo`.  A run printed:

    threads   1000 connections: +20,920 KiB RSS, 20.9 KiB each, 1001 threads
    evloop    1000 connections: +1,012 KiB RSS, 1.0 KiB each, 1 threads

By hand: start a server, then `python3 docs/answers/05-thread-memory.py PORT PID`.
"""

import socket
import sys


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_kib(pid):
    """The process's resident set size, in KiB."""
    return status_field(pid, "VmRSS")


def thread_count(pid):
    return status_field(pid, "Threads")


def hold_connections(port, n):
    """n connections, each served one echo, left open."""
    clients = []
    for number in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        clients.append(sock)
        sock.sendall(b"%05d" % number)
        echo = b""
        while len(echo) < 5:
            chunk = sock.recv(5 - len(echo))
            if not chunk:
                raise EOFError(f"connection {number} closed before its echo")
            echo += chunk
        if echo != b"%05d" % number:
            raise AssertionError(f"connection {number} got {echo!r}")
    return clients


if __name__ == "__main__":
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    before = rss_kib(pid)
    held = hold_connections(port, 1000)
    print(f"+{rss_kib(pid) - before:,} KiB RSS, {thread_count(pid)} threads")
