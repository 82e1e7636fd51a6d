"""evloop.supervisor.workers: a worker's status lines, its exit status, its watch on its parent."""

import io
import logging
import os
import re
import signal

import pytest

from evloop.loop.base import BaseLoop
from evloop.settings import logs
from evloop.settings.logs import TextFormatter
from evloop.supervisor import workers
from evloop.supervisor.workers import Worker


def test_exit_codes_are_as_a_shell_gives_them():
    assert workers.exit_code(0) == 0
    assert workers.exit_code(3 << 8) == 3
    assert workers.exit_code(signal.SIGKILL) == 128 + signal.SIGKILL


def test_a_status_is_described_in_words():
    assert workers.describe_status(3 << 8) == "exit code 3"
    assert workers.describe_status(signal.SIGKILL) == "killed by SIGKILL"
    assert workers.describe_status(100) == "killed by signal 100"  # no name for it


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


def make_worker(channel, parent_pid):
    return Worker(3, channel, parent_pid, listeners=None, metrics=None, reload=False, grace=1.0)


def lines(fd):
    return os.read(fd, 65536).decode().splitlines()


def test_a_worker_says_ready_then_its_connections_when_they_change_else_beat(pipe, monkeypatch):
    monkeypatch.setattr(workers, "TICK", 0)  # every turn, not every second
    read, write = pipe
    worker = make_worker(write, os.getppid())
    counts = iter([2, 2, 5])
    retired = []
    loop = BaseLoop()
    try:
        worker.started(loop, lambda: retired.append(True), lambda: None,
                       lambda: next(counts, 5))
        for _ in range(4):
            loop.run_once()
        os.kill(os.getpid(), signal.SIGHUP)  # to a worker, SIGHUP means retire
        loop.run_once(5.0)
    finally:
        loop.close()
    pid = os.getpid()
    # Each tick says something: the count when it changed, else a heartbeat.
    told = lines(read)
    assert told[:4] == [f"{pid} ready", f"{pid} open 2", f"{pid} beat", f"{pid} open 5"], told
    assert set(told[4:]) == {f"{pid} beat"}, told
    assert retired == [True]


def test_an_error_is_one_line_cut_short_and_a_gone_parent_is_no_error(pipe):
    read, write = pipe
    worker = make_worker(write, os.getppid())
    worker.failed("cannot load handler 'x':\n  syntax error")
    worker.say("x" * 5000)
    pid = os.getpid()
    said = os.read(read, 65536).decode()
    assert said.split("\n")[0] == f"{pid} error cannot load handler 'x': syntax error"
    assert len(said.split("\n")[1]) == workers.LINE_MAX - 1  # under PIPE_BUF: never interleaved
    os.close(read)
    worker.say("ready")  # EPIPE: the supervisor is gone, and the next tick will see it


def test_a_worker_whose_parent_is_gone_stops(pipe, monkeypatch, caplog):
    monkeypatch.setattr(workers, "TICK", 0)
    read, write = pipe
    worker = make_worker(write, parent_pid=os.getpid())  # never this process's parent
    stopped = []
    loop = BaseLoop()
    try:
        worker.started(loop, lambda: None, lambda: stopped.append(True), lambda: 0)
        for _ in range(3):
            loop.run_once()
        timers = loop.statistics().timers
    finally:
        loop.close()
    assert stopped == [True] and timers == 0  # stopped once, and no longer looking
    assert "worker 3: parent process gone; stopping" in caplog.text
    assert lines(read) == [f"{os.getpid()} ready"]


def test_log_lines_are_tagged_with_the_slot(monkeypatch):
    ours, theirs = io.StringIO(), io.StringIO()
    evloops = logging.StreamHandler(ours)
    evloops.setFormatter(TextFormatter())  # as evloop sets logging up
    embedders = logging.StreamHandler(theirs)
    embedded = logging.Formatter("EMBED|%(worker)s|%(name)s|%(message)s")
    embedders.setFormatter(embedded)  # as a program that embeds evloop set it up
    # pytest's own handlers stay untouched
    monkeypatch.setattr(logging.getLogger(), "handlers", [evloops, embedders])
    monkeypatch.setattr(logs, "_worker", None)
    workers.tag_log_lines(4)
    for handler in (evloops, embedders):
        handler.handle(logging.LogRecord("evloop", logging.INFO, __file__, 1, "hello", None, None))
        handler.handle(logging.LogRecord("gateway", logging.WARNING, __file__, 1, "backend down",
                                         None, None))  # a handler's own logger
    assert re.search(r" evloop\[4\] INFO hello\n.* gateway\[4\] WARNING backend down\n$",
                     ours.getvalue())
    assert embedders.formatter is embedded
    assert theirs.getvalue() == "EMBED|4|evloop|hello\nEMBED|4|gateway|backend down\n"


def test_a_full_pipe_drops_a_line_without_waiting_and_the_count_is_said_again(pipe, monkeypatch):
    monkeypatch.setattr(workers, "TICK", 0)
    read, write = pipe
    os.set_blocking(write, False)  # as the supervisor sets it
    while True:  # a parent that does not read: fill its pipe
        try:
            os.write(write, b"x" * 4096)
        except BlockingIOError:
            break
    worker = make_worker(write, os.getppid())
    assert worker.say("beat") is False  # at once: a blocking write would hang this test
    loop = BaseLoop()
    try:
        worker.started(loop, lambda: None, lambda: None, lambda: 7)
        loop.run_once()  # its tick: "open 7" dropped
        assert worker.reported == -1
        os.set_blocking(read, False)
        with pytest.raises(BlockingIOError):
            while True:  # the parent reads again: all of it
                os.read(read, 65536)
        loop.run_once()
    finally:
        loop.close()
    told = lines(read)
    assert told[-1] == f"{os.getpid()} open 7" and worker.reported == 7, told
