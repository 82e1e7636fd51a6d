"""scripts/cluster-demo on loopback: real HAProxy in front of two evloop servers,
one killed mid-load.  Needs Debian's haproxy, which .ci/run installs; without
it the test says so and skips."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="HAProxy is not installed (apt-get install haproxy; "
                                       ".ci/run does it as root)")


@pytest.mark.timeout(120)
def test_haproxy_takes_a_killed_backend_out_and_the_survivors_lose_nothing():
    run = subprocess.run([os.path.join(ROOT, "scripts", "cluster-demo"), "--loopback",
                          "--clients", "8", "--seconds", "4"], capture_output=True, text=True,
                         timeout=100, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "all 2 servers UP" in out and "killed evloop server 1" in out
    assert "haproxy marked it DOWN after" in out
    assert "all of them server 1's: yes" in out and "to server 1: 0" in out
    assert "wrong or lost: 0" in out and "result: as expected" in out
