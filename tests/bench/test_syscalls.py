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


def test_a_churn_round_counts_per_connection(perf):
    per_connection, faults, rate = syscalls.one_round(runner.BY_NAME["bare-epoll"], 10, 1,
                                                      duration=2.0, churn=True)
    # accept, a socket option, epoll_ctl twice, read, write, read the EOF, close and
    # the waits: several calls a connection, more than an echo on a kept connection.
    assert per_connection is not None and 5 < per_connection < 40, per_connection
    assert rate > 100, rate


def test_a_relay_round_counts_the_relay_alone(perf):
    backend = runner.Server(runner.BY_NAME["c-epoll"], "echo")
    try:
        per_trip, faults, rate = syscalls.one_round(
            runner.BY_NAME["bare-relay"], 1, 1, duration=2.0,
            upstream=f"127.0.0.1:{backend.port}")
    finally:
        backend.stop()
    # A round trip through a relay is two reads and two writes there, with its waits.
    assert per_trip is not None and 3 < per_trip < 12 and rate > 100, (per_trip, rate)


@pytest.mark.parametrize("argv", [["--churn", "--relay"], ["--churn", "--depth", "4"],
                                  ["--relay", "--models", "bare-epoll"],
                                  ["--models", "bare-relay"], ["--models", "no-such"]])
def test_loads_that_do_not_fit_together_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        syscalls.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--churn" in err or "--relay" in err or "no such model" in err, err
