"""What a server costs, read from /proc: CPU seconds, resident memory, threads.

A benchmark that reports only messages per second hides half the lesson: a
thread per client may keep up at 1,000 connections and still spend ten times
the CPU and memory to do it.  So the runner reads, for the server process and
every process it forked (socketserver's ForkingTCPServer):

- CPU time: utime + stime of each live process, plus cutime + cstime, the
  time of children already reaped (fields 14-17 of /proc/PID/stat), kept
  apart as user and system time;
- resident memory (VmRSS; for several processes the sum of Pss) and
  threads (processes count as one each), sampled every few milliseconds by a
  `Sampler` thread, which keeps the peaks.

Linux only; elsewhere every figure is None and the tables say "n/a".
"""

import os
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def tree(pid):
    """pid and all its descendants that are alive now."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue  # exited meanwhile (a forked child finishing): nothing below it
        for task in tasks:
            children = _read(f"/proc/{current}/task/{task}/children") or ""
            todo.extend(int(child) for child in children.split())
    return pids


def cpu_times(pid):
    """(user, system) CPU seconds of a process tree, reaped children included.

    The split is the lesson of the perf sweep's figures: a server in pure Python
    spends most of a small message's cost in the kernel (system time), the
    same for every model, and only the user time is the model's own.
    """
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    user = system = 0
    for member in tree(pid):
        stat = _read(f"/proc/{member}/stat")
        if stat is None:
            continue  # exited between the listing and the read: in its parent's cutime
        fields = stat.rsplit(")", 1)[1].split()
        user += int(fields[11]) + int(fields[13])  # utime + cutime
        system += int(fields[12]) + int(fields[14])  # stime + cstime
    return user / TICKS, system / TICKS


def cpu_seconds(pid):
    """User + system CPU seconds of a process tree, reaped children included."""
    times = cpu_times(pid)
    return None if times is None else sum(times)


def _field(text, name):
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def memory(pid):
    """(resident bytes, threads) of a process tree, or (None, None).

    One process: its VmRSS.  Several (a forking server): the sum of their
    proportional set sizes (Pss), so pages the children share with their
    parent after fork() count once instead of once per child.
    """
    members = tree(pid)
    rss = threads = 0
    seen = False
    for member in members:
        status = _read(f"/proc/{member}/status")
        if status is None:
            continue
        seen = True
        threads += _field(status, "Threads:")
        if len(members) == 1:
            rss += _field(status, "VmRSS:") * 1024
        else:
            rss += _field(_read(f"/proc/{member}/smaps_rollup") or "", "Pss:") * 1024
    return (rss, threads) if seen else (None, None)


class Sampler(threading.Thread):
    """Samples a process tree's memory and threads until stopped; keeps the peaks."""

    def __init__(self, pid, interval=0.02):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_threads = None
        self._stop_event = threading.Event()

    def run(self):
        while True:
            began = time.monotonic()
            rss, threads = memory(self.pid)
            cost = time.monotonic() - began
            if rss is not None:
                self.peak_rss = max(rss, self.peak_rss or 0)
                self.peak_threads = max(threads, self.peak_threads or 0)
            # Never spend more than a tenth of a core watching (1,000 forked children).
            if self._stop_event.wait(max(self.interval, 10 * cost)):
                return

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.peak_rss, self.peak_threads
