"""evloop.connection.handler_timers: the calls a handler asked for, once or every so often,
each run through its owner's runner (the owner's one error path), each cancellable, all
cancelled together when the owner ends."""

import pytest

from evloop.connection.handler_timers import HandlerTimers
from evloop.loop.base import BaseLoop
from evloop.testing.clock import ManualClock
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


# -- call_every ------------------------------------------------------------------------

def test_a_periodic_call_beats_on_the_loop_until_cancelled(owned):
    loop, timers, ran = owned
    beats = []

    def beat(label):
        beats.append(label)
        if len(beats) == 3:
            handle.cancel()  # from its own callback

    handle = timers.every(0.001, beat, ("tick",))
    assert len(timers) == 1 and loop.time() < handle.when() <= loop.time() + 0.001
    run_until(loop, lambda: len(beats) == 3)
    for _ in range(5):
        loop.run_once(0.002)
    assert beats == ["tick"] * 3 and handle.cancelled() and handle.when() is None
    assert len(timers) == 0 and loop.statistics().timers == 0
    assert {what for what, _, _ in ran} == {"a call_every callback"}


def test_periodic_beats_keep_to_their_grid_whatever_each_call_takes():
    """Drift-free: a beat is due at start + n * interval, not an interval after the
    last one ran; a late loop skips the beats it missed instead of bursting."""
    clock = ManualClock(start=100.0)
    when = []
    timers = HandlerTimers(clock, lambda what, callback, args: callback(*args))
    handle = timers.every(1.0, lambda: when.append(clock.time()), ())
    clock.advance(3.5)
    assert when == [101.0, 102.0, 103.0] and handle.when() == 104.0
    clock.now = 107.25  # the loop was away (a blocking call, a suspended machine)
    clock.advance(0)  # it comes back: one beat, not four
    assert when[3:] == [107.25] and handle.skipped == 3 and handle.when() == 108.0
    clock.advance(1.0)
    assert when[4:] == [108.0] and handle.beats == 5


def test_a_periodic_call_that_raises_goes_on_if_its_owner_lets_it():
    clock = ManualClock()
    reported = []

    def run(what, callback, args):
        try:
            callback(*args)
        except Exception as exc:
            reported.append((what, type(exc)))

    handle = HandlerTimers(clock, run).every(1, lambda: 1 / 0, ())
    clock.advance(2)
    assert reported == [("a call_every callback", ZeroDivisionError)] * 2
    assert not handle.cancelled()


def test_cancel_all_stops_periodic_calls_too(owned):
    loop, timers, ran = owned
    handle = timers.every(0.001, print, ("never",))
    timers.cancel_all()
    assert handle.cancelled() and loop.statistics().timers == 0
    loop.run_once(0.002)
    assert ran == []


@pytest.mark.parametrize("interval", [0, -1, float("inf"), float("nan"), "1", True, None])
def test_a_periodic_call_needs_an_interval_above_zero(owned, interval):
    loop, timers, ran = owned
    with pytest.raises(ValueError, match=r"call_every needs an interval of more than 0 seconds"):
        timers.every(interval, print, ())
    with pytest.raises(TypeError, match="call_every needs a callable, not int"):
        timers.every(1, 5, ())
    assert len(timers) == 0 and loop.statistics().timers == 0
