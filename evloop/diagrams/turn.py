"""One turn of the loop, drawn from a real turn: what it waits with, what it calls, in order.

`record()` sets up a BaseLoop so that every part of a turn has work, runs
one turn (`run_once`), and writes down what happened as it happened: an
instrument (evloop.loop.instruments) sees the wait's timeout and the
backend's answer, and the callbacks note what they do.  Before the turn:

* socket A is readable (its peer sent 5 bytes), and has a reader;
* socket B has a writer: 3 bytes of an earlier reply wait for room;
* the heap holds two timers: one due now, one in a minute;
* the call_soon queue and the turn-end list are empty.

`mermaid()` draws the steps top to bottom, beside the loop's state they
read and change (the descriptors, the timer heap, the call_soon queue, the
turn-end list).  Each step names the code in `Turns.run_once` that took it
(evloop/loop/turns.py); a test checks that the names come in that order in
the code, and that the chapter shows what a run draws now
(`scripts/draw-pictures turn`).  Nothing here is timed: the timer due now
makes the timeout 0, so the turn never sleeps.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from evloop.loop.backends import event_mask
from evloop.loop.base import BaseLoop
from evloop.loop.base import LoopStatistics
from evloop.loop.instruments import Instrument

#: What a turn calls, in the order `Turns.run_once` calls it (a test holds it to the code).
CODE_ORDER = ("_next_timeout", "_poll", "reader()", "_dispatch_other", "pop_due",
              "_run_ready", "_run_turn_end", "after_turn")


@dataclass(frozen=True)
class Step:
    """One thing a turn did: the code that did it, and what was seen."""

    code: str
    what: str


@dataclass(frozen=True)
class Turn:
    backend: str
    watched: tuple[str, ...]  # each descriptor, and what it has: "socket A: reader"
    before: LoopStatistics
    steps: tuple[Step, ...]
    after: LoopStatistics


class Watcher(Instrument):
    """Writes down the wait's timeout, the backend's answer, and the turn's end."""

    def __init__(self, log: list[Step], names: dict[int, str], loop: BaseLoop) -> None:
        self.log, self.names, self.loop = log, names, loop
        self.timers_at_poll: int | None = None  # the heap's size as the wait began

    def before_poll(self, timeout: float | None) -> None:
        stats = self.loop.statistics()
        self.timers_at_poll = stats.timers
        why = ("the call_soon queue is not empty" if stats.ready
               else "the nearest timer on the heap is due" if timeout == 0 and stats.timers
               else "the nearest timer" if timeout is not None else "no timer: no limit")
        shown = "none" if timeout is None else f"{timeout * 1000:.0f} ms"
        self.log.append(Step("_next_timeout", f"the timeout: {shown} ({why})"))

    def after_poll(self, events: list[tuple[int, int]]) -> None:
        ready = [f"{self.names.get(fd, f'fd {fd}')} {mode(event)}" for fd, event in events]
        self.log.append(Step("_poll", f"{self.loop.selector_name}: "
                             + (", ".join(ready) or "nothing ready")))

    def before_callback(self, handle: Any) -> None:
        """The first callback of the turn: the due timers have just left the heap."""
        if self.timers_at_poll is None:
            return
        stats = self.loop.statistics()
        moved, self.timers_at_poll = self.timers_at_poll - stats.timers, None
        self.log.append(Step("pop_due", f"{moved} timer due: from the heap to the call_soon "
                             f"queue, which holds {stats.ready + 1}"))

    def after_turn(self, seconds: float) -> None:
        stats = self.loop.statistics()
        self.log.append(Step("after_turn", f"the turn ends: {stats.ready} callback queued "
                             "for the next turn"))


def mode(event: int) -> str:
    mask = event_mask(event)
    return " and ".join(word for bit, word in ((1, "readable"), (2, "writable")) if mask & bit)


