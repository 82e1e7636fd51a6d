"""evloop.loop.offload: a call runs in a pool, and its result comes back through the
loop's waker to run in the loop's own thread; `outcome` says what to call with it."""

import threading
from concurrent.futures import Future

import pytest

from evloop.loop.base import BaseLoop
from evloop.loop.offload import Offloader
from evloop.loop.offload import outcome


def test_offloader_refuses_unknown_kinds():
    loop = BaseLoop()
    try:
        with pytest.raises(ValueError):
            Offloader(loop, "fiber")
    finally:
        loop.close()


def test_offloader_brings_the_result_back_through_the_selector():
    loop = BaseLoop()
    offloader = Offloader(loop, "thread", 2)
    got = []

    def callback(future):
        got.append(future.result())
        loop.stop()

    try:
        offloader.submit(sum, ([1, 2, 3],), callback)
        loop.call_later(10, loop.stop)  # a bound, never reached when it works
        loop.run()
        assert got == [6] and offloader.pending == 0
    finally:
        offloader.close()
        loop.close()


def test_the_work_runs_in_the_pool_and_its_callback_in_the_loops_thread(selector):
    loop = BaseLoop(selector)
    offloader = Offloader(loop, "thread", 1)
    threads = {}

    def work():
        threads["work"] = threading.get_ident()

    def callback(future):
        threads["callback"] = threading.get_ident()
        loop.stop()

    try:
        offloader.submit(work, (), callback)
        assert offloader.pending == 1  # in flight until its callback has run
        loop.call_later(10, loop.stop)
        loop.run()
        assert threads["callback"] == threading.get_ident() != threads["work"]
        assert offloader.pending == 0
    finally:
        offloader.close()
        loop.close()


def test_close_cancels_the_work_not_yet_started():
    loop = BaseLoop()
    offloader = Offloader(loop, "thread", 1)
    release = threading.Event()
    try:
        running = offloader.submit(release.wait, (10,), lambda future: None)
        waiting = offloader.submit(print, ("never",), lambda future: None)
        offloader.close()  # does not wait for the running call
        assert waiting.cancelled() and not running.cancelled()
    finally:
        release.set()
        loop.close()


def test_the_default_pool_sizes():
    loop = BaseLoop()
    offloader = Offloader(loop, "thread")
    try:
        assert offloader.kind == "thread" and offloader.workers == 32  # waiting, not computing
    finally:
        offloader.close()
        loop.close()


def done_with(result=None, exception=None):
    future = Future()
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
    return future


def then(result):
    return b"then"


def error(exc):
    return b"error"


def test_outcome_of_a_result_is_then_with_it():
    assert outcome(done_with(42), then, error) == ("offloaded work", then, 42)
    assert outcome(done_with(42), then, None) == ("offloaded work", then, 42)


def test_outcome_of_an_exception_is_error_with_it_or_nobody():
    failure = KeyError("missing")
    assert outcome(done_with(exception=failure), then, error) == (
        "offloaded work's error callback", error, failure)
    assert outcome(done_with(exception=failure), then, None) == ("offloaded work", None, failure)


def test_an_exception_that_is_not_an_error_is_never_handed_to_error():
    """error(exc) takes Exceptions; a SystemExit from the pool stays nobody's to answer."""
    leaving = SystemExit(3)
    assert outcome(done_with(exception=leaving), then, error) == ("offloaded work", None, leaving)
