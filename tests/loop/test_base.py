import logging
import os
import selectors
import signal
import socket
import threading

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.backends import FD_SETSIZE
from evloop.loop.backends import FdLimitError
from evloop.loop.backends import SelectorsBackend
from evloop.loop.base import BaseLoop
from evloop.loop.base import CALLBACKS
from evloop.loop.base import IO
from evloop.loop.base import TURN_END
from evloop.loop.timers import MIN_CANCELLED_TO_COMPACT
from evloop.loop.timers import Timer


def run_until(loop, predicate, turns=200):
    for _ in range(turns):
        if predicate():
            return
        loop.run_once()
    raise AssertionError("condition not reached")


def test_readers_and_writers_are_called_while_installed(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    seen = []
    loop.add_writer(a, lambda: seen.append("w"))
    assert loop.watching(a) == EVENT_WRITE
    loop.run_once()
    assert seen == ["w"]
    loop.remove_writer(a)
    loop.add_reader(a, lambda: seen.append("r"))
    assert loop.watching(a) == EVENT_READ
    b.send(b"x")
    loop.run_once()
    assert seen == ["w", "r"]
    loop.remove_reader(a)
    assert loop.watching(a) == 0 and loop.statistics().descriptors == 1  # the waker
    seen.clear()
    loop.call_later(0.01, lambda: None)
    loop.run_once()
    assert seen == []
    loop.close()
    a.close()
    b.close()


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


def test_timeout_is_none_without_timers(selector):
    loop = BaseLoop(selector)
    assert loop._next_timeout(None) is None
    assert loop._next_timeout(2.5) == 2.5
    timer = loop.call_later(10, lambda: None)
    assert 0 < loop._next_timeout(None) <= 10
    assert loop._next_timeout(2.5) == 2.5
    timer.cancel()
    assert loop._next_timeout(None) is None
    loop.close()


def test_signal_wakes_a_blocked_select(selector):
    loop = BaseLoop(selector)
    got = []

    def on_signal(signum):
        got.append(signum)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, on_signal)
    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    # The guard makes the test fail, not hang, if the signal does not wake select().
    guard = loop.call_later(5, lambda: (got.append("guard"), loop.stop()))
    loop.run()
    guard.cancel()
    assert got == [signal.SIGUSR1]
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_close_restores_signal_handlers_or_ignores_the_ones_asked():
    loop = BaseLoop()
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGUSR2, print)
    try:
        loop.close(ignore=(signal.SIGUSR2,))
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def test_a_forked_child_closing_its_copy_leaves_the_parents_loop_waking(selector):
    loop = BaseLoop(selector)
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append)
    pid = os.fork()
    if pid == 0:
        try:
            loop.close()  # with epoll, the parent's epoll instance: it must not be edited
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    os.kill(os.getpid(), signal.SIGUSR1)
    loop.run_once(5.0)  # returns at once if the waker is still watched
    loop.close()
    assert got == [signal.SIGUSR1]


def test_call_soon_threadsafe_wakes_the_loop(selector):
    loop = BaseLoop(selector)
    got = []
    threading.Timer(0.05, loop.call_soon_threadsafe, (lambda: (got.append("t"), loop.stop()),)).start()
    guard = loop.call_later(5, lambda: (got.append("guard"), loop.stop()))
    loop.run()
    guard.cancel()
    assert got == ["t"]
    loop.close()


def test_select_refuses_fds_beyond_fd_setsize():
    loop = BaseLoop("select")
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), FD_SETSIZE + 5)
    try:
        with pytest.raises(FdLimitError, match=f"FD_SETSIZE={FD_SETSIZE}.*--selector poll or epoll"):
            loop.add_reader(high, lambda: None)
        assert loop.watching(high) == 0
    finally:
        os.close(high)
        loop.close()
        a.close()
        b.close()


def test_poll_has_no_fd_setsize_limit():
    loop = BaseLoop("poll")
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), FD_SETSIZE + 5)
    try:
        loop.add_reader(high, lambda: None)
        assert loop.watching(high) == EVENT_READ
        loop.remove_reader(high)
    finally:
        os.close(high)
        loop.close()
        a.close()
        b.close()


