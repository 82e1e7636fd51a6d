"""What evloop.aio queues (evloop/aio/handles.py): asyncio's Handles, and debug
mode's SlowCallbacks instrument."""

import asyncio
import logging
import threading

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


def test_the_loop_hands_out_asyncios_handle_types_and_counts_a_cancelled_timer(loop):
    handle = loop.call_soon(int)
    timer = loop.call_later(10, int)
    assert isinstance(handle, asyncio.Handle) and isinstance(timer, asyncio.TimerHandle)
    assert timer.when() == pytest.approx(loop.time() + 10, abs=1)
    assert "int" in repr(handle)
    assert loop.statistics().timers == 1
    timer.cancel()
    assert timer.cancelled() and loop.statistics().timers == 0
    loop.set_debug(True)  # now asyncio's own, which remember where they were made
    assert type(loop.call_soon(int)) is asyncio.Handle
    assert type(loop.call_later(10, int)) is asyncio.TimerHandle
