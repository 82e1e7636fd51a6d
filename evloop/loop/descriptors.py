"""What the loop watches: one record per descriptor, and one place that tells the kernel.

Each descriptor the loop watches has at most one reader and one writer, as
in Redis's ae.c and asyncio.  As trio's epoll loop does, the loop keeps one
record per descriptor (its reader, its writer, and the events the backend
watches it for) and changes what the kernel watches in one place, `sync`:
register a new descriptor, modify one whose events change, unregister one
that has neither callback left.  Installing a reader the descriptor
already has, or removing one it does not, makes no system call.

An absent reader or writer is the do-nothing `idle`, never None, so that
the loop's hot path can call whatever it finds without a test: an event
left over for a callback removed earlier in the same turn calls `idle`.
"""

from __future__ import annotations

from collections.abc import Callable

from evloop.loop.backends import Backend
from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE


def idle() -> None:
    """The reader or writer of a descriptor that has none."""


class Record:
    """One watched descriptor: its callbacks, and the events the backend watches."""

    __slots__ = ("reader", "writer", "events")

    def __init__(self) -> None:
        self.reader: Callable[[], object] = idle
        self.writer: Callable[[], object] = idle
        self.events = 0


class Descriptors:
    """The records of one loop's descriptors, by number (`records`, which the loop reads)."""

    __slots__ = ("backend", "records", "on_change")

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.records: dict[int, Record] = {}
        # Told `(fd, events)` after each change the backend is told of (the loop's
        # watch_changed instruments); None, with no call at all, while nobody listens.
        self.on_change: Callable[[int, int], object] | None = None

    def set(self, fd: int, reader: Callable[[], object] | None,
            writer: Callable[[], object] | None) -> int | None:
        """Install a reader or a writer (`idle` drops it; None leaves it as it is).
        Returns the events now watched if they changed, else None; raises what the
        backend raises (ENOSPC, FdLimitError), leaving things as they were."""
        record = self.records.get(fd)
        if record is None:
            if reader is idle or writer is idle or (reader is None and writer is None):
                return None  # removing what was never there
            if self.backend.fd_limit is not None:
                self.backend.check_fd(fd)
            record = self.records[fd] = Record()
        before = record.reader, record.writer
        if reader is not None:
            record.reader = reader
        if writer is not None:
            record.writer = writer
        try:
            events = self.sync(fd, record)
        except BaseException:
            record.reader, record.writer = before
            if not record.events:
                del self.records[fd]
            raise
        if events is not None and self.on_change is not None:
            self.on_change(fd, events)  # after the change, outside its undoing
        return events

    def sync(self, fd: int, record: Record) -> int | None:
        """The one place that tells the backend what a descriptor is watched for."""
        events = ((EVENT_READ if record.reader is not idle else 0)
                  | (EVENT_WRITE if record.writer is not idle else 0))
        if events == record.events:
            return None
        if not record.events:
            self.backend.register(fd, events)
        elif not events:
            self.backend.unregister(fd)
            del self.records[fd]
        else:
            self.backend.modify(fd, events)
        record.events = events
        return events

    def callbacks(self, fd: int) -> tuple[Callable[[], object] | None, Callable[[], object] | None]:
        record = self.records.get(fd)
        if record is None:
            return None, None
        return (None if record.reader is idle else record.reader,
                None if record.writer is idle else record.writer)

    def watching(self, fd: int) -> int:
        record = self.records.get(fd)
        return 0 if record is None else record.events

    def counts(self) -> tuple[int, int]:
        """How many descriptors have a reader, and how many a writer."""
        records = self.records.values()
        return (sum(record.reader is not idle for record in records),
                sum(record.writer is not idle for record in records))
