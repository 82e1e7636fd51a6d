"""evloop.testing.clock: a clock that moves only when the test says, running what falls due
in deadline order, each call seeing its own deadline as the time."""

import pytest

from evloop.testing import ManualClock

pytestmark = pytest.mark.timeout(10)


def test_time_stands_still_until_advanced():
    clock = ManualClock(start=5.0)
    assert clock.time() == 5.0 == clock.time()
    assert clock.advance(2.5) == 0 and clock.time() == 7.5


def test_calls_run_in_deadline_order_each_at_its_own_time():
    clock = ManualClock()
    seen = []
    clock.call_later(2, lambda: seen.append(("b", clock.time())))
    clock.call_later(1, lambda: seen.append(("a", clock.time())))
    clock.call_later(2, lambda: seen.append(("c", clock.time())))  # a tie: in the order set
    late = clock.call_later(3, seen.append, "late")
    assert clock.pending() == [1, 2, 2, 3] and late.when() == 3
    assert clock.advance(2) == 3
    assert seen == [("a", 1), ("b", 2), ("c", 2)] and clock.time() == 2
    late.cancel()
    assert late.cancelled() and clock.pending() == [] and clock.advance(5) == 0


def test_a_call_set_while_advancing_runs_if_due_within_the_same_advance():
    clock = ManualClock()
    seen = []

    def again(n):
        seen.append((n, clock.time()))
        clock.call_later(1, again, n + 1)

    clock.call_later(1, again, 1)
    clock.advance(3)
    assert seen == [(1, 1), (2, 2), (3, 3)] and clock.pending() == [4]


def test_a_raise_reaches_the_test_with_the_clock_at_its_deadline():
    clock = ManualClock()
    clock.call_later(1, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        clock.advance(10)
    assert clock.time() == 1
    with pytest.raises(ValueError, match="a clock does not go back"):
        clock.advance(-1)
