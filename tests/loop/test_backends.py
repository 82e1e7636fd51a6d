"""Every backend answers as the stock `selectors` classes do, in poll(2)'s bits."""

import select
import selectors
import signal
import socket
import time

import pytest

from evloop.loop import backends
from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.backends import READABLE
from evloop.loop.backends import SelectorsBackend
from evloop.loop.backends import WRITABLE
from evloop.loop.backends import available_backends
from evloop.loop.backends import event_mask
from evloop.loop.backends import make_backend
from evloop.loop.base import BaseLoop
from evloop.loop.instruments import Instrument


def stock_answer(timeout, registrations):
    with selectors.DefaultSelector() as selector:
        for sock, events in registrations:
            selector.register(sock, events)
        return sorted((key.fd, mask) for key, mask in selector.select(timeout))


def backend_answer(backend, timeout, registrations):
    """The backend's bits through event_mask(), limited to what each fd watches,
    which is what the loop does by calling only the installed callbacks."""
    watched = {sock.fileno(): events for sock, events in registrations}
    answer = []
    for fd, bits in backend.poll(timeout):
        mask = event_mask(bits) & watched[fd]
        if mask:
            answer.append((fd, mask))
    return sorted(answer)


def test_same_answers_as_the_stock_selector(selector):
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        pairs[0][1].send(b"x")                     # readable
        pairs[2][1].send(b"y")                     # readable, and watched for writing too
        pairs[3][1].close()                        # EOF (POLLIN|POLLHUP) on a reader
        registrations = [(pairs[0][0], EVENT_READ), (pairs[1][0], EVENT_READ),  # nothing ready
                         (pairs[2][0], EVENT_READ | EVENT_WRITE), (pairs[3][0], EVENT_READ),
                         (pairs[4][0], EVENT_WRITE)]                            # writable
        expected = stock_answer(0, registrations)
        backend = make_backend(selector)
        for sock, events in registrations:
            backend.register(sock.fileno(), events)
        assert backend_answer(backend, 0, registrations) == expected
        assert backend_answer(backend, 0.001, registrations) == expected
        # The hot case arrives as READABLE and nothing else.
        assert dict(backend.poll(0))[pairs[0][0].fileno()] == READABLE
        fds = dict(expected)
        assert fds[pairs[0][0].fileno()] == EVENT_READ
        assert fds[pairs[2][0].fileno()] == EVENT_READ | EVENT_WRITE
        assert fds[pairs[4][0].fileno()] == EVENT_WRITE
        assert pairs[1][0].fileno() not in fds
        backend.modify(pairs[4][0].fileno(), EVENT_READ)  # nothing to read there
        assert pairs[4][0].fileno() not in dict(backend.poll(0))
        for sock, _ in registrations:
            backend.unregister(sock.fileno())
        assert backend.poll(0) == []
        backend.close()
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_event_mask_maps_every_bit_as_selectors_does():
    assert event_mask(READABLE) == EVENT_READ
    assert event_mask(WRITABLE) == EVENT_WRITE
    assert event_mask(READABLE | WRITABLE) == EVENT_READ | EVENT_WRITE
    for trouble in (select.POLLERR, select.POLLHUP, select.POLLNVAL):  # wake whoever watches
        assert event_mask(trouble) == EVENT_READ | EVENT_WRITE
    # Not a restated constant: the backends hand the kernel's own list over
    # untouched, which is right only while the kernel's bits are these.
    assert (select.POLLIN, select.POLLOUT) == (READABLE, WRITABLE)
    if hasattr(select, "EPOLLIN"):
        assert (select.EPOLLIN, select.EPOLLOUT) == (READABLE, WRITABLE)


