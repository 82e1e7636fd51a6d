"""evloop.loop.instruments: the hooks a loop calls, only where an instrument overrides
them, in the order of a turn; a hook that raises costs only its own call."""

import logging
import socket

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.base import BaseLoop
from evloop.loop.instruments import Instrument
from evloop.loop.instruments import Instruments
from evloop.loop.instruments import default_hook


class Recorder(Instrument):
    """Every loop hook, recorded in order."""

    def __init__(self):
        self.seen = []

    def before_poll(self, timeout):
        self.seen.append(("before_poll", timeout))

    def after_poll(self, events):
        self.seen.append(("after_poll", list(events)))

    def before_callback(self, handle):
        self.seen.append(("before_callback", handle.callback))

    def after_callback(self, handle, seconds):
        assert seconds >= 0
        self.seen.append(("after_callback", handle.callback))

    def before_io(self, fd, callback):
        self.seen.append(("before_io", fd))

    def after_io(self, fd, callback, seconds):
        assert seconds >= 0
        self.seen.append(("after_io", fd))

    def after_turn(self, seconds):
        assert seconds >= 0
        self.seen.append(("after_turn",))

    def watch_changed(self, fd, events):
        self.seen.append(("watch_changed", fd, events))


def test_a_turn_calls_the_hooks_in_its_order(selector):
    loop = BaseLoop(selector)
    recorder = Recorder()
    loop.add_instrument(recorder)
    a, b = socket.socketpair()
    reader = []
    loop.add_reader(a, lambda: reader.append(a.recv(10)))
    assert recorder.seen == [("watch_changed", a.fileno(), EVENT_READ)]
    b.send(b"x")

    def callback():
        recorder.seen.append(("callback",))
    loop.call_soon(callback)
    recorder.seen.clear()
    loop.run_once(timeout=None)  # a callback is queued: the wait only looks
    assert reader == [b"x"]
    assert recorder.seen == [("before_poll", 0), ("after_poll", [(a.fileno(), 1)]),
                             ("before_io", a.fileno()), ("after_io", a.fileno()),
                             ("before_callback", callback), ("callback",),
                             ("after_callback", callback), ("after_turn",)]
    loop.remove_reader(a)
    assert recorder.seen[-1] == ("watch_changed", a.fileno(), 0)
    loop.close()
    a.close()
    b.close()


def test_only_the_hooks_an_instrument_overrides_are_installed():
    class TurnsOnly(Instrument):
        def after_turn(self, seconds):
            pass

    instruments = Instruments(report=lambda exc, hook: None)
    instruments.add(TurnsOnly())
    assert set(instruments.hooks) == {"after_turn"}
    poll = object()
    assert instruments.observe_poll(poll) is poll  # no poll hook: the backend's own poll


def test_removing_an_instrument_stops_its_hooks_and_a_stranger_is_refused(selector):
    loop = BaseLoop(selector)
    recorder = Recorder()
    loop.add_instrument(recorder)
    loop.add_instrument(recorder)  # once only
    loop.run_once()
    assert [step[0] for step in recorder.seen] == ["before_poll", "after_poll", "after_turn"]
    loop.remove_instrument(recorder)
    recorder.seen.clear()
    loop.call_soon(lambda: None)
    loop.run_once()
    assert recorder.seen == []
    with pytest.raises(KeyError):
        loop.remove_instrument(recorder)
    loop.close()


def test_a_hook_that_raises_is_reported_and_the_turn_goes_on(selector, caplog):
    class Broken(Instrument):
        def before_poll(self, timeout):
            raise RuntimeError("broken hook")

    loop = BaseLoop(selector)
    loop.add_instrument(Broken())
    later = Recorder()
    loop.add_instrument(later)
    ran = []
    loop.call_soon(ran.append, "callback")
    loop.run_once()
    assert ran == ["callback"]
    assert [step[0] for step in later.seen][:2] == ["before_poll", "after_poll"]
    assert "the instrument hook" in caplog.text and "broken hook" in caplog.text
    loop.close()


def test_a_layer_above_declares_its_hooks_and_only_declared_ones_are_called():
    class Layered(Instrument):
        @default_hook
        def something_happened(self, what):
            """A hook of a layer above the loop's (a connection's, say)."""

    class Custom(Layered):
        def something_happened(self, *args):
            seen.append(args)

        def helper(self):  # a method of its own: never a hook
            seen.append("helper")

    seen = []
    reported = []
    instruments = Instruments(report=lambda exc, hook: reported.append(exc))
    instruments.add(Custom())
    assert set(instruments.hooks) == {"something_happened"}
    instruments.call("something_happened", "a", 1)
    instruments.call("nobody_listens", "b")
    assert seen == [("a", 1)] and reported == []


def test_a_descriptor_s_callbacks_run_inside_the_io_hooks_and_one_that_raises_is_reported(
        selector, caplog):
    loop = BaseLoop(selector)
    recorder = Recorder()
    loop.add_instrument(recorder)
    a, b = socket.socketpair()
    order = []

    def reader():
        order.append(("reader", recorder.seen[-1]))
        a.recv(10)
        raise ValueError("the reader fails")

    loop.add_reader(a, reader)
    loop.add_writer(a, lambda: (order.append(("writer", recorder.seen[-1])), loop.remove_writer(a)))
    b.send(b"x")
    recorder.seen.clear()
    with caplog.at_level(logging.ERROR):
        loop.run_once(timeout=None)
    fd = a.fileno()
    # Each ran just after its before_io; the writer still ran after the reader raised.
    assert order == [("reader", ("before_io", fd)), ("writer", ("before_io", fd))]
    assert [step for step in recorder.seen if step[0] in ("before_io", "after_io")] == [
        ("before_io", fd), ("after_io", fd), ("before_io", fd), ("after_io", fd)]
    assert any("the reader of fd" in r.getMessage() for r in caplog.records)
    loop.remove_instrument(recorder)
    recorder.seen.clear()
    b.send(b"y")
    with caplog.at_level(logging.ERROR):
        loop.run_once(timeout=None)
    assert recorder.seen == []  # removed: the plain path again
    loop.close()
    a.close()
    b.close()
