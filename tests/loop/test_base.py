"""evloop.loop.base: readers and writers, what the loop holds, and how a backend's
refusal leaves it (a turn's order is tests/loop/test_turns.py's)."""

import os
import selectors
import socket

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.backends import FD_SETSIZE
from evloop.loop.backends import FdLimitError
from evloop.loop.backends import SelectorsBackend
from evloop.loop.base import BaseLoop
from evloop.loop.timers import Timer


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
