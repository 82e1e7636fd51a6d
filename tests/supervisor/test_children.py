"""evloop.supervisor.children: a worker told to go gets a deadline, and past it
SIGKILL, once; the slots no live worker holds.  Real supervised workers that
overrun their deadlines: tests/supervisor/test_supervisor.py."""

import logging
import signal
import subprocess
import sys
import time

import pytest

from evloop.loop.base import BaseLoop
from evloop.supervisor.children import KILLED
from evloop.supervisor.children import RETIRING
from evloop.supervisor.children import SERVING
from evloop.supervisor.children import STARTING
from evloop.supervisor.children import STOPPING
from evloop.supervisor.children import Child
from evloop.supervisor.children import empty_slots
from evloop.supervisor.children import status_line
from tests.conftest import run_until

pytestmark = pytest.mark.timeout(30)

# A worker whose loop never acts on SIGTERM: it ignores it, as one still starting does.
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"


@pytest.fixture
def deaf():
    proc = subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE)
    proc.stdout.readline()  # SIGTERM is ignored from here on
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_worker_that_does_not_go_when_told_is_killed_at_its_deadline_once(deaf, caplog):
    loop = BaseLoop()
    child = Child(deaf.pid, 1, time.monotonic(), SERVING)
    try:
        with caplog.at_level(logging.ERROR, logger="evloop"):
            child.tell(signal.SIGTERM, STOPPING, loop, 0.3, lambda: "overran its stop")
            assert child.state == STOPPING and deaf.poll() is None
            run_until(loop, lambda: deaf.poll() is not None, seconds=10)
            child.kill("asked again", "again")  # KILLED: nothing more is sent or said
            child.tell(signal.SIGTERM, STOPPING, loop, 0.1, lambda: "again")
    finally:
        loop.close()
    assert deaf.returncode == -signal.SIGKILL and child.state == KILLED
    assert child.killed_for == "overdue"  # for the supervisor's metrics
    assert [r.getMessage() for r in caplog.records] == [
        f"worker 1 (pid {deaf.pid}) overran its stop; killing it"]


def test_a_sooner_deadline_replaces_a_later_one_and_a_later_one_does_not(deaf):
    loop = BaseLoop()
    child = Child(deaf.pid, 0, time.monotonic(), SERVING)
    try:
        child.tell(signal.SIGTERM, RETIRING, loop, 60, lambda: "late")
        first = child.deadline
        child.tell(signal.SIGTERM, STOPPING, loop, 120, lambda: "later still")
        assert child.deadline is first and not first.cancelled()
        child.tell(signal.SIGTERM, STOPPING, loop, 0.2, lambda: "sooner")
        assert first.cancelled() and child.deadline is not first
        run_until(loop, lambda: deaf.poll() is not None, seconds=10)
    finally:
        loop.close()
    assert deaf.returncode == -signal.SIGKILL


def test_a_reaped_worker_forgets_its_deadline(deaf):
    loop = BaseLoop()
    child = Child(deaf.pid, 0, time.monotonic(), SERVING)
    try:
        child.tell(signal.SIGTERM, STOPPING, loop, 0.2, lambda: "never said")
        child.forget()  # as the supervisor does once it has reaped it
        loop.run_once(0.5)
        loop.run_once(0)
        assert child.deadline is None and deaf.poll() is None
    finally:
        loop.close()


def test_empty_slots_are_those_no_live_worker_holds():
    now = time.monotonic()
    children = [Child(10, 0, now, SERVING), Child(11, 1, now, RETIRING),
                Child(12, 2, now, STARTING), Child(13, 3, now, KILLED)]
    assert empty_slots(children, 4) == [1, 3]
    assert empty_slots(children, 2) == [1]
    assert empty_slots([], 2) == [0, 1]


def test_the_status_line_counts_serving_workers_and_every_connection():
    now = time.monotonic()
    children = [Child(10, 0, now, SERVING, open=3), Child(11, 1, now, RETIRING, open=2)]
    assert status_line(children) == "1 workers serving, 5 connections open"