def record(selector: str = "auto") -> Turn:
    """Run one turn of a loop set up as the module docstring says, and say what it did."""
    loop = BaseLoop(selector)
    a, a_peer = socket.socketpair()
    b, b_peer = socket.socketpair()
    log: list[Step] = []
    try:
        for sock in (a, b):
            sock.setblocking(False)
        a_peer.send(b"hello")
        replies = bytearray()
        unsent = bytearray(b"lo\n")  # the rest of an earlier reply
        turn_story(loop, log, a, b, replies, unsent)
        names = {a.fileno(): "socket A", b.fileno(): "socket B", loop.waker_fd: "the waker"}
        before = loop.statistics()
        watched = tuple(f"{name}: " + " and ".join(
            role for role, callback in zip(("reader", "writer"), loop.callbacks(fd)) if callback)
            for fd, name in names.items())
        loop.add_instrument(Watcher(log, names, loop))
        loop.run_once(None)
        return Turn(loop.selector_name, watched, before, tuple(log), loop.statistics())
    finally:
        loop.close()
        for sock in (a, a_peer, b, b_peer):
            sock.close()


def turn_story(loop: BaseLoop, log: list[Step], a: socket.socket, b: socket.socket,
               replies: bytearray, unsent: bytearray) -> None:
    """Install the readers, writer and timers of the turn; each notes what it does."""
    def on_readable() -> None:
        data = a.recv(1024)
        loop.call_soon(answer, data)
        loop.at_turn_end(flush)
        log.append(Step("reader()", f"socket A's reader: recv() {len(data)} B, "
                        "call_soon(answer), at_turn_end(flush)"))

    def on_writable() -> None:
        sent = b.send(unsent)
        del unsent[:sent]
        loop.remove_writer(b)
        log.append(Step("_dispatch_other", f"socket B's writer: send() {sent} B, "
                        "nothing left: remove_writer"))

    def answer(data: bytes) -> None:
        replies.extend(data.upper())
        log.append(Step("_run_ready", f"answer: {len(data)} B reply, into the output buffer"))

    def check_idle() -> None:
        loop.call_soon(report)
        log.append(Step("_run_ready", "check_idle: call_soon(report), for the next turn"))

    def report() -> None:  # queued during the callbacks: runs in the next turn
        pass

    def flush() -> None:
        sent = a.send(replies)
        del replies[:sent]
        log.append(Step("_run_turn_end",
                        f"flush: send() {sent} B, one call for the turn's replies"))

    loop.add_reader(a, on_readable)
    loop.add_writer(b, on_writable)
    loop.call_later(0, check_idle)
    loop.call_later(60, report)


def mermaid(turn: Turn) -> str:
    """The turn as a Mermaid flowchart: its steps in order, beside the loop's state."""
    before = turn.before
    lines = ["flowchart TD",
             '    subgraph loopstate ["the loop\'s state, before the turn"]',
             f'        fds[("descriptors: {before.descriptors} watched<br/>'
             + "<br/>".join(turn.watched) + '")]',
             f'        heap[("timer heap: {before.timers} timers")]',
             f'        queue[("call_soon queue: {before.ready} waiting")]',
             '        finish[("turn-end list: empty")]',
             "    end",
             '    subgraph oneturn ["one turn: run_once()"]']
    for n, step in enumerate(turn.steps, 1):
        lines.append(f'        s{n}["{n}. {label(step)}"]')
    lines.append("    end")
    lines.append("    " + " --> ".join(f"s{n}" for n in range(1, len(turn.steps) + 1)))
    lines.append(f'    s{len(turn.steps)} -->|"the next turn"| s1')
    for store, code, words in (("heap", "_next_timeout", "the nearest deadline"),
                               ("fds", "_poll", "what to watch"),
                               ("heap", "pop_due", "the due timers"),
                               ("queue", "_run_ready", "what was queued"),
                               ("finish", "_run_turn_end", "run, then emptied")):
        n = first(turn, code)
        if n:
            lines.append(f'    {store} -.->|"{words}"| s{n}')
    for code, store, words in (("reader()", "queue", "call_soon"),
                               ("reader()", "finish", "at_turn_end")):
        n = first(turn, code)
        if n:
            lines.append(f'    s{n} -.->|"{words}"| {store}')
    return "\n".join(lines)


def label(step: Step) -> str:
    return f"{step.what.replace(chr(34), '#quot;')}<br/>turns.py: {step.code}"


def first(turn: Turn, code: str) -> int:
    """The number of the first step `code` took, 0 if none."""
    return next((n for n, step in enumerate(turn.steps, 1) if step.code == code), 0)


def steps_in_code_order(turn: Turn) -> bool:
    """Whether the steps came in the order of `CODE_ORDER` (a turn may skip some)."""
    places = [CODE_ORDER.index(step.code) for step in turn.steps]
    return places == sorted(places)