def test_a_wait_times_out_rounding_up_and_survives_a_signal(selector):
    backend = make_backend(selector)
    a, b = socket.socketpair()
    backend.register(a.fileno(), EVENT_READ)
    start = time.monotonic()
    assert backend.poll(0.0001) == []  # rounded up to 1 ms (select: 100 us), never down to 0
    assert time.monotonic() - start >= 0.0001
    # A signal in the middle of the wait: PEP 475 resumes it, no InterruptedError.
    old = signal.signal(signal.SIGALRM, lambda *args: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        start = time.monotonic()
        assert backend.poll(0.1) == []
        assert time.monotonic() - start >= 0.1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    backend.unregister(a.fileno())
    backend.close()
    a.close()
    b.close()


def test_a_closed_descriptor_unregisters_quietly(selector):
    backend = make_backend(selector)
    a, b = socket.socketpair()
    fd = a.fileno()
    backend.register(fd, EVENT_READ)
    a.close()  # the kernel forgets it (epoll); poll and select still list it
    backend.unregister(fd)
    backend.unregister(fd)
    assert backend.poll(0) == []  # forgotten: no POLLNVAL for it, no EBADF from select
    backend.close()
    b.close()


def test_names_choices_and_auto():
    names = available_backends()
    assert names[0] == "auto" and "select" in names and "poll" in names
    auto = make_backend("auto")
    assert auto.name == names[1]
    auto.close()
    with pytest.raises(ValueError, match="choose from: auto"):
        make_backend("iocp")


class CountingEpoll:
    """select.epoll, recording how many events each wait asks the kernel for."""

    asked = []

    def __init__(self):
        self.epoll = real_epoll()

    def __getattr__(self, name):
        return getattr(self.epoll, name)

    def poll(self, timeout=None, maxevents=-1):
        self.asked.append(maxevents)
        return self.epoll.poll(timeout, maxevents)


real_epoll = getattr(select, "epoll", None)


@pytest.mark.skipif(real_epoll is None, reason="Linux only")
def test_each_epoll_wait_asks_for_as_many_events_as_are_watched_up_to_a_cap(monkeypatch):
    monkeypatch.setattr(backends, "MAX_EVENTS", 3)
    monkeypatch.setattr(backends.select, "epoll", CountingEpoll)
    CountingEpoll.asked = []
    pairs = [socket.socketpair() for _ in range(5)]
    backend = backends.EpollBackend()
    for n, (a, b) in enumerate(pairs, 1):
        backend.register(a.fileno(), EVENT_READ)
        b.send(b"x")
        assert len(backend.poll(0)) == min(n, 3)
    assert CountingEpoll.asked == [1, 2, 3, 3, 3]
    first = backend.poll(0)
    assert len(first) == 3
    by_fd = {a.fileno(): a for a, _ in pairs}
    for fd, _ in first:  # drain the ones reported: the other two come next
        by_fd[fd].recv(1)
    second = backend.poll(0)
    assert len(second) == 2 and not {fd for fd, _ in first} & {fd for fd, _ in second}
    for a, _ in pairs:
        backend.unregister(a.fileno())
    assert backend.poll(0) == [] and CountingEpoll.asked[-1] == 1  # never 0: EINVAL
    backend.close()
    for a, b in pairs:
        a.close()
        b.close()


class PollRecorder(Instrument):
    def __init__(self):
        self.polled = []

    def after_poll(self, events):
        self.polled.append(list(events))


def test_the_loop_dispatches_the_backend_s_raw_events(selector):
    """What the backend's poll returns is what the loop acts on (an instrument's
    after_poll sees it, as evloop.trace's does to narrate the wake-ups)."""
    loop = BaseLoop(selector)
    a, b = socket.socketpair()
    try:
        heard = []
        loop.add_reader(a, lambda: heard.append(a.recv(10)))
        recorder = PollRecorder()
        loop.add_instrument(recorder)
        polled = recorder.polled
        b.send(b"y")
        loop.run_once(timeout=1.0)
        assert heard == [b"y"]
        assert polled == [[(a.fileno(), READABLE)]]
    finally:
        loop.remove_reader(a)
        loop.close()
        a.close()
        b.close()


def test_selectors_backend_names_itself_after_its_class():
    backend = SelectorsBackend(selectors.SelectSelector)
    assert backend.name == "select"
    backend.close()
