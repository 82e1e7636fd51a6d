"""A lenprefix server whose workers die as they start while a flag file exists:
a crash loop, for the supervisor's backoff (tests/supervisor/test_supervisor.py)."""

import os

from evloop.handlers.lenprefix import LenPrefixHandler


class DiesAtStart(LenPrefixHandler):
    @classmethod
    def server_started(cls, server):
        if os.path.exists(os.environ.get("EVLOOP_TEST_DIE", "/nonexistent")):
            os._exit(3)  # as a crash in a C extension would: no cleanup, no log