def test_a_refusal_by_the_selector_leaves_the_callbacks_as_they_were(selector, monkeypatch):
    import errno
    from unittest import mock
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    refuse = mock.Mock(side_effect=OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(loop.backend, "register", refuse)
    with pytest.raises(OSError):
        loop.add_reader(a, lambda: None)  # e.g. epoll's max_user_watches reached
    assert loop.watching(a) == 0 and loop.statistics().readers == 1  # the waker
    monkeypatch.undo()
    reader = lambda: None  # noqa: E731
    loop.add_reader(a, reader)
    monkeypatch.setattr(loop.backend, "modify", refuse)
    with pytest.raises(OSError):
        loop.add_writer(a, lambda: None)
    assert loop.watching(a) == EVENT_READ and loop.statistics().writers == 0
    monkeypatch.undo()
    b.send(b"x")
    calls = []
    loop.remove_reader(a)
    loop.add_reader(a, lambda: calls.append(a.recv(1)))
    loop.run_once()
    assert calls == [b"x"]
    loop.remove_reader(a)
    loop.close()
    a.close()
    b.close()


# -- one error path: a callback that raises is reported, and the loop goes on --

def raiser(message):
    def callback(*args):
        raise ValueError(message)
    return callback


def test_a_raising_timer_is_logged_once_and_the_loop_goes_on(selector, caplog):
    loop = BaseLoop(selector)
    fired = []
    loop.call_later(0.01, raiser("timer"))
    loop.call_soon(raiser("soon"))
    loop.call_later(0.03, lambda: (fired.append("after"), loop.stop()))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        loop.run()  # before: the ValueError ended run()
    assert fired == ["after"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info[1].args[0] for r in errors] == ["soon", "timer"]
    assert all("raised" in r.getMessage() for r in errors)
    loop.close()


def test_a_raising_reader_or_writer_is_reported_and_others_still_run(selector):
    loop = BaseLoop(selector)
    reports = []
    loop.set_exception_handler(lambda lp, context: reports.append(context))
    (a, b), (c, d) = socket.socketpair(), socket.socketpair()
    seen = []
    loop.add_reader(a, raiser("reader"))
    loop.add_writer(a, raiser("writer"))
    loop.add_reader(c, lambda: seen.append(c.recv(10)))
    b.send(b"x")
    d.send(b"y")
    loop.run_once()
    assert seen == [b"y"]
    assert sorted(str(r["exception"]) for r in reports) == ["reader", "writer"]
    assert {r["message"].split(" raised")[0].split(" of ")[0] for r in reports} == {"the reader", "the writer"}
    assert loop.get_exception_handler() is not None
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    for sock in (a, b, c, d):
        loop.remove_reader(sock)
        loop.remove_writer(sock)
        sock.close()
    loop.close()


def test_a_broken_exception_handler_falls_back_to_logging(caplog):
    loop = BaseLoop()
    loop.set_exception_handler(raiser("handler"))
    loop.call_soon(raiser("callback"))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        loop.run_once()
    messages = [r.getMessage() for r in caplog.records]
    assert any("exception handler raised" in m for m in messages)
    assert any("the callback" in m for m in messages)
    loop.close()


def test_keyboard_interrupt_still_leaves_run():
    loop = BaseLoop()

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    loop.close()


def test_statistics_count_what_the_loop_holds(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    base = loop.statistics()  # the waker: one descriptor, one reader
    assert (base.selector, base.descriptors, base.readers, base.writers) == (selector, 1, 1, 0)
    loop.add_reader(a, lambda: None)
    loop.add_writer(a, lambda: None)
    timer = loop.call_later(10, print)
    loop.call_soon(print)
    stats = loop.statistics()
    assert (stats.descriptors, stats.readers, stats.writers, stats.timers, stats.ready) == (2, 2, 1, 1, 1)
    timer.cancel()
    assert loop.statistics().timers == 0
    loop.remove_reader(a)
    loop.remove_writer(a)
    assert loop.statistics().descriptors == 1
    loop.close()
    assert loop.is_closed()
    loop.close()  # twice is harmless
    a.close()
    b.close()


def test_cancelled_timers_do_not_pile_up_in_the_heap():
    loop = BaseLoop()
    keep = loop.call_later(100, print)
    for _ in range(1000):  # a handler re-arming its own timeout on every message
        loop.call_later(100, print).cancel()
    assert len(loop._timers.timers) <= 2 * MIN_CANCELLED_TO_COMPACT + 2
    assert loop.statistics().timers == 1
    keep.cancel()
    assert loop._next_timeout(None) is None and loop.statistics().timers == 0
    loop.close()


def test_any_selectors_class_can_be_a_backend():
    """kqueue and /dev/poll come through SelectorsBackend; PollSelector stands in here."""
    loop = BaseLoop(SelectorsBackend(selectors.PollSelector))
    assert loop.selector_name == "poll"
    a, b = socket.socketpair()
    seen = []
    loop.add_reader(a, lambda: seen.append(a.recv(10)))
    loop.add_writer(a, lambda: seen.append("w"))
    b.send(b"x")
    loop.run_once()
    assert seen == [b"x", "w"]
    loop.remove_writer(a)
    loop.remove_reader(a)
    loop.remove_reader(a)  # twice is harmless
    loop.close()
    a.close()
    b.close()


def test_readers_and_writers_take_arguments(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    seen = []
    loop.add_reader(a, lambda sock, tag: seen.append((tag, sock.recv(10))), a, "r")
    loop.add_writer(a.fileno(), seen.append, "w")
    b.send(b"x")
    loop.run_once(timeout=1.0)
    assert seen == [("r", b"x"), "w"]
    loop.remove_reader(a)
    loop.remove_writer(a)
    assert loop.statistics().descriptors == 1  # the waker only
    a.close(), b.close(), loop.close()


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


def test_a_loop_above_hands_its_own_handles_to_the_queue_and_the_heap(selector):
    """What evloop.aio uses: enqueue, push_timer and timer_cancelled take objects
    made elsewhere (asyncio's Handles), run with _run() like the loop's own."""
    loop = BaseLoop(selector)
    ran = []
    queued = Timer(0.0, ran.append, ("queued",))
    loop.enqueue(queued)
    due = Timer(loop.time(), ran.append, ("due",))
    loop.push_timer(due)
    dropped = Timer(loop.time(), ran.append, ("dropped",))
    loop.push_timer(dropped)
    dropped._cancelled = True  # as asyncio's TimerHandle.cancel() does, then tells the loop
    loop.timer_cancelled()
    assert loop.statistics().timers == 1 and loop.statistics().ready == 1
    loop.run_once()
    assert ran == ["queued", "due"]  # the due timers join the queue, after what it holds
    loop.close()


def test_run_once_queue_first_runs_the_queue_before_the_wait(selector):
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    order = []
    loop.add_reader(a, lambda: (a.recv(10), order.append("reader")))
    b.send(b"x")
    loop.call_soon(lambda: (order.append("queued"), loop.call_soon(order.append, "its child")))
    loop.run_once_queue_first(timeout=None)
    # asyncio's order: the queue, then the descriptors; what the queue asked for runs next turn
    assert order == ["queued", "reader"]
    loop.run_once()
    assert order == ["queued", "reader", "its child"]
    loop.close()
    a.close()
    b.close()


def test_discard_pending_drops_what_would_run_and_close_keeps_it(selector):
    loop = BaseLoop(selector)
    loop.call_soon(lambda: None)
    loop.call_later(10, lambda: None)
    loop.at_turn_end(lambda: None)
    loop.close()
    stats = loop.statistics()
    assert (stats.ready, stats.timers) == (1, 1)  # a Loop's close keeps them for whoever holds it
    loop.discard_pending()
    stats = loop.statistics()
    assert (stats.ready, stats.timers) == (0, 0)


def test_wake_returns_a_wait_from_another_thread(selector):
    loop = BaseLoop(selector)
    assert loop.watching(loop.waker_fd) == EVENT_READ
    threading.Timer(0.05, loop.wake).start()
    loop.run_once(timeout=30)  # returns when woken, long before the timeout
    loop.close()


def test_remove_signal_handler_gives_the_signal_back():
    loop = BaseLoop()
    before = signal.getsignal(signal.SIGUSR1)
    loop.add_signal_handler(signal.SIGUSR1, lambda signum: None)
    assert signal.getsignal(signal.SIGUSR1) is not before
    loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) is before
    loop.close()
