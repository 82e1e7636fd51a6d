"""Deliberately broken loops, to prove that the harness reports what it should.

Each is asyncio's SelectorEventLoop with one fault; tests/features/test_conformance.py runs a
small suite against each and checks the report.  None of them is for real use.

- `NoServerLoop`: create_server() raises NotImplementedError, so every test that
  starts a server fails (test_server, test_buffered_proto).
- `HangingLoop`: create_server() blocks the thread for ten minutes, so the worker's
  per-test alarm must end it, and the runner must go on with the next test.
- `ForeignPolicy`: a policy whose loops are plain SelectorEventLoops, for checking that
  a run which does not really use the loop under test is caught.
"""

import asyncio
import time

__all__ = ["NoServerLoop", "HangingLoop", "NoServerPolicy", "HangingPolicy", "ForeignPolicy"]

HANG_SECONDS = 600


class NoServerLoop(asyncio.SelectorEventLoop):
    async def create_server(self, *args, **kwargs):
        raise NotImplementedError("NoServerLoop cannot serve")


class HangingLoop(asyncio.SelectorEventLoop):
    async def create_server(self, *args, **kwargs):
        time.sleep(HANG_SECONDS)
        raise AssertionError("HangingLoop woke up")


class NoServerPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = NoServerLoop


class HangingPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = HangingLoop


class ForeignPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = asyncio.SelectorEventLoop
