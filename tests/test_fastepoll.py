"""LeanEpollSelector.poll() reports exactly what the stock EpollSelector reports,
and the loop drives it without building (key, mask) pairs."""

import selectors
import signal
import socket
import time
from unittest import mock

import pytest

from evloop import fastepoll
from evloop.loop import Loop
from evloop.selecting import make_selector

pytestmark = pytest.mark.skipif(not hasattr(selectors, "EpollSelector"), reason="Linux only")


def stock_answer(selector, timeout=0):
    return sorted((key.fd, mask) for key, mask in selector.select(timeout))


def lean_answer(selector, timeout=0):
    """poll()'s raw bits through event_mask(), limited to what each fd watches,
    which is what the loop does by calling only the installed callbacks."""
    watched = {key.fd: key.events for key in selector.get_map().values()}
    answer = []
    for fd, event in selector.poll(timeout):
        mask = selector.event_mask(event) & watched[fd]
        if mask:
            answer.append((fd, mask))
    return sorted(answer)


def test_same_answers_as_the_stock_selector():
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        pairs[0][1].send(b"x")                     # readable
        pairs[2][1].send(b"y")                     # readable, and watched for writing too
        pairs[3][1].close()                        # EOF (EPOLLIN|EPOLLHUP) on a reader
        answers = {}
        for cls in (selectors.EpollSelector, fastepoll.LeanEpollSelector):
            with cls() as selector:
                selector.register(pairs[0][0], selectors.EVENT_READ)
                selector.register(pairs[1][0], selectors.EVENT_READ)          # nothing ready
                selector.register(pairs[2][0], selectors.EVENT_READ | selectors.EVENT_WRITE)
                selector.register(pairs[3][0], selectors.EVENT_READ)
                selector.register(pairs[4][0], selectors.EVENT_WRITE)         # writable
                if cls is selectors.EpollSelector:
                    expected = stock_answer(selector)
                    assert stock_answer(selector, timeout=0.001) == expected
                else:
                    assert lean_answer(selector) == expected
                    assert lean_answer(selector, timeout=0.001) == expected
                    # The hot case arrives untouched: EPOLLIN is EVENT_READ.
                    raw = dict(selector.poll(0))
                    assert raw[pairs[0][0].fileno()] == selectors.EVENT_READ
        fds = dict(expected)
        assert fds[pairs[0][0].fileno()] == selectors.EVENT_READ
        assert fds[pairs[2][0].fileno()] == selectors.EVENT_READ | selectors.EVENT_WRITE
        assert fds[pairs[4][0].fileno()] == selectors.EVENT_WRITE
        assert pairs[1][0].fileno() not in fds
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_event_mask_maps_every_bit_as_the_stock_class_does():
    mask = fastepoll.LeanEpollSelector.event_mask
    read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
    assert mask(fastepoll.EPOLLIN) == read
    assert mask(fastepoll.EPOLLOUT) == write
    assert mask(fastepoll.EPOLLIN | fastepoll.EPOLLOUT) == read | write
    import select
    for trouble in (select.EPOLLERR, select.EPOLLHUP):  # wake whoever is watching
        assert mask(trouble) == read | write


def test_a_wait_times_out_rounding_up_and_survives_a_signal():
    with fastepoll.LeanEpollSelector() as selector:
        a, b = socket.socketpair()
        selector.register(a, selectors.EVENT_READ)
        start = time.monotonic()
        assert selector.poll(0.0001) == []  # rounded up to 1 ms, never down to 0
        assert time.monotonic() - start >= 0.001
        # A signal in the middle of the wait: PEP 475 resumes it, no InterruptedError.
        old = signal.signal(signal.SIGALRM, lambda *args: None)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            start = time.monotonic()
            assert selector.poll(0.1) == []
            assert time.monotonic() - start >= 0.1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        a.close()
        b.close()


def test_the_loop_waits_with_poll_and_tells_the_tracer_the_raw_events():
    loop = Loop("epoll")
    a, b = socket.socketpair()
    try:
        heard = []
        loop.add_reader(a, lambda: heard.append(a.recv(10)))
        b.send(b"x")
        with mock.patch.object(loop.selector, "select", side_effect=AssertionError("slow path")):
            loop.run_once()
        assert heard == [b"x"]
        loop.tracer = mock.Mock()
        b.send(b"y")
        loop.run_once()
        assert heard == [b"x", b"y"]
        (_, ready, _), _ = loop.tracer.on_wakeup.call_args
        assert ready == [(a.fileno(), selectors.EVENT_READ)]
    finally:
        loop.remove_reader(a)
        loop.close()
        a.close()
        b.close()


def test_epoll_and_auto_use_the_lean_selector_and_fall_back_if_internals_move():
    for name in ("epoll", "auto"):
        with make_selector(name) as selector:
            assert isinstance(selector, fastepoll.LeanEpollSelector)
    with mock.patch.object(fastepoll.LeanEpollSelector, "__init__",
                           lambda self: selectors.EpollSelector.__init__(self) or
                           delattr(self, "_selector")):
        selector = fastepoll.make()
    assert type(selector) is selectors.EpollSelector
    selector.close()


def test_the_loop_drives_the_stock_epoll_class_too():
    """The fallback above has no poll(): the loop then uses select(), as for poll."""
    with mock.patch.object(fastepoll, "make", selectors.EpollSelector):
        loop = Loop("epoll")
    assert type(loop.selector) is selectors.EpollSelector
    a, b = socket.socketpair()
    heard = []
    loop.add_reader(a, lambda: heard.append(a.recv(10)))
    b.send(b"z")
    loop.run_once()
    assert heard == [b"z"]
    loop.remove_reader(a)
    loop.close()
    a.close()
    b.close()


def test_each_wait_asks_for_as_many_events_as_are_registered_up_to_a_cap(monkeypatch):
    monkeypatch.setattr(fastepoll, "MAX_EVENTS", 3)
    pairs = [socket.socketpair() for _ in range(5)]
    with fastepoll.LeanEpollSelector() as selector:
        assert selector.max_events == 1
        for n, (a, b) in enumerate(pairs, 1):
            selector.register(a, selectors.EVENT_READ)
            b.send(b"x")
            assert selector.max_events == min(n, 3)
        first = selector.poll(0)
        assert len(first) == 3
        for fd, _ in first:  # drain the ones reported: the other two come next
            selector.get_map()[fd].fileobj.recv(1)
        second = selector.poll(0)
        assert len(second) == 2 and not {fd for fd, _ in first} & {fd for fd, _ in second}
        for a, _ in pairs:
            selector.unregister(a)
        assert selector.max_events == 1
    for a, b in pairs:
        a.close()
        b.close()
