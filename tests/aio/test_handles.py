"""What evloop.aio queues (evloop/aio/handles.py): asyncio's Handles, made cheaply."""

import asyncio

import pytest


pytestmark = pytest.mark.timeout(30)


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


