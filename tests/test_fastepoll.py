"""LeanEpollSelector answers exactly what the stock EpollSelector answers,
and its dispatch() calls exactly the callbacks select() would have named."""

import selectors
import socket
from unittest import mock

import pytest

from evloop import fastepoll
from evloop.loop import Loop
from evloop.loop import make_selector

pytestmark = pytest.mark.skipif(not hasattr(selectors, "EpollSelector"), reason="Linux only")


def ready(selector, timeout=0):
    return sorted((key.fileobj.fileno(), mask) for key, mask in selector.select(timeout))


def dispatched(selector, timeout=0):
    calls = []
    for key in selector.get_map().values():  # each callback records its fd and mask
        selector.modify(key.fileobj, key.events, lambda mask, fd=key.fd: calls.append((fd, mask)))
    selector.dispatch(selector.poll(timeout))
    return sorted(calls)


def test_same_answers_as_the_stock_selector():
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        pairs[0][1].send(b"x")                     # readable
        pairs[2][1].send(b"y")                     # readable, and watched for writing too
        pairs[3][1].close()                        # EOF (EPOLLIN|EPOLLRDHUP) on a reader
        for cls in (selectors.EpollSelector, fastepoll.LeanEpollSelector):
            with cls() as selector:
                selector.register(pairs[0][0], selectors.EVENT_READ)
                selector.register(pairs[1][0], selectors.EVENT_READ)          # nothing ready
                selector.register(pairs[2][0], selectors.EVENT_READ | selectors.EVENT_WRITE)
                selector.register(pairs[3][0], selectors.EVENT_READ)
                selector.register(pairs[4][0], selectors.EVENT_WRITE)         # writable
                answers = {cls: ready(selector)}
                answers[cls] = ready(selector, timeout=0.001)
                if cls is selectors.EpollSelector:
                    expected = answers[cls]
                else:
                    assert answers[cls] == expected
                    assert dispatched(selector) == expected
                    assert dispatched(selector, timeout=0.001) == expected
        fds = dict(expected)
        assert fds[pairs[0][0].fileno()] == selectors.EVENT_READ
        assert fds[pairs[2][0].fileno()] == selectors.EVENT_READ | selectors.EVENT_WRITE
        assert fds[pairs[4][0].fileno()] == selectors.EVENT_WRITE
        assert pairs[1][0].fileno() not in fds
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_an_empty_wait_times_out_and_an_interrupted_one_is_empty():
    with fastepoll.LeanEpollSelector() as selector:
        a, b = socket.socketpair()
        selector.register(a, selectors.EVENT_READ)
        assert selector.select(0.01) == []
        with mock.patch.object(selector, "_selector") as epoll:
            epoll.poll.side_effect = InterruptedError
            assert selector.select(None) == []
        a.close()
        b.close()


def test_a_key_unregistered_meanwhile_is_skipped():
    with fastepoll.LeanEpollSelector() as selector:
        a, b = socket.socketpair()
        selector.register(a, selectors.EVENT_READ)
        b.send(b"x")
        with mock.patch.object(selector, "_selector") as epoll:
            epoll.poll.return_value = [(a.fileno(), 1), (9999, 1)]
            assert [key.fileobj for key, _ in selector.select(0)] == [a]
        a.close()
        b.close()


def test_dispatch_skips_a_descriptor_unregistered_by_an_earlier_callback():
    with fastepoll.LeanEpollSelector() as selector:
        pairs = [socket.socketpair() for _ in range(2)]
        calls = []

        def first(mask):
            calls.append("first")
            selector.unregister(pairs[1][0])  # e.g. a chat broadcast aborting a slow reader

        selector.register(pairs[0][0], selectors.EVENT_READ, first)
        selector.register(pairs[1][0], selectors.EVENT_READ, lambda mask: calls.append("second"))
        for _, b in pairs:
            b.send(b"x")
        with mock.patch.object(selector, "_selector") as epoll:  # fix the order: first, second
            epoll.poll.return_value = [(pairs[0][0].fileno(), 1), (pairs[1][0].fileno(), 1)]
            selector.dispatch(selector.poll(0))
        assert calls == ["first"]
        for a, b in pairs:
            a.close()
            b.close()


def test_the_loop_dispatches_directly_unless_tracing():
    loop = Loop("epoll")
    a, b = socket.socketpair()
    try:
        heard = []
        loop.register(a, selectors.EVENT_READ, heard.append)
        b.send(b"x")
        with mock.patch.object(loop.selector, "select", side_effect=AssertionError("slow path")):
            loop.run_once()
        assert heard == [selectors.EVENT_READ]
        loop.tracer = mock.Mock()  # --trace needs the (key, mask) list: the stock path
        loop.run_once()
        assert heard == [selectors.EVENT_READ] * 2
        (_, events, _), _ = loop.tracer.on_wakeup.call_args
        assert [(key.fileobj, mask) for key, mask in events] == [(a, selectors.EVENT_READ)]
    finally:
        loop.unregister(a)
        loop.close()
        a.close()
        b.close()


def test_epoll_and_auto_use_the_lean_selector_and_fall_back_if_internals_move():
    for name in ("epoll", "auto"):
        with make_selector(name) as selector:
            assert isinstance(selector, fastepoll.LeanEpollSelector)
    with mock.patch.object(fastepoll.LeanEpollSelector, "__init__",
                           lambda self: selectors.EpollSelector.__init__(self) or
                           delattr(self, "_fd_to_key")):
        selector = fastepoll.make()
    assert type(selector) is selectors.EpollSelector
    selector.close()
