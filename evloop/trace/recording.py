"""The trace file: what the loop did, turn by turn, for a timeline to show.

`--trace` narrates a run as text; `--trace-file run.json` records the same
steps with their times, so that a picture can show them: the selector's
sleeps, each descriptor's accepts, reads and writes, the handler's time,
timers, state changes, pauses and offloaded jobs.  `python3 -m evloop.trace
view run.json` draws the file as one HTML page (evloop.trace.page).

The file is in the Chrome Trace Event format (its "JSON Object Format"), so
Perfetto, speedscope and chrome://tracing open it as well:

    {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}

Each event's `tid` is a *lane*, one row of the timeline, declared once by a
`thread_name` metadata event whose `args` give its name and its `kind`:

* "loop" (lane 0): the selector's waits and the callbacks it ran;
* "listener", "waker", "udp", "metrics": the server's own sockets;
* "client" and "outbound": one lane per connection (a new one even when
  the kernel hands a closed connection's number to the next): its I/O,
  handler calls, state changes, pauses and interest;
* "offload": one lane per pool thread, its jobs;
* "thread": in the thread-per-client model (bench), one client's thread.

Steps are kept in memory and written at the end: a list append per step,
where a write per step would be a system call.  `max_events` bounds the
memory of a long run, after which the file says where it stopped
(bench/results/README.md, "Tracing").  A process killed with SIGKILL
writes nothing; SIGINT and SIGTERM write the file as the server stops.

`TraceFile` may be fed from several threads (the offload pool, the threads
model): a list append is atomic in CPython, and new lanes take a lock.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import threading
import time
from typing import Any

__all__ = ["TraceFile", "preview"]

PREVIEW = 32  # characters of data shown with each recv and send


def preview(data: bytes | bytearray | memoryview) -> str:
    """The first bytes of `data` as text: latin-1 keeps every byte one character."""
    return bytes(data[:PREVIEW]).decode("latin-1")


def command_line() -> str:
    """How this process was started, as a person would type it: python3 -m evloop.serve ..."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = f"python3 -m {spec.name}" if spec is not None and spec.name else sys.argv[0]
    return " ".join([program, *sys.argv[1:]])


class TraceFile:
    """Steps recorded for the Chrome Trace Event format; `write()` saves them.

    Methods for the caller: `lane(name, kind)` declares a row and returns its
    number, `rename(lane, name, kind)`, `now()` (the trace's clock, in
    seconds), `complete(lane, cat, name, start, end, **args)`, `instant(lane,
    cat, name, at=None, **args)`, `preview(data)` (the text shown for some
    bytes), `write()`, `event_count()`.

    Every event has a `pid`, a `tid` (its lane), a time `ts` in microseconds
    since the trace began, a phase `ph` ("M" metadata, "X" complete, with
    `dur`, "i" instant, with "s": "t"), a `name` and a category `cat`: "wait"
    (the selector's), "timer" (timers and call_soon callbacks), "io"
    (accepts, reads and writes, with byte counts and a short preview),
    "handler", "state" (with `from`, `to` and the event), "flow" (pauses and
    interest), "offload", and "blocked" (a thread's system calls).
    """

    def __init__(self, path: str, *, model: str = "evloop", command: str | None = None,
                 max_events: int = 1_000_000, loop_lane: bool = True) -> None:
        self.path = path
        self.pid = os.getpid()
        self.max_events = max_events
        self.started = time.perf_counter()
        self.events: list[dict[str, Any]] = []
        self.full = False
        self._lanes = 0
        self._lock = threading.Lock()
        self.other = {"program": "evloop", "format": 1, "model": model,
                      "command": command if command is not None else command_line(),
                      "started": datetime.datetime.now(datetime.timezone.utc)
                      .strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.events.append({"ph": "M", "name": "process_name", "pid": self.pid, "tid": 0,
                            "args": {"name": f"{model} {self.pid}"}})
        if loop_lane:  # a model with no loop (threads) has none
            self.lane("loop", "loop")

    preview = staticmethod(preview)  # for callers that record bytes themselves (bench)

    def now(self) -> float:
        """The trace's clock, in seconds (time.perf_counter: microsecond steps)."""
        return time.perf_counter()

    def _us(self, at: float) -> float:
        return round((at - self.started) * 1e6, 1)

    def lane(self, name: str, kind: str) -> int:
        """A new row of the timeline, named; lane 0 is the loop's."""
        with self._lock:
            lane = self._lanes
            self._lanes += 1
        self.events.append({"ph": "M", "name": "thread_name", "pid": self.pid, "tid": lane,
                            "args": {"name": name, "kind": kind}})
        self.events.append({"ph": "M", "name": "thread_sort_index", "pid": self.pid,
                            "tid": lane, "args": {"sort_index": lane}})
        return lane

    def rename(self, lane: int, name: str, kind: str) -> None:
        """A lane's new name (an outbound connection, once it has a descriptor)."""
        self.events.append({"ph": "M", "name": "thread_name", "pid": self.pid, "tid": lane,
                            "args": {"name": name, "kind": kind}})

    def _add(self, event: dict[str, Any]) -> None:
        if len(self.events) >= self.max_events:
            if not self.full:
                self.full = True
                self.other["stopped"] = (f"the trace stopped at {self.max_events} events "
                                         f"(max_events); the run went on")
            return
        self.events.append(event)

    def complete(self, lane: int, cat: str, name: str, start: float, end: float,
                 **args: Any) -> None:
        """A step that took time: from `start` to `end` (the trace's clock)."""
        self._add({"ph": "X", "cat": cat, "name": name, "pid": self.pid, "tid": lane,
                   "ts": self._us(start), "dur": round(max(end - start, 0.0) * 1e6, 1),
                   "args": args})

    def instant(self, lane: int, cat: str, name: str, at: float | None = None,
                **args: Any) -> None:
        """A step at one moment (now, unless `at` is given)."""
        self._add({"ph": "i", "s": "t", "cat": cat, "name": name, "pid": self.pid,
                   "tid": lane, "ts": self._us(self.now() if at is None else at),
                   "args": args})

    def event_count(self) -> int:
        """The steps recorded: the events a timeline draws, as `python3 -m evloop.trace
        view` counts them (evloop.trace.page.timed_events).  The file holds more
        records: the metadata ("M") that names the process and declares each lane."""
        return sum(1 for event in self.events if event["ph"] != "M")

    def document(self) -> dict[str, Any]:
        # Sorted by time (metadata first), so a reader can take the file in order.
        events = sorted(self.events, key=lambda e: (e["ph"] != "M", e.get("ts", 0.0)))
        return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": dict(self.other)}

    def write(self) -> str:
        """Save the file (atomically: a reader never sees half of it); returns its path."""
        temporary = f"{self.path}.{self.pid}.tmp"
        with open(temporary, "w") as f:
            json.dump(self.document(), f, separators=(",", ":"))
        os.replace(temporary, self.path)
        return self.path
