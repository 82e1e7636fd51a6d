import os
import signal
import socket
import threading

import pytest

from evloop.loop import EVENT_READ
from evloop.loop import EVENT_WRITE
from evloop.loop import FD_SETSIZE
from evloop.loop import FdLimitError
from evloop.loop import Loop
from evloop.loop import available_selectors
from evloop.loop import make_selector
from evloop.loop import selector_name


def run_until(loop, predicate, turns=200):
    for _ in range(turns):
        if predicate():
            return
        loop.run_once()
    raise AssertionError("condition not reached")


def test_selector_names_round_trip(selector):
    sel = make_selector(selector)
    assert selector_name(sel) == selector
    sel.close()
    assert available_selectors()[0] == "auto"


def test_unknown_selector_lists_the_choices():
    with pytest.raises(ValueError, match="choose from: auto"):
        make_selector("iocp")


def test_register_modify_unregister(selector):
    loop = Loop(selector)
    a, b = socket.socketpair()
    seen = []
    loop.register(a, EVENT_WRITE, lambda mask: seen.append(("w", mask)))
    loop.run_once()
    assert seen == [("w", EVENT_WRITE)]
    loop.modify(a, EVENT_READ, lambda mask: seen.append(("r", mask)))
    b.send(b"x")
    loop.run_once()
    assert seen[-1] == ("r", EVENT_READ)
    loop.unregister(a)
    seen.clear()
    loop.call_later(0.01, lambda: None)
    loop.run_once()
    assert seen == []
    loop.close()
    a.close()
    b.close()


def test_call_soon_runs_in_order_after_events(selector):
    loop = Loop(selector)
    order = []
    loop.call_soon(order.append, 1)
    loop.call_soon(order.append, 2)
    loop.run_once()
    assert order == [1, 2]
    loop.close()


def test_callbacks_queued_by_callbacks_wait_a_turn(selector):
    loop = Loop(selector)
    order = []
    loop.call_soon(lambda: loop.call_soon(order.append, "later"))
    loop._running = True
    loop.run_once()
    assert order == []
    loop.run_once()
    assert order == ["later"]
    loop.close()


def test_timers_fire_in_deadline_order_and_cancel(selector):
    loop = Loop(selector)
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
    loop = Loop(selector)
    loop._running = True
    assert loop._next_timeout() is None
    timer = loop.call_later(10, lambda: None)
    assert 0 < loop._next_timeout() <= 10
    timer.cancel()
    assert loop._next_timeout() is None
    loop.close()


def test_signal_wakes_a_blocked_select(selector):
    loop = Loop(selector)
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


def test_call_soon_threadsafe_wakes_the_loop(selector):
    loop = Loop(selector)
    got = []
    threading.Timer(0.05, loop.call_soon_threadsafe, (lambda: (got.append("t"), loop.stop()),)).start()
    guard = loop.call_later(5, lambda: (got.append("guard"), loop.stop()))
    loop.run()
    guard.cancel()
    assert got == ["t"]
    loop.close()


def test_select_refuses_fds_beyond_fd_setsize():
    loop = Loop("select")
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), FD_SETSIZE + 5)
    try:
        with pytest.raises(FdLimitError, match=f"FD_SETSIZE={FD_SETSIZE}.*--selector poll or epoll"):
            loop.register(high, EVENT_READ, lambda mask: None)
    finally:
        os.close(high)
        loop.close()
        a.close()
        b.close()


def test_poll_has_no_fd_setsize_limit():
    loop = Loop("poll")
    a, b = socket.socketpair()
    high = os.dup2(a.fileno(), FD_SETSIZE + 5)
    try:
        loop.register(high, EVENT_READ, lambda mask: None)
        loop.unregister(high)
    finally:
        os.close(high)
        loop.close()
        a.close()
        b.close()
