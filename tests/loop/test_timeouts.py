"""evloop.loop.timeouts: timeouts of one length fire oldest first, once, behind one timer;
a disarmed one never fires, and a callback that raises costs only itself."""

import socket
import time

import pytest

from evloop.loop.base import BaseLoop
from evloop.loop.timeouts import Timeouts


def run_until(loop, condition, limit=2.0):
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:
        loop.run_once(0.01)


@pytest.fixture
def loop():
    loop = BaseLoop()
    yield loop
    loop.close()


def test_due_timeouts_fire_oldest_first_once_each_and_a_disarmed_one_never(loop):
    fired = []
    queue = loop.timeouts(0.05, fired.append)
    for key in ("a", "b", "c", "d"):
        queue.arm(key)
    queue.disarm("c")
    assert len(queue) == 3 and queue.deadline("c") is None
    run_until(loop, lambda: len(fired) >= 3)
    loop.run_once(0.1)
    assert fired == ["a", "b", "d"] and len(queue) == 0


def test_a_timeout_does_not_fire_before_its_length_has_passed(loop):
    fired = []
    queue = loop.timeouts(0.2, lambda key: fired.append(time.monotonic()))
    armed = time.monotonic()
    queue.arm("late")
    run_until(loop, lambda: fired)
    assert fired and fired[0] - armed >= 0.2


def test_one_timer_on_the_heap_waits_for_the_oldest(loop):
    queue = loop.timeouts(60, print)
    for key in range(1000):
        queue.arm(key)
    assert len(loop._heap) == 1  # one timer for the whole queue
    assert loop.statistics().timers == 1000  # what is armed, not the timer behind it
    for key in range(1000):
        queue.disarm(key)
    assert loop.statistics().timers == 0


def test_arming_again_starts_the_timeout_over_at_the_back(loop):
    fired = []
    queue = loop.timeouts(0.1, fired.append)
    queue.arm("first")
    queue.arm("second")
    first_deadline = queue.deadline("first")
    time.sleep(0.02)
    queue.arm("first")
    assert queue.deadline("first") > first_deadline
    assert list(queue.entries) == ["second", "first"]
    run_until(loop, lambda: len(fired) == 2)
    assert fired == ["second", "first"]


def test_the_oldest_disarmed_leaves_the_timer_to_fire_for_nothing_then_wait_again(loop):
    fired = []
    queue = loop.timeouts(0.05, fired.append)
    queue.arm("gone")
    time.sleep(0.03)
    queue.arm("kept")
    queue.disarm("gone")
    run_until(loop, lambda: fired)
    assert fired == ["kept"]
    assert queue.timer is None and loop.statistics().timers == 0


def test_a_callback_that_raises_is_reported_and_the_others_still_fire(loop):
    fired, reported = [], []

    def callback(key):
        if key == "bad":
            raise RuntimeError("boom")
        fired.append(key)

    loop.set_exception_handler(lambda loop_, context: reported.append(context))
    queue = loop.timeouts(0.01, callback)
    for key in ("one", "bad", "two"):
        queue.arm(key)
    run_until(loop, lambda: len(fired) == 2)
    assert fired == ["one", "two"]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)


def test_a_callback_may_arm_again_in_its_own_queue(loop):
    fired = []

    def callback(key):
        fired.append(key)
        if len(fired) < 3:
            queue.arm(key)

    queue = loop.timeouts(0.01, callback)
    queue.arm("again")
    run_until(loop, lambda: len(fired) == 3)
    loop.run_once(0.05)
    assert fired == ["again"] * 3 and len(queue) == 0


def test_the_loop_keeps_one_queue_per_length_and_callback(loop):
    assert loop.timeouts(5, print) is loop.timeouts(5, print)
    assert loop.timeouts(5, print) is not loop.timeouts(6, print)
    assert loop.timeouts(5, print) is not loop.timeouts(5, repr)
    assert isinstance(loop.timeouts(5, print), Timeouts)


