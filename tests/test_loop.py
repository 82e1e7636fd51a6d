import os
import signal
import socket
import threading

import pytest

from evloop.loop import EVENT_READ
from evloop.loop import EVENT_WRITE
from evloop.loop import Loop
from evloop.selecting import FD_SETSIZE
from evloop.selecting import FdLimitError


def run_until(loop, predicate, turns=200):
    for _ in range(turns):
        if predicate():
            return
        loop.run_once()
    raise AssertionError("condition not reached")


def test_readers_and_writers_are_called_while_installed(selector):
    loop = Loop(selector)
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
    assert loop.watching(a) == 0 and a.fileno() not in loop.selector.get_map()
    seen.clear()
    loop.call_later(0.01, lambda: None)
    loop.run_once()
    assert seen == []
    loop.close()
    a.close()
    b.close()


def test_reader_runs_before_writer_and_a_removed_writer_is_skipped(selector):
    loop = Loop(selector)
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
    loop = Loop(selector)
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
    loop = Loop(selector)
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


def test_close_restores_signal_handlers_or_ignores_the_ones_asked():
    loop = Loop()
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGUSR2, print)
    try:
        loop.close(ignore=(signal.SIGUSR2,))
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)


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
            loop.add_reader(high, lambda: None)
        assert loop.watching(high) == 0
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
    loop = Loop(selector)
    a, b = socket.socketpair()
    refuse = mock.Mock(side_effect=OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(loop.selector, "register", refuse)
    with pytest.raises(OSError):
        loop.add_reader(a, lambda: None)  # e.g. epoll's max_user_watches reached
    assert loop.watching(a) == 0 and a.fileno() not in loop._readers
    monkeypatch.undo()
    reader = lambda: None  # noqa: E731
    loop.add_reader(a, reader)
    monkeypatch.setattr(loop.selector, "modify", refuse)
    with pytest.raises(OSError):
        loop.add_writer(a, lambda: None)
    assert loop.watching(a) == EVENT_READ and loop._readers[a.fileno()] is reader
    monkeypatch.undo()
    loop.remove_reader(a)
    loop.close()
    a.close()
    b.close()
