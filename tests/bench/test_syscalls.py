"""bench.syscalls: the kernel's own count of a process's system calls (perf's
raw_syscalls tracepoint), and a round of a model under load; skipped, saying why,
where perf cannot count here."""

import subprocess
import sys

import pytest

from bench import runner
from bench import syscalls

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def perf():
    try:
        if not syscalls.perf_counts():
            pytest.skip(f"perf cannot count {syscalls.EVENT} here (root and tracefs needed)")
    except FileNotFoundError:
        pytest.skip("perf is not installed (apt-get install linux-perf)")


CALLS = "import os, sys, time\nsys.stdout.write('go\\n'); sys.stdout.flush()\n" \
        "end = time.monotonic() + 3\nwhile time.monotonic() < end:\n    os.getppid()\n"


def test_a_process_that_calls_the_kernel_in_a_loop_is_counted(perf):
    busy = subprocess.Popen([sys.executable, "-c", CALLS], stdout=subprocess.PIPE, text=True)
    idle = subprocess.Popen(["sleep", "3"])
    try:
        busy.stdout.readline()
        many, few = syscalls.count_syscalls(busy.pid, 0.5), syscalls.count_syscalls(idle.pid, 0.5)
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait()
        busy.stdout.close()
    assert many > 10_000 and few < 100, (many, few)


def test_a_round_gives_system_calls_per_message(perf):
    per_message, faults, rate = syscalls.one_round(runner.BY_NAME["bare-epoll"], 1, 1,
                                                   duration=2.0)
    # epoll_wait, read and write per message (a message or two a wake-up at one
    # connection): a handful, not hundreds, and not zero.
    assert 1 < per_message < 10 and rate > 100, (per_message, rate)
    # A 100-byte echo in a warm process touches no fresh page per message.
    assert faults is not None and faults < 0.5, faults


def test_a_process_that_touches_fresh_pages_is_counted(perf):
    touch = ("import mmap, sys, time\nsys.stdout.write('go\\n'); sys.stdout.flush()\n"
             "end = time.monotonic() + 3\nwhile time.monotonic() < end:\n"
             "    m = mmap.mmap(-1, 1 << 20)\n    m[::4096] = bytes(256)\n    m.close()\n")
    busy = subprocess.Popen([sys.executable, "-c", touch], stdout=subprocess.PIPE, text=True)
    try:
        busy.stdout.readline()
        counts = syscalls.count_events(busy.pid, 0.5)
    finally:
        busy.kill()
        busy.wait()
        busy.stdout.close()
    assert counts.get(syscalls.FAULTS, 0) > 1_000, counts
