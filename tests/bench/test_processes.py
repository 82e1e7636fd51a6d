"""bench.processes: a benchmark stopped at any moment leaves no process behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bench import processes
from bench import procstat
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(90)


def read(path):
    """A /proc file's text; None once the process is gone."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def alive(pid):
    """Is `pid` a process that has not exited (a zombie has)?"""
    stat = read(f"/proc/{pid}/stat")
    return stat is not None and stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_of(pid):
    return (read(f"/proc/{pid}/cmdline") or "").replace("\0", " ")


def test_a_run_stopped_mid_round_stops_every_process_it_started(tmp_path):
    sig = signal.SIGTERM  # SIGINT takes the same path: the test below
    runner = subprocess.Popen(
        [sys.executable, "-m", "bench.runner", "--sweep", "lenprefix",
         "--models", "evloop-epoll,threads,ss-forking", "--rounds", "30", "--duration", "5",
         "--warmup", "0.2", "--quiet", "--output", str(tmp_path / "run.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT,
        stdin=subprocess.DEVNULL)
    seen = {}

    def mid_round():  # three servers up and a load generator running
        for pid in procstat.tree(runner.pid)[1:]:
            seen.setdefault(pid, command_of(pid))
        running = [command for pid, command in seen.items() if alive(pid)]
        return (sum("--handler lenprefix" in c for c in running) >= 3
                and any("loadgen" in c for c in running))

    last = []

    def settled():  # the round's tree stopped growing since the last look
        mid_round()
        grown = set(seen) != set(last)
        last[:] = seen
        return not grown

    try:
        assert wait_for(mid_round, timeout=60, interval=0.01), seen
        assert wait_for(settled, timeout=10, interval=0.1), seen  # every process of it seen
        runner.send_signal(sig)
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode == 130, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert wait_for(lambda: not any(alive(pid) for pid in seen), timeout=2), \
        {pid: command for pid, command in seen.items() if alive(pid)}
    assert not os.path.exists(tmp_path / "run.json")  # no half a result passed off as one


def test_sigint_inside_stopping_on_signals_kills_what_was_started():
    with pytest.raises(KeyboardInterrupt):
        with processes.stopping_on_signals():
            child = processes.start([sys.executable, "-c", "import time; time.sleep(60)"])
            other = processes.start(["sleep", "60"])
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal's handler raises before this ends
    assert child.returncode == -signal.SIGKILL and other.returncode == -signal.SIGKILL
    assert not processes.STARTED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
