"""Exercise 05-thread-memory: 1,000 threads against 1,000 connections (a measurement).

Chapter 5 (docs/05-threads-vs-event-loop.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write three functions.  `rss_kib(pid)` and `thread_count(pid)`
read a process's resident memory (VmRSS, in KiB) and its thread count from
/proc/PID/status.  `hold_connections(port, n)` opens n connections to an
echo server, sends one short message on each and checks its echo (so that
each is really being served), and returns the sockets, still open.

The grader runs them against `python3 -m bench.threads --handler echo` and
`python3 -m evloop.serve --handler echo`, reading each server's memory and
threads before and after 1,000 connections.  Done when both served every
connection, your /proc readings agree with the grader's, and the figures
have the chapter's shape: about a thousand threads against one or two, and
several times the memory per connection for a thread per client.  Report
the KiB per connection of each and their ratio; they are this machine's.

Try it:  start a server, then  python3 docs/exercises/05-thread-memory/starter.py PORT PID
Grade it:  python3 -m docs.grade 05-thread-memory docs/exercises/05-thread-memory/starter.py
"""

import sys


def rss_kib(pid):
    """The process's resident set size, in KiB, from /proc/PID/status."""
    raise NotImplementedError("rss_kib")


def thread_count(pid):
    """The process's thread count, from /proc/PID/status."""
    raise NotImplementedError("thread_count")


def hold_connections(port, n):
    """n connections, each served one echo, left open."""
    raise NotImplementedError("hold_connections")


if __name__ == "__main__":
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    before = rss_kib(pid)
    held = hold_connections(port, 1000)
    print(f"+{rss_kib(pid) - before:,} KiB RSS, {thread_count(pid)} threads")
