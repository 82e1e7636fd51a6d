"""A generator's frame between its yields, and a Task stepping a coroutine: drawn from real runs.

Chapter 6 builds coroutines from generators, and both pictures here are
what a run shows, not what a book says:

* `pauses(conversation, ...)` drives a generator with `next()` and
  `send()` and looks at it after each call: its state
  (`inspect.getgeneratorstate`), the line it stands at (`gi_frame.f_lineno`)
  and its local variables (`gi_frame.f_locals`).  Between two calls
  nothing runs, yet the frame, the same object each time, keeps its place
  and its variables: that is all a suspended generator is;
* `task_steps(Task, Future)` runs a Task and a Future of the chapter's
  kind (bench/coroutines.py gives them; anything with their methods will
  do) on a BaseLoop, driving the generator `greet` with a Future that a
  timer resolves, and writes down each message between the loop, the
  Task, the Future and the coroutine as it is sent: `send(None)`, the
  Future yielded, `add_done_callback`, `set_result`, `wakeup`,
  `send(result)`, StopIteration.  The Future's methods and the
  coroutine's `send` are wrapped, never changed.

`frames_mermaid()` and `task_mermaid()` draw them; a test checks that
the chapter shows what a run draws now (`scripts/draw-pictures generator`
and `... task`).  Nothing here is timed: the timer is due at once.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import types
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from evloop.loop.base import BaseLoop


#: The chapter's first generator, as it prints there (made from this text, so its lines are these).
CONVERSATION = """\
def conversation():
    data = yield "readable"
    print("got", data)
    yield "writable"
"""


def make(source: str, name: str) -> Callable[..., Any]:
    """The function `name` that `source` defines, its text kept as its source."""
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


conversation = make(CONVERSATION, "conversation")


@dataclass(frozen=True)
class Pause:
    """A generator, looked at after one call."""

    call: str                 # what was called: "next(talk)"
    result: str               # "gives 'readable'", or "raises StopIteration"
    printed: str              # what it printed meanwhile
    state: str                # inspect.getgeneratorstate
    line: str                 # "2: data = yield 'readable'", or "" once closed
    local_names: tuple[str, ...]  # "data = b'hello'"
    same_frame: bool          # the frame of the first look, still


def source_line(function: Callable[..., Any], number: int) -> str:
    """Line `number` of the file, as "line in the function: its text"."""
    if function is conversation:
        lines, first = CONVERSATION.splitlines(), 1
    else:
        lines, first = inspect.getsourcelines(function)
    return f"{number - first + 1}: {lines[number - first].strip()}"


def look(talk: types.GeneratorType[Any, Any, Any], function: Callable[..., Any], call: str,
         result: str, printed: str, first_frame: object) -> Pause:
    """The generator `talk` (made by `function`) as it stands after `call`."""
    frame = talk.gi_frame
    if frame is None:
        return Pause(call, result, printed, inspect.getgeneratorstate(talk), "", (), False)
    return Pause(call, result, printed, inspect.getgeneratorstate(talk),
                 source_line(function, frame.f_lineno),
                 tuple(f"{name} = {value!r}" for name, value in frame.f_locals.items()),
                 frame is first_frame)


def pauses(function: Callable[[], types.GeneratorType[Any, Any, Any]] = conversation,
           sends: tuple[Any, ...] = (None, b"hello", None)) -> list[Pause]:
    """Make the generator, then next() or send() each of `sends` (None: next), looking each time."""
    talk = function()
    first_frame = talk.gi_frame
    found = [look(talk, function, "talk = conversation()", "a generator, not run yet", "",
                  first_frame)]
    for value in sends:
        call = "next(talk)" if value is None else f"talk.send({value!r})"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                result = f"gives {talk.send(value)!r}"
            except StopIteration:
                result = "raises StopIteration"
        found.append(look(talk, function, call, result, out.getvalue().strip(), first_frame))
    return found


def quote(text: str) -> str:
    """Text for a Mermaid label: its double quotes as an entity."""
    return text.replace('"', "#quot;")


def frames_mermaid(found: list[Pause]) -> str:
    """The looks, left to right, joined by the calls between them."""
    lines = ["flowchart LR"]
    for n, pause in enumerate(found):
        if pause.line:
            where = f"line {quote(pause.line)}"
            names = "<br/>".join(quote(name) for name in pause.local_names) or "no locals yet"
            frame = ("its frame" if n == 0 else
                     "the same frame" if pause.same_frame else "a new frame")
            body = f"{pause.state}<br/>{where}<br/>{names}<br/>({frame})"
        else:
            body = f"{pause.state}<br/>gi_frame is None: the frame is gone"
        lines.append(f'    p{n}["{body}"]')
    for n, pause in enumerate(found[1:], 1):
        said = f"<br/>prints {quote(pause.printed)}" if pause.printed else ""
        words = f"{quote(pause.call)}<br/>{quote(pause.result)}{said}"
        lines.append(f'    p{n - 1} -->|"{words}"| p{n}')
    return "\n".join(lines)


@dataclass(frozen=True)
class Message:
    """One arrow of the sequence: who called whom, with what."""

    source: str
    target: str
    words: str
    reply: bool = False  # a value handed back (yield, StopIteration), drawn dashed


class Stepped:
    """The coroutine as the Task sees it (`send`, `__name__`), writing down each step."""

    def __init__(self, coro: Any, log: list[Message]) -> None:
        self.coro, self.log = coro, log
        self.__name__ = coro.__name__

    def send(self, value: Any) -> Any:
        self.log.append(Message("Task", "greet()", f"send({value!r})"))
        try:
            future = self.coro.send(value)
        except StopIteration as stop:
            self.log.append(Message("greet()", "Task", f"StopIteration: returned {stop.value!r}",
                                    True))
            raise
        frame = self.coro.gi_frame
        line = source_line(greet, frame.f_lineno).split(": ", 1)[1]
        self.log.append(Message("greet()", "Task", f"yields the Future, suspended at: {line}",
                                True))
        return future


def greet(loop: Any, future_class: Callable[[], Any],
          log: list[Message]) -> Generator[Any, Any, str]:
    """The chapter's greet(), returning its greeting, with a timer due at once."""
    future = traced(future_class(), log)
    loop.call_later(0, future.set_result, "world")
    log.append(Message("greet()", "the loop", "call_later(0, future.set_result, 'world')"))
    name = yield future
    return f"hello, {name}"


