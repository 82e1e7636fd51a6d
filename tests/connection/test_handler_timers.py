"""evloop.connection.handler_timers: the calls a handler asked for, each run through its
owner's runner (the owner's one error path), each cancellable, all cancelled together
when the owner ends."""

import pytest

from evloop.connection.handler_timers import HandlerTimers
from evloop.loop.base import BaseLoop
from tests.conftest import run_until


@pytest.fixture
def owned(selector):
    """HandlerTimers on a loop, whose runner records (what, callback, args) and runs it."""
    loop = BaseLoop(selector)
    ran = []

    def run(what, callback, args):
        ran.append((what, callback, args))
        callback(*args)

    yield loop, HandlerTimers(loop, run), ran
    loop.close()


def test_a_call_runs_once_through_the_owners_runner(owned):
    loop, timers, ran = owned
    fired = []
    handle = timers.add(0.01, fired.append, ("tick",))
    assert len(timers) == 1 and not handle.cancelled()
    assert loop.time() < handle.when() <= loop.time() + 0.01
    run_until(loop, lambda: fired)
    assert fired == ["tick"] and ran == [("a call_later callback", fired.append, ("tick",))]
    assert len(timers) == 0 and handle.when() is None  # done: no longer pending
    for _ in range(3):
        loop.run_once()
    assert fired == ["tick"]


def test_cancel_drops_one_call_and_its_timer_on_the_loop(owned):
    loop, timers, ran = owned
    dropped = timers.add(0, print, ("never",))
    kept = timers.add(60, print, ("later",))
    dropped.cancel()
    dropped.cancel()  # twice: harmless
    assert dropped.cancelled() and dropped.when() is None and len(timers) == 1
    assert loop.statistics().timers == 1
    for _ in range(3):
        loop.run_once()
    assert ran == [] and not kept.cancelled()


def test_cancel_all_cancels_every_pending_call(owned):
    loop, timers, ran = owned
    handles = [timers.add(0, print, (n,)) for n in range(3)]
    timers.cancel_all()
    assert all(handle.cancelled() for handle in handles) and len(timers) == 0
    assert loop.statistics().timers == 0
    loop.run_once()
    assert ran == []


def test_the_owners_runner_decides_what_a_raise_costs(selector):
    loop = BaseLoop(selector)
    reported = []

    def run(what, callback, args):
        try:
            callback(*args)
        except Exception as exc:
            reported.append((what, type(exc)))

    timers = HandlerTimers(loop, run)
    timers.add(0, lambda: 1 / 0, ())
    after = []
    timers.add(0, after.append, ("still runs",))
    run_until(loop, lambda: after)
    assert reported == [("a call_later callback", ZeroDivisionError)] and after == ["still runs"]
    loop.close()


def test_what_is_not_callable_is_refused_at_once(owned):
    loop, timers, ran = owned
    with pytest.raises(TypeError, match="call_later needs a callable, not str"):
        timers.add(1, "print", ())
    assert len(timers) == 0 and loop.statistics().timers == 0
