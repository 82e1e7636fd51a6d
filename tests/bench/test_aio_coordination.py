"""bench/aio_coordination.py, chapter 6's queue, gather, timeout and cancellation.

Each example runs on evloop.aio (`evloop.aio.run`, its default) and prints what
it should; on asyncio's own loop (`--loop asyncio`) it prints the very same
lines.  tests/docs/test_outputs.py compares the chapter's copies with the
script's output.
"""

import asyncio
import os
import subprocess
import sys

import pytest

from bench import aio_coordination
from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(60)

EXPECTED = {
    "queue": ["put a", "put b", "put c", "    done a", "put d", "    done b", "    done c",
              "    done d"],
    "gather": ["quick finished after 0.1 s", "middle finished after 0.2 s",
               "slow finished after 0.3 s", "['SLOW', 'QUICK', 'MIDDLE']"],
    "timeout": ["slow_answer: finally runs, it was cancelled", "no answer within 0.1 s"],
    "cancel": ["worker: waiting", "worker: CancelledError at its await; cleaning up",
               "worker: finally", "main: the task was cancelled: True"],
}


def run(example, *args):
    done = subprocess.run([sys.executable, os.path.join("bench", "aio_coordination.py"), example, *args],
                          cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr[-800:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_each_example_prints_what_it_should_on_evloop_aio(example):
    assert run(example) == EXPECTED[example]


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_asyncios_own_loop_prints_the_same(example):
    assert run(example, "--loop", "asyncio") == EXPECTED[example]


@pytest.mark.parametrize("args,loop_module", [([], "evloop.aio"), (["--loop", "asyncio"], "asyncio")])
def test_the_loop_is_evloop_aio_unless_asked(monkeypatch, args, loop_module):
    seen = []

    async def probe():
        seen.append(type(asyncio.get_running_loop()).__module__)

    monkeypatch.setitem(aio_coordination.EXAMPLES, "probe", probe)
    monkeypatch.setattr(sys, "argv", ["aio_coordination.py", "probe", *args])
    aio_coordination.main()
    assert len(seen) == 1 and seen[0].startswith(loop_module), seen
