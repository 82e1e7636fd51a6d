"""bench/epoll_modes.py, and chapter 3's select, poll and epoll called by hand.

- the script's run: level-triggered epoll reports the reader again while
  bytes wait, edge-triggered does not until new bytes arrive, and reading
  until EAGAIN drains the buffer (tests/docs/test_outputs.py compares the
  chapter's copy of the output with the script's);
- the kernel's behaviour the script rests on, asked directly;
- the chapter's interpreter sessions print what they show (doctest).
"""

import doctest
import os
import re
import select
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not hasattr(select, "epoll"), reason="epoll is Linux's")]

CHAPTER = os.path.join(ROOT, "docs", "03-select-poll-epoll.md")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def run_script():
    run = subprocess.run([sys.executable, os.path.join("bench", "epoll_modes.py")], cwd=ROOT,
                         env=cli_env(), capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and not run.stderr, run.stderr
    return run.stdout


def polls(section):
    return [line.split(": ", 1)[1] for line in section.splitlines() if line.startswith("  poll:")]


def test_level_reports_again_and_edge_waits_for_new_bytes():
    level, edge = run_script().split("edge-triggered")
    assert polls(level) == ["reader ready", "reader ready", "reader ready", "nothing"]
    assert polls(edge) == ["reader ready", "nothing", "reader ready", "nothing"]
    for section in (level, edge):
        assert "recv(4) reads 4 bytes; 6 wait" in section
        assert "read until EAGAIN: 7 bytes" in section  # the 6 left over and the new one


def test_the_same_output_on_every_run():
    assert run_script() == run_script()


def test_an_edge_triggered_reader_that_stops_early_is_not_told_again():
    reader, peer = socket.socketpair()
    with reader, peer, select.epoll() as epoll:
        reader.setblocking(False)
        epoll.register(reader.fileno(), select.EPOLLIN | select.EPOLLET)
        peer.send(b"x" * 100)
        assert epoll.poll(0) == [(reader.fileno(), select.EPOLLIN)]
        assert reader.recv(10) == b"x" * 10
        assert epoll.poll(0.05) == []  # 90 bytes wait, and nothing says so
        assert reader.recv(1000) == b"x" * 90


def test_the_chapters_interpreter_sessions_print_what_they_show():
    with open(CHAPTER) as f:
        sessions = [body for lang, body in FENCE.findall(f.read()) if lang == "pycon"]
    assert len(sessions) >= 3  # select, poll, epoll
    # One interpreter, as a reader types them: the sessions run as one test.
    test = doctest.DocTestParser().get_doctest("\n".join(sessions), {}, "chapter 3", CHAPTER, 0)
    assert len(test.examples) >= 20, test.examples
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        runner.run(test, clear_globs=False)
    finally:
        for value in list(test.globs.values()):
            if isinstance(value, (socket.socket, select.epoll)):
                value.close()
    assert runner.failures == 0, f"{runner.failures} example(s) of chapter 3 print otherwise"
