"""evloop.loop.timers: the nearest deadline is always on top, a cancel is a mark, and
cancelled timers are compacted away before they pile up."""

import time

from evloop.loop.base import BaseLoop
from evloop.loop.timers import MIN_CANCELLED_TO_COMPACT
from evloop.loop.timers import Timer
from evloop.loop.timers import TimerHeap


def due_now(heap):
    """What pop_due hands over now, as the callbacks' first arguments."""
    return [timer.args[0] for timer in heap.pop_due(time.monotonic())]


def test_timers_fire_in_deadline_order_and_cancel(selector):
    loop = BaseLoop(selector)
    fired = []
    loop.call_later(0.03, fired.append, "b")
    loop.call_later(0.01, fired.append, "a")
    dropped = loop.call_later(0.02, fired.append, "cancelled")
    dropped.cancel()
    loop.call_later(0.05, loop.stop)
    loop.run()
    assert fired == ["a", "b"]
    loop.close()


def test_pop_due_takes_only_what_is_due_nearest_first_without_the_cancelled():
    heap = TimerHeap()
    heap.push(-1.0, print, ("second",))
    heap.push(-2.0, print, ("first",))
    heap.push(-1.5, print, ("cancelled",)).cancel()
    heap.push(60.0, print, ("not due",))
    assert due_now(heap) == ["first", "second"]
    assert len(heap) == 1 and heap.cancelled == 0  # the cancelled one left with the due ones
    assert due_now(heap) == []


def test_equal_deadlines_run_in_the_order_they_were_made():
    heap = TimerHeap()
    when = time.monotonic() - 1
    for name in ("one", "two", "three"):
        heap.push_at(Timer(when, print, (name,)))
    assert due_now(heap) == ["one", "two", "three"]


def test_next_timeout_is_the_nearest_live_deadline_never_negative():
    heap = TimerHeap()
    assert heap.next_timeout() is None
    near = heap.push(5.0, print, ())
    heap.push(50.0, print, ())
    assert 4.0 < heap.next_timeout() <= 5.0
    near.cancel()  # the top is cancelled: the next live one counts, and the mark is dropped
    assert 45.0 < heap.next_timeout() <= 50.0 and heap.cancelled == 0
    heap.push(-3.0, print, ())
    assert heap.next_timeout() == 0  # passed: wait no more, and never a negative wait


def test_a_cancel_is_counted_once_and_len_counts_the_live_ones():
    heap = TimerHeap()
    timer = heap.push(10.0, print, ())
    heap.push(10.0, print, ())
    timer.cancel()
    timer.cancel()
    assert timer.cancelled() and heap.cancelled == 1
    assert len(heap) == 1 and len(heap.timers) == 2  # marked, still in the heap


def test_cancelled_timers_are_compacted_past_the_minimum_and_half_the_heap():
    heap = TimerHeap()
    heap.push(100, print, ())
    for _ in range(MIN_CANCELLED_TO_COMPACT):
        heap.push(100, print, ()).cancel()
    assert len(heap.timers) == MIN_CANCELLED_TO_COMPACT + 1  # not past the minimum yet
    heap.push(100, print, ()).cancel()
    assert len(heap.timers) == 1 and heap.cancelled == 0 and len(heap) == 1
    # Past the minimum but not half of the heap: a heap of live timers is left alone.
    for _ in range(3 * MIN_CANCELLED_TO_COMPACT):
        heap.push(100, print, ())
    for _ in range(MIN_CANCELLED_TO_COMPACT + 1):
        heap.push(100, print, ()).cancel()
    assert heap.cancelled == MIN_CANCELLED_TO_COMPACT + 1
    assert len(heap.timers) == 4 * MIN_CANCELLED_TO_COMPACT + 2


def test_cancelled_timers_do_not_pile_up_under_a_loop():
    loop = BaseLoop()
    keep = loop.call_later(100, print)
    for _ in range(1000):  # a handler re-arming its own timeout on every message
        loop.call_later(100, print).cancel()
    assert loop.statistics().timers == 1
    keep.cancel()
    assert loop.statistics().timers == 0
    loop.close()


def test_the_heap_stays_bounded_when_a_timeout_is_rearmed_per_message():
    heap = TimerHeap()
    heap.push(100, print, ())
    for _ in range(1000):
        heap.push(100, print, ()).cancel()
    assert len(heap.timers) <= 2 * MIN_CANCELLED_TO_COMPACT + 2
    assert len(heap) == 1


def test_clear_drops_every_timer_in_place():
    heap = TimerHeap()
    timers = heap.timers
    heap.push(1, print, ())
    heap.push(2, print, ()).cancel()
    heap.clear()
    assert heap.timers is timers and timers == [] and heap.cancelled == 0
    assert heap.next_timeout() is None


def test_a_timer_says_what_it_will_call_and_when():
    heap = TimerHeap()
    before = time.monotonic()
    timer = heap.push(2.0, divmod, (7, 2))
    assert before + 2.0 <= timer.when() <= time.monotonic() + 2.0
    assert (timer.callback, timer.args, timer.cancelled()) == (divmod, (7, 2), False)
    ran = []
    Timer(0.0, ran.append, ("run",))._run()  # how the loop runs a timer and a Handle alike
    assert ran == ["run"]
