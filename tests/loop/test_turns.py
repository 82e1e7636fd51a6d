"""evloop.loop.turns: one turn (the wait, readers then writers, the due timers and the
queue, the turn's end), its phases, and asyncio's order for evloop.aio."""

import socket

import pytest


from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.base import BaseLoop
from evloop.loop.instruments import Instrument
from evloop.loop.turns import CALLBACKS
from evloop.loop.turns import IO
from evloop.loop.turns import TURN_END


class Waits(Instrument):
    """Records the timeout of each wait the loop asks its backend for."""

    def __init__(self):
        self.timeouts = []

    def before_poll(self, timeout):
        self.timeouts.append(timeout)


def wait_asked(loop, waits, timeout):
    """The timeout the loop gives its backend for run_once(timeout); the waker is
    made readable first, so that the wait itself returns at once."""
    loop.wake()
    loop.run_once(timeout)
    return waits.timeouts[-1]


def test_reader_runs_before_writer_and_a_removed_writer_is_skipped(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    seen = []

    def reader():
        seen.append("r")
        a.recv(10)
        loop.remove_writer(a)  # ae.c re-checks between the two: so do we

    loop.add_reader(a, reader)
    loop.add_writer(a, lambda: seen.append("w"))
    assert loop.watching(a.fileno()) == EVENT_READ | EVENT_WRITE
    b.send(b"x")  # readable and writable in the same turn
    loop.run_once()
    assert seen == ["r"]
    loop.add_writer(a, lambda: seen.append("w"))
    loop.run_once()
    assert seen == ["r", "w"]
    loop.remove_reader(a)
    loop.remove_writer(a)
    loop.close()
    a.close()
    b.close()


def test_a_reader_removed_by_an_earlier_callback_is_not_called(selector):
    loop = BaseLoop(selector)
    pairs = [socket.socketpair() for _ in range(2)]
    calls = []

    def make_reader(me, other):
        def reader():
            calls.append(me)
            pairs[me][0].recv(10)
            loop.remove_reader(pairs[other][0])  # e.g. a chat line aborting a slow reader
        return reader

    loop.add_reader(pairs[0][0], make_reader(0, 1))
    loop.add_reader(pairs[1][0], make_reader(1, 0))
    for _, b in pairs:
        b.send(b"x")
    loop.run_once()
    assert len(calls) == 1  # whichever came first removed the other
    for a, b in pairs:
        loop.remove_reader(a)
        a.close()
        b.close()
    loop.close()


def test_errors_and_hangups_reach_whoever_watches(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    seen = []
    loop.add_reader(a, lambda: seen.append(a.recv(10)))
    b.close()  # EOF: readable, with b"" to read
    loop.run_once()
    assert seen == [b""]
    loop.remove_reader(a)
    loop.close()
    a.close()


def test_call_soon_runs_in_order_after_events(selector):
    loop = BaseLoop(selector)
    order = []
    loop.call_soon(order.append, 1)
    loop.call_soon(order.append, 2)
    loop.run_once()
    assert order == [1, 2]
    loop.close()


def test_callbacks_queued_by_callbacks_wait_a_turn(selector):
    loop = BaseLoop(selector)
    order = []
    loop.call_soon(lambda: loop.call_soon(order.append, "later"))
    loop.run_once(timeout=None)  # would wait for ever, but a callback is queued: it looks
    assert order == []
    loop.run_once(timeout=None)
    assert order == ["later"]
    loop.close()


def test_the_turns_end_comes_after_the_queue_once_and_a_raise_costs_only_itself(selector, caplog):
    loop = BaseLoop(selector)
    order = []
    seen_running = []
    loop.call_soon(lambda: seen_running.append(loop.phase))
    loop.call_soon(order.append, "queued")
    loop.at_turn_end(lambda: order.append("end 1"))
    loop.at_turn_end(lambda: 1 / 0)
    loop.at_turn_end(lambda: (order.append("end 2"), loop.at_turn_end(lambda: order.append("next"))))
    # Asked for outside a turn: the first wait only looks, it must not block.
    loop.run_once(timeout=None)
    assert order == ["queued", "end 1", "end 2"] and seen_running == [CALLBACKS]
    assert loop.phase == IO  # between turns
    assert "the turn-end callback" in caplog.text and "ZeroDivisionError" in caplog.text
    loop.run_once(timeout=None)  # what a turn-end callback asked for: the next turn's end
    assert order == ["queued", "end 1", "end 2", "next"]
    loop.close()


def test_the_wait_is_bounded_by_the_nearest_live_timer_and_nothing_else(selector):
    loop = BaseLoop(selector)
    waits = Waits()
    loop.add_instrument(waits)
    assert wait_asked(loop, waits, None) is None  # no timer: as long as it takes
    assert wait_asked(loop, waits, 2.5) == 2.5
    timer = loop.call_later(10, lambda: None)
    assert 0 < wait_asked(loop, waits, None) <= 10
    assert wait_asked(loop, waits, 2.5) == 2.5  # the caller's limit is nearer
    timer.cancel()
    assert wait_asked(loop, waits, None) is None  # a cancelled timer bounds nothing
    near, far = loop.call_later(1, print), loop.call_later(10, print)
    near.cancel()
    assert 1 < wait_asked(loop, waits, None) <= 10  # the nearest live one, under a cancelled one
    far.cancel()
    loop.call_soon(print)
    assert wait_asked(loop, waits, None) == 0  # a callback is queued: only look
    loop.call_later(-1, lambda: None)
    assert wait_asked(loop, waits, None) == 0  # due already: only look
    loop.close()


def test_run_once_waits_at_most_its_timeout_and_never_past_a_timer(selector):
    loop = BaseLoop(selector)
    fired = []
    start = loop.time()
    loop.run_once()  # the default only looks
    loop.run_once(timeout=0.05)  # nothing to do: returns after its timeout
    waited = loop.time() - start
    assert 0.04 <= waited < 5, waited
    loop.call_later(0.05, fired.append, "timer")
    while not fired:  # None: as long as it takes, which is until the timer
        loop.run_once(timeout=None)
    assert fired == ["timer"] and loop.time() - start < 5
    loop.close()


def test_the_phase_says_which_part_of_the_turn_runs(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    seen = []
    loop.add_reader(a, lambda: (a.recv(10), seen.append(("reader", loop.phase))))
    loop.call_later(0, lambda: seen.append(("timer", loop.phase)))
    loop.call_soon(lambda: seen.append(("call_soon", loop.phase)))
    loop.at_turn_end(lambda: seen.append(("turn end", loop.phase)))
    b.send(b"x")
    assert loop.phase == IO
    loop.run_once()
    assert seen == [("reader", IO), ("call_soon", CALLBACKS), ("timer", CALLBACKS),
                    ("turn end", TURN_END)]
    assert loop.phase == IO
    loop.close()
    a.close()
    b.close()


def test_run_once_queue_first_takes_asyncio_s_order(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    order = []
    loop.add_reader(a, lambda: (a.recv(10), order.append("reader"),
                                loop.call_soon(order.append, "the reader's")))
    b.send(b"x")
    loop.call_soon(lambda: (order.append("queued"), loop.call_soon(order.append, "its child")))
    loop.call_later(0, order.append, "due")
    loop.run_once_queue_first(timeout=None)
    # BaseEventLoop._run_once: the wait, what was queued before it, the descriptors,
    # the timers due; what any of them queued runs next turn, in the order queued.
    assert order == ["queued", "reader", "due"]
    loop.run_once_queue_first(timeout=None)
    assert order == ["queued", "reader", "due", "its child", "the reader's"]
    loop.close()
    a.close()
    b.close()


def test_in_asyncio_s_order_a_timer_set_this_turn_waits_for_the_next_however_soon(selector):
    loop = BaseLoop(selector)
    order = []

    def sets_a_timer_then_queues():
        loop.call_later(0, order.append, "timer, due at once")
        loop.call_soon(order.append, "queued after it")

    loop.call_soon(sets_a_timer_then_queues)
    loop.run_once(0, asyncio_order=True)
    assert order == []
    loop.run_once(0, asyncio_order=True)
    # As asyncio's: the due timers were taken off the heap before the turn ran anything.
    assert order == ["queued after it", "timer, due at once"]
    loop.close()


def test_ctrl_c_in_a_turn_end_callback_leaves_the_rest_for_the_next_turn_end(selector):
    loop = BaseLoop(selector)
    ran = []

    def interrupted():
        raise KeyboardInterrupt

    for callback in (lambda: ran.append("first"), interrupted, lambda: ran.append("third")):
        loop.at_turn_end(callback)
    with pytest.raises(KeyboardInterrupt):
        loop.run_once(0)
    assert ran == ["first"]
    loop.run_once(0)
    assert ran == ["first", "third"]
    loop.close()
