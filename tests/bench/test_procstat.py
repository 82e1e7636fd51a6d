"""bench.procstat: a model's CPU time includes every process it forked, exited ones too."""

import subprocess
import sys
import textwrap

import pytest

from bench import procstat

pytestmark = pytest.mark.timeout(60)

# A model that forks three busy children, as ForkingTCPServer forks one per client.
# Each burns BURN seconds of CPU after "go"; then the first has exited and been
# reaped (its time is in the parent's cutime), the second has exited unreaped (a
# zombie), and the third is still alive.  The parent itself stays idle.
FORKER = textwrap.dedent("""
    import os, sys, time

    BURN = float(sys.argv[1])

    def burn():
        end = time.process_time() + BURN
        while time.process_time() < end:
            pass

    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    children = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:
            os.read(go_r, 1)
            burn()
            os.write(done_w, b"!")
            if k == 2:
                time.sleep(60)  # alive until killed
            os._exit(0)
        children.append(pid)
    print("forked", flush=True)
    sys.stdin.readline()
    os.write(go_w, b"xxx")
    for _ in range(3):
        os.read(done_r, 1)
    os.waitpid(children[0], 0)  # reaped: its CPU moves to our cutime
    while open(f"/proc/{children[1]}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # exited, not reaped: a zombie
    print("burned", flush=True)
    sys.stdin.readline()
    os.kill(children[2], 9)
""")
BURN = 0.3


def test_cpu_time_counts_reaped_zombie_and_live_children():
    forker = subprocess.Popen([sys.executable, "-c", FORKER, str(BURN)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert forker.stdout.readline() == "forked\n"
        before = procstat.cpu_seconds(forker.pid)
        forker.stdin.write("go\n")
        forker.stdin.flush()
        assert forker.stdout.readline() == "burned\n"
        after = procstat.cpu_seconds(forker.pid)
        forker.stdin.write("end\n")
        forker.stdin.flush()
        forker.wait(10)
    finally:
        if forker.poll() is None:
            forker.kill()
            forker.wait()
    # Three children's BURN each, less a tick of rounding per process.
    assert after - before >= 3 * BURN - 0.05, (before, after)
