"""A lenprefix server whose workers are slow to start while a flag file exists:
each waits, just after its fork, until the flag is gone.  For the supervisor's
ready deadlines and its signals to starting workers
(tests/supervisor/test_supervisor.py)."""

import os
import time

from evloop.handlers.lenprefix import LenPrefixHandler

FLAG = os.environ.get("EVLOOP_TEST_SLOW", "/nonexistent")
LONGEST = 60.0  # a test that forgets its flag still ends


def wait_while_flagged():
    deadline = time.monotonic() + LONGEST
    while os.path.exists(FLAG) and time.monotonic() < deadline:
        time.sleep(0.02)


# Imported by the supervisor before it forks: every worker forked from now on waits.
os.register_at_fork(after_in_child=wait_while_flagged)


class SlowStart(LenPrefixHandler):
    pass
