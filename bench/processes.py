"""Every process a benchmark starts, and how a stopped benchmark stops them all.

A run of `scripts/bench` starts dozens of servers and load generators.  If it
is stopped, by Ctrl-C, by SIGTERM from a CI timeout, by an exception, at any
moment, every one of them must go with it: a server left running keeps its
port and its CPU, and the next run's figures are wrong without saying so.

So each process is started by `start()`, in a session of its own (its
children, a forking server's or a --workers parent's, share its process
group), and registered until `reap()` has waited for it.  Inside
`stopping_on_signals()`, SIGTERM and SIGINT become KeyboardInterrupt, so
the code's own `finally:` clauses run as for Ctrl-C; the second such signal
is ignored while they do; and on the way out, `stop_all()` kills the
process group of whatever is still registered and waits for it.
"""

import contextlib
import os
import signal
import subprocess

STARTED = set()  # Popen objects not yet reaped


def start(argv, **options):
    """subprocess.Popen(argv, **options) in a new session, registered."""
    proc = subprocess.Popen(argv, start_new_session=True, **options)
    STARTED.add(proc)
    return proc


def reap(proc, timeout=None):
    """Wait for `proc` (TimeoutExpired as Popen.wait) and forget it."""
    proc.wait(timeout)
    STARTED.discard(proc)


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # gone already (a reaped group id may not be signalled)


def stop_all():
    """Kill every registered process's group, and wait for each."""
    for proc in list(STARTED):
        kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            reap(proc, 10)


def _interrupted(signum, frame):
    for each in (signal.SIGINT, signal.SIGTERM):  # once is enough: let the cleanup run
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stopping_on_signals():
    """Run the body; SIGTERM or SIGINT stops it as Ctrl-C does, and nothing it
    started outlives it."""
    previous = {each: signal.signal(each, _interrupted) for each in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for each in previous:
            signal.signal(each, signal.SIG_IGN)
        stop_all()
        for each, handler in previous.items():
            signal.signal(each, handler)
