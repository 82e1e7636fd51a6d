"""evloop.loop.descriptors: one record per descriptor, and the backend told only
when what it watches changes."""

import errno

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.loop.descriptors import Descriptors
from evloop.loop.descriptors import idle


class FakeBackend:
    """Records the calls the kernel would get; refuses a register when told to."""

    fd_limit = None

    def __init__(self):
        self.calls = []
        self.refuse = None

    def register(self, fd, events):
        if self.refuse is not None:
            raise self.refuse
        self.calls.append(("register", fd, events))

    def modify(self, fd, events):
        self.calls.append(("modify", fd, events))

    def unregister(self, fd):
        self.calls.append(("unregister", fd))


def reader():
    pass


def writer():
    pass


def test_the_backend_hears_only_of_changes():
    backend = FakeBackend()
    descriptors = Descriptors(backend)
    assert descriptors.set(5, reader, None) == EVENT_READ
    assert descriptors.set(5, reader, None) is None  # the same interest: no system call
    assert descriptors.set(5, None, writer) == EVENT_READ | EVENT_WRITE
    assert descriptors.callbacks(5) == (reader, writer)
    assert descriptors.set(5, idle, None) == EVENT_WRITE
    assert descriptors.set(5, None, idle) == 0
    assert descriptors.watching(5) == 0 and 5 not in descriptors.records
    assert descriptors.set(6, idle, None) is None  # removing what was never there
    assert backend.calls == [("register", 5, EVENT_READ), ("modify", 5, EVENT_READ | EVENT_WRITE),
                             ("modify", 5, EVENT_WRITE), ("unregister", 5)]


def test_a_refused_register_leaves_no_record():
    backend = FakeBackend()
    descriptors = Descriptors(backend)
    backend.refuse = OSError(errno.ENOSPC, "no space")
    with pytest.raises(OSError):
        descriptors.set(7, reader, None)
    assert descriptors.records == {} and descriptors.callbacks(7) == (None, None)


def test_counts_say_how_many_have_a_reader_and_a_writer():
    descriptors = Descriptors(FakeBackend())
    descriptors.set(3, reader, writer)
    descriptors.set(4, reader, None)
    assert descriptors.counts() == (2, 1)
