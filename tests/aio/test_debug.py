"""evloop.aio's debug mode (evloop/aio/debug.py): slow callbacks, task steps and
protocol reads logged in asyncio's words, where handles and tasks were made, and
coroutine origins tracked while the loop runs."""

import asyncio
import logging
import socket
import sys
import threading
import time

import pytest


pytestmark = pytest.mark.timeout(30)


def test_debug_mode_logs_a_slow_callback(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.001
    release = threading.Event()

    def slow():
        release.wait(0.05)  # longer than 1 ms: the timing is logged

    loop.call_soon(slow)
    loop.call_soon(lambda: None).cancel()  # a cancelled handle is skipped, not run
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(loop.stop)
        loop.run_forever()
    slow_records = [r for r in caplog.records if r.getMessage().startswith("Executing <Handle")]
    assert len(slow_records) == 1
    assert "slow" in slow_records[0].getMessage() and " took " in slow_records[0].getMessage()
    loop.set_debug(False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(slow)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert not [r for r in caplog.records if "Executing" in r.getMessage()]


def test_in_debug_mode_a_raising_callback_is_reported_with_where_it_was_made(loop, caplog):
    loop.set_debug(True)

    def fails():
        raise ZeroDivisionError("boom")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(fails)
        loop.call_soon(loop.stop)
        loop.run_forever()
    (record,) = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert "Object created at (most recent call last):" in record.getMessage()
    assert record.exc_info[0] is ZeroDivisionError


def test_debug_mode_names_a_slow_task_step_by_its_task(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1  # well apart from what a busy machine adds

    async def a_slow_step():
        time.sleep(0.15)

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_until_complete(a_slow_step())
    (record,) = [r for r in caplog.records if r.getMessage().startswith("Executing <Task")]
    assert record.getMessage().startswith("Executing <Task finished name=")
    assert "a_slow_step" in record.getMessage()


def test_debug_mode_times_a_protocol_s_reads_as_asyncio_times_its_reader_handles(loop, caplog):
    loop.set_debug(True)
    # Well apart, and only handles counted: under coverage on a busy machine a step of
    # main() once took 0.020 s against a bound of 0.02.
    loop.slow_callback_duration = 0.1

    class SlowReader(asyncio.Protocol):
        def data_received(self, data):
            time.sleep(0.15)

    async def main():
        a, b = socket.socketpair()
        transport, _ = await loop.create_connection(SlowReader, sock=a)
        b.send(b"x")
        await asyncio.sleep(0.3)
        transport.close()
        b.close()

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_until_complete(main())
    slow = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("Executing <Handle ")]
    assert len(slow) == 1, slow
    assert "_read" in slow[0], slow
    assert "Context.run" not in slow[0]


def test_in_debug_mode_handles_and_tasks_were_made_by_the_program_not_the_loop(loop):
    loop.set_debug(True)

    def made_here():
        return (loop.call_soon(int), loop.call_later(10, int), loop.call_at(loop.time() + 10, int),
                loop.call_soon_threadsafe(int))

    for made in made_here():
        assert made._source_traceback[-1].name == "made_here"
        made.cancel()

    async def main():
        task = loop.create_task(asyncio.sleep(0))
        await task
        return task
    assert loop.run_until_complete(main())._source_traceback[-1].name == "main"


def test_debug_mode_tracks_coroutine_origins_while_the_loop_runs(loop):
    before = sys.get_coroutine_origin_tracking_depth()

    async def depth():
        return sys.get_coroutine_origin_tracking_depth()
    assert loop.run_until_complete(depth()) == before
    loop.set_debug(True)
    assert loop.run_until_complete(depth()) == asyncio.constants.DEBUG_STACK_DEPTH
    assert sys.get_coroutine_origin_tracking_depth() == before

    async def leave_debug_mode():
        loop.set_debug(False)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return sys.get_coroutine_origin_tracking_depth()
    loop.set_debug(True)
    assert loop.run_until_complete(leave_debug_mode()) == before
