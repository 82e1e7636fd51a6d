"""evloop.loop.waking: another thread or a signal wakes a loop blocked in its wait; a
signal's callback runs in the loop, and closing gives each signal its handler back."""

import os
import signal
import socket
import threading

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.base import BaseLoop
from evloop.loop.waking import Waker


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


def test_wake_returns_a_wait_from_another_thread(selector):
    loop = BaseLoop(selector)
    assert loop.watching(loop.waker_fd) == EVENT_READ
    threading.Timer(0.05, loop.wake).start()
    start = loop.time()
    loop.run_once(timeout=30)  # returns when woken, long before the timeout
    assert loop.time() - start < 10
    loop.close()


def test_remove_signal_handler_gives_the_signal_back():
    loop = BaseLoop()
    before = signal.getsignal(signal.SIGUSR1)
    loop.add_signal_handler(signal.SIGUSR1, lambda signum: None)
    assert signal.getsignal(signal.SIGUSR1) is not before
    loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) is before
    loop.close()


# -- the Waker on its own, its callbacks queued into a list --------------------------

@pytest.fixture
def waker():
    queued = []
    waker = Waker(lambda callback, *args: queued.append((callback, args)))
    yield waker, queued
    waker.close()


def test_each_signal_number_read_queues_its_callback_and_a_wake_up_byte_none(waker):
    waker, queued = waker
    waker.add_signal_handler(signal.SIGUSR1, print)
    waker.writer.send(bytes([0, signal.SIGUSR1, signal.SIGUSR2, signal.SIGUSR1]))
    waker.on_readable()
    # 0 is call_soon_threadsafe's byte; SIGUSR2 has no callback here.
    assert queued == [(print, (signal.SIGUSR1,)), (print, (signal.SIGUSR1,))]
    waker.on_readable()  # nothing left to read: a spurious wake-up changes nothing
    assert len(queued) == 2


def test_the_signal_itself_is_carried_by_the_wakeup_fd(waker):
    waker, queued = waker
    waker.add_signal_handler(signal.SIGUSR2, print)
    os.kill(os.getpid(), signal.SIGUSR2)  # the C handler writes the number into the socket
    waker.reader.settimeout(5)
    assert waker.reader.recv(10, socket.MSG_PEEK) == bytes([signal.SIGUSR2])
    waker.reader.setblocking(False)
    waker.on_readable()
    assert queued == [(print, (signal.SIGUSR2,))]


def test_a_full_waker_socket_means_a_wake_up_is_pending_already(waker):
    waker, queued = waker
    waker.writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)
    for _ in range(20_000):  # far past what the buffer holds: no error, no block
        waker.wake()
    with pytest.raises(BlockingIOError):
        waker.writer.send(b"\0")  # the buffer is full indeed
    waker.on_readable()
    assert queued == []


def test_the_wakeup_fd_is_the_wakers_while_it_carries_signals_then_the_old_one():
    old = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(old)
    waker = Waker(lambda *args: None)
    try:
        waker.add_signal_handler(signal.SIGUSR1, print)
        current = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(current, warn_on_full_buffer=False)
        assert current == waker.writer.fileno()
        waker.remove_signal_handler(signal.SIGUSR1)
        waker.remove_signal_handler(signal.SIGUSR1)  # twice: nothing to give back
        current = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(current)
        assert current == old
    finally:
        waker.close()


def test_a_closed_waker_wakes_nobody_and_takes_no_signal():
    waker = Waker(lambda *args: None)
    waker.close()
    waker.wake()  # from a thread that did not see the close: harmless
    with pytest.raises(RuntimeError, match="closed"):
        waker.add_signal_handler(signal.SIGUSR1, print)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