def test_discard_pending_drops_the_queued_timeouts(loop):
    fired = []
    loop.timeouts(0.01, fired.append).arm("dropped")
    loop.discard_pending()
    assert loop.statistics().timers == 0
    time.sleep(0.02)
    loop.run_once(0.01)
    assert fired == []
    loop.timeouts(0.01, fired.append).arm("after")  # a new queue, with a timer of its own
    run_until(loop, lambda: fired)
    assert fired == ["after"]


def test_the_loop_lets_go_of_a_queue_its_timer_finds_empty(loop):
    fired = []
    for length in (0.01, 0.02, 0.03):  # a handler that sets a new length each time
        loop.timeouts(length, fired.append).arm(length)
    kept = loop.timeouts(60, fired.append)
    kept.arm("kept")
    run_until(loop, lambda: len(fired) == 3)
    loop.run_once(0.05)
    assert list(loop._timeouts.values()) == [kept]
    assert loop.timeouts(0.01, fired.append) is not None  # made again when asked


def test_many_lengths_leave_a_bounded_number_of_queues_and_timers(loop):
    for n in range(2000):  # a handler that sets a new length on every connection
        queue = loop.timeouts(100 + n / 1000, print)
        queue.arm(n)
        queue.disarm(n)
    assert len(loop._timeouts) <= 2 * 64 and len(loop._heap) - loop._timers.cancelled <= 2 * 64
    assert loop.statistics().timers == 0


def test_an_entry_disarmed_or_armed_again_by_an_earlier_callback_is_not_called(loop):
    fired = []

    def callback(key):
        fired.append(key)
        if key == "first":
            queue.disarm("second")  # its connection closed meanwhile
            queue.arm("third")  # its clock starts over

    queue = loop.timeouts(0.05, callback)
    for key in ("first", "second", "third"):
        queue.arm(key)
    run_until(loop, lambda: fired, limit=1.0)
    assert fired == ["first"] and queue.deadline("third") is not None
    run_until(loop, lambda: len(fired) == 2, limit=1.0)
    assert fired == ["first", "third"]


def test_what_is_still_due_after_a_keyboard_interrupt_fires_at_the_next_turn(loop):
    fired = []

    def callback(key):
        fired.append(key)
        if key == "interrupts":
            raise KeyboardInterrupt

    queue = loop.timeouts(0.01, callback)
    queue.arm("interrupts")
    queue.arm("waits")
    time.sleep(0.02)
    with pytest.raises(KeyboardInterrupt):
        loop.run_once(0.05)
    run_until(loop, lambda: "waits" in fired)
    assert fired == ["interrupts", "waits"]


def test_statistics_count_an_armed_timeout_while_its_timer_is_off_the_heap(loop):
    seen = []
    a, b = socket.socketpair()
    try:
        b.send(b"x")
        loop.add_reader(a.fileno(), lambda: seen.append(loop.statistics().timers))
        queue = loop.timeouts(0.01, print)
        queue.arm("pending")
        time.sleep(0.02)
        # asyncio's order: the due timers leave the heap before the reader runs, and the
        # queue's runs after it; "pending" is armed all along.
        loop.run_once(0, asyncio_order=True)
        assert seen == [1]
    finally:
        loop.remove_reader(a.fileno())
        a.close()
        b.close()


def test_a_dropped_queue_kept_by_its_user_does_not_drop_the_newer_one(loop):
    old = loop.timeouts(0.01, print)
    loop._sweep_timeouts()  # empty: the loop lets go of it
    new = loop.timeouts(0.01, print)
    assert new is not old
    old.arm("x")  # its user still holds it: it works on its own
    old.disarm("x")
    time.sleep(0.02)
    loop.run_once(0.01)  # old's timer finds it empty
    assert old.timer is None and loop.timeouts(0.01, print) is new
