"""Where traced steps go: the text narration on stderr, the trace file, or both.

A step belongs to a lane (a descriptor's row: "fd 7 127.0.0.1:50122", the
loop's, the listener's) and is either an instant (a recv, a state change)
or a span (a handler call, a wait in the selector).  `Steps` prints the
text line, with its time since the start and the lane's name, and records
the event for evloop.trace.recording.

The text goes out in causal order: a handler call's line waits until the
call returns (then one line says the call, its answer and its time) or
until a step the call causes must print (a push to another client): the
call's line then prints first, and the answer after what it caused.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.trace.recording import TraceFile

log = logging.getLogger("evloop")


class Lane:
    """One descriptor's row: its name, and its lane in the trace file."""

    __slots__ = ("name", "kind", "number")

    def __init__(self, name: str, kind: str, number: int) -> None:
        self.name, self.kind, self.number = name, kind, number


def mask_name(mask: int) -> str:
    return ("R" if mask & EVENT_READ else "") + ("W" if mask & EVENT_WRITE else "")


NOTHING = {"data_received": "no complete message yet", "connection_made": "no greeting",
           "eof_received": "nothing more to send"}


def answer_text(call: str, reply: object) -> str:
    """What a handler's answer means, in words."""
    if reply is None or reply is False:
        return NOTHING.get(call, "done")
    if reply is True:
        return "keep the connection open for writing"
    if isinstance(reply, (bytes, bytearray, memoryview)):
        return f"{len(reply)} B reply"
    return f"a {type(reply).__name__}, not bytes"


class Steps:
    """Where traced steps go: the text narration on stderr, the trace file, or both.

    Every step names its lane; `begin`/`end` bracket a handler call, so that
    what the handler causes prints after the line that calls it.
    """

    def __init__(self, text: bool, file: TraceFile | None,
                 server_socket: Callable[[int], tuple[str, str] | None] | None = None) -> None:
        self.text = text
        self.file = file
        # (name, kind) of the server's own socket numbered fd, named when first seen.
        self.server_socket = server_socket or (lambda fd: None)
        self.clock = time.perf_counter  # the trace file's clock too
        self.started = file.started if file is not None else self.clock()
        self.loop_lane = Lane("loop", "loop", 0)
        self.by_fd: dict[int, Lane] = {}
        self.current: Lane | None = None  # whose handler is running, for offload
        # A handler call's line waits here until it returns, or until a step it
        # causes must print: then the call prints first (causal order).
        self._calls: list[list[Any]] = []
        self._lock = threading.Lock()

    # -- lanes ------------------------------------------------------------------

    def lane(self, name: str, kind: str, fd: int | None = None) -> Lane:
        number = self.file.lane(name, kind) if self.file is not None else 0
        lane = Lane(name, kind, number)
        if fd is not None:
            self.by_fd[fd] = lane
        return lane

    def rename(self, lane: Lane, name: str, fd: int) -> None:
        lane.name = name
        self.by_fd[fd] = lane
        if self.file is not None:
            self.file.rename(lane.number, name, lane.kind)

    def forget(self, lane: Lane, fd: int) -> None:
        if self.by_fd.get(fd) is lane:
            del self.by_fd[fd]

    # -- steps ------------------------------------------------------------------

    def say(self, lane: Lane, text: str, at: float | None = None) -> None:
        if not self.text:
            return
        self._flush_calls()
        self._print(lane, text, self.clock() if at is None else at)

    def _print(self, lane: Lane, text: str, at: float) -> None:
        ms = (at - self.started) * 1000
        print(f"trace: {ms:9.3f} ms  {lane.name}: {text}", file=sys.stderr, flush=True)

    def _flush_calls(self) -> None:
        for call in self._calls:
            if not call[3]:
                call[3] = True
                self._print(call[0], call[1], call[2])

    def instant(self, lane: Lane, cat: str, name: str, text: str | None, **args: Any) -> None:
        at = self.clock()
        if self.file is not None:
            self.file.instant(lane.number, cat, name, at, **args)
        if text is not None:
            self.say(lane, text, at)

    def begin(self, lane: Lane, call: str) -> float:
        start = self.clock()
        self._calls.append([lane, call, start, False])
        self.current = lane
        return start

    def end(self, lane: Lane, name: str, start: float, handler: str, result: str) -> None:
        end = self.clock()
        _, call, _, printed = self._calls.pop()
        self.current = self._calls[-1][0] if self._calls else None
        if self.file is not None:
            self.file.complete(lane.number, "handler", name, start, end, handler=handler,
                               reply=result)
        if self.text:
            took = f"in {(end - start) * 1000:.3f} ms"
            if printed:
                self._print(lane, f"handler {handler}.{name} -> {result} {took}", end)
            else:
                self._flush_calls()
                self._print(lane, f"{call} -> {result} {took}", start)

    def lane_of(self, fd: int) -> Lane | None:
        """The lane of a watched descriptor; the server's own sockets get theirs when first seen."""
        lane = self.by_fd.get(fd)
        if lane is None:
            named = self.server_socket(fd)
            if named is not None:
                lane = self.lane(f"fd {fd} {named[0]}", named[1], fd)
        return lane

    def name_of(self, fd: int) -> str:
        lane = self.lane_of(fd)
        return lane.name if lane is not None else f"fd {fd}"

    @property
    def listener_lane(self) -> Lane:
        for lane in self.by_fd.values():
            if lane.kind == "listener":
                return lane
        return self.lane("listener", "listener")

    def finish(self) -> None:
        """Write the trace file, if there is one, and log where it went."""
        if self.file is None:
            return
        try:
            path = self.file.write()
        except OSError as exc:
            log.error("cannot write the trace file %s: %s", self.file.path, exc.strerror)
            return
        log.info("trace file %s: %d events; view it with: python3 -m evloop.trace view %s",
                 path, self.file.event_count(), path)
