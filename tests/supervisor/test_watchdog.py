"""evloop.supervisor.watchdog: a stuck loop found by its silence, its stack read from
faulthandler's dump, and the handler's frame named; a single server's own timer.
Real supervised workers that hang: tests/supervisor/test_supervisor.py."""

import logging
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time

import pytest

import evloop
from evloop.loop.base import BaseLoop
from evloop.supervisor.watchdog import Watchdog
from evloop.supervisor.watchdog import read_dump
from evloop.supervisor.watchdog import stuck_in
from evloop.supervisor.watchdog import watch_alone
from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(30)

EVLOOP = os.path.dirname(evloop.__file__)
STDLIB = sysconfig.get_paths()["stdlib"]
DUMP = f"""Thread 0x00007f3a5c1b2740 (most recent call first):
  File "{STDLIB}/json/decoder.py", line 353 in raw_decode
  File "/srv/app/gateway.py", line 13 in data_received
  File "{EVLOOP}/connection/connection.py", line 312 in _on_readable
  File "{EVLOOP}/loop/turns.py", line 120 in run_once
  File "/srv/app/main.py", line 5 in <module>
"""


def test_a_silent_worker_is_aborted_once_and_a_beating_one_never(caplog):
    loop = BaseLoop()
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    beating = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    watchdog = Watchdog(loop, 0.5)
    try:
        for index, proc in enumerate((silent, beating)):
            watchdog.watch(proc.pid, index, watchdog.new_file())
            watchdog.beat(proc.pid)
        with caplog.at_level(logging.ERROR, logger="evloop"):
            start = loop.time()
            while loop.time() - start < 2.5:
                watchdog.beat(beating.pid)  # its loop turns
                loop.run_once(0.1)
        assert silent.wait(5) == -signal.SIGABRT and beating.poll() is None
        watchdog.ended(silent.pid, 6, "killed by SIGABRT")  # 6: a wait status, SIGABRT
        told = [r.getMessage() for r in caplog.records]
        assert len(told) == 2 and told[0].startswith(f"worker 0 (pid {silent.pid}) silent for ")
        assert told[1].startswith(f"worker 0 (pid {silent.pid}) was stuck in no Python frame")
    finally:
        watchdog.close()
        for proc in (silent, beating):
            proc.kill()
            proc.wait()
        loop.close()


def test_no_timeout_no_watch():
    loop = BaseLoop()
    try:
        watchdog = Watchdog(loop, 0)
        assert loop.statistics().timers == 0
        watchdog.close()
    finally:
        loop.close()


def test_the_frame_named_is_the_innermost_of_the_handler_s_code():
    # Stuck in the standard library, called from the handler: the handler's line.
    assert stuck_in(DUMP) == "/srv/app/gateway.py:13 in data_received"
    ours = "\n".join(line for line in DUMP.splitlines() if "/srv/app" not in line)
    assert stuck_in(ours) == f"{STDLIB}/json/decoder.py:353 in raw_decode"  # else the innermost
    assert stuck_in("") == "no Python frame in its stack"


def test_a_real_dump_names_the_frame_that_was_running():
    code = textwrap.dedent("""
        import faulthandler, signal, sys, tempfile
        from evloop.supervisor.watchdog import dump_stacks_to
        dump_stacks_to(open(sys.argv[1], "wb"))

        def stuck_here():
            signal.raise_signal(signal.SIGABRT)

        stuck_here()
    """)
    with tempfile.NamedTemporaryFile() as dump:
        proc = subprocess.run([sys.executable, "-c", code, dump.name], cwd=ROOT, env=cli_env(),
                              capture_output=True, timeout=20)
        assert proc.returncode < 0  # it died of the signal, after the dump
        text = read_dump(dump)
    assert "most recent call first" in text
    assert stuck_in(text) == '<string>:7 in stuck_here'


def test_a_single_server_s_stuck_loop_is_named_dumped_and_ended_with_exit_1():
    code = textwrap.dedent("""
        import logging, time
        from evloop.loop.base import BaseLoop
        from evloop.supervisor.watchdog import watch_alone

        def stuck():
            while True:
                time.sleep(0.01)

        logging.basicConfig()
        loop = BaseLoop()
        watch_alone(loop, 2.0)
        loop.call_later(0.3, stuck)
        while True:
            loop.run_once(None)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"the loop has not turned for [\d.]+s \(--worker-timeout 2s\): stuck in "
                     r"<string>:[89] in stuck; every thread's stack follows", proc.stderr), proc.stderr
    assert "most recent call first" in proc.stderr and re.search(r"line [89] in stuck", proc.stderr)


def test_an_idle_single_server_is_woken_not_ended_and_stops_being_watched_at_its_end():
    loop = BaseLoop()
    try:
        stop = watch_alone(loop, 2.0)
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            loop.run_once(None)  # no timer, nothing to read: only the watchdog's nudge
        stop()  # past the timeout, and still here
    finally:
        loop.close()