def traced(future: Any, log: list[Message]) -> Any:
    """The same Future, its add_done_callback and set_result writing down each call."""
    add, set_result = future.add_done_callback, future.set_result

    def add_done_callback(callback: Callable[[Any], object]) -> None:
        log.append(Message("Task", "Future", f"add_done_callback({callback.__name__})"))

        def called(done: Any) -> None:
            log.append(Message("Future", "Task", f"{callback.__name__}(future)"))
            callback(done)
        add(called)

    def resolved(result: Any) -> None:
        log.append(Message("the loop", "Future", f"set_result({result!r}), a timer due"))
        set_result(result)

    future.add_done_callback, future.set_result = add_done_callback, resolved
    return future


def task_steps(task_class: Callable[[Any, Any], object],
               future_class: Callable[[], Any]) -> list[Message]:
    """Run `greet` under `task_class` on a BaseLoop until it returns; its messages, in order."""
    log: list[Message] = []
    loop = BaseLoop()
    try:
        task_class(loop, Stepped(greet(loop, future_class, log), log))
        log.append(Message("Task", "the loop", "Task() returns: nothing waits", True))
        turns = 0
        while not log[-1].words.startswith("StopIteration") and turns < 10:
            loop.run_once(None)
            turns += 1
    finally:
        loop.close()
    return log


PARTICIPANTS = ("the loop", "Task", "Future", "greet()")


def task_mermaid(messages: list[Message]) -> str:
    """The messages as a Mermaid sequence diagram."""
    ids = {name: f"P{n}" for n, name in enumerate(PARTICIPANTS)}
    lines = ["sequenceDiagram"] + [f"    participant {ids[name]} as {name}"
                                   for name in PARTICIPANTS]
    for m in messages:
        arrow = "-->>" if m.reply else "->>"
        lines.append(f"    {ids[m.source]}{arrow}{ids[m.target]}: {m.words.replace(';', ',')}")
    return "\n".join(lines)
