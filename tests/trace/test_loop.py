"""evloop.trace.loop: LoopTracer narrates a loop's waits (how long, with what timeout,
what woke it), says nothing of a turn that only looked and found nothing, marks the
waker's wake-ups, and draws each callback in the file."""

import re

from evloop.loop.base import BaseLoop
from evloop.trace.loop import LoopTracer
from evloop.trace.recording import TraceFile
from evloop.trace.steps import Steps

WOKE = re.compile(r"^trace: +\d+\.\d{3} ms  loop: woke after \d+\.\d{3} ms \((.+?)\): (.*)$")


def traced(selector, tmp_path=None):
    loop = BaseLoop(selector)
    file = TraceFile(str(tmp_path / "t.json")) if tmp_path else None
    steps = Steps(text=True, file=file)
    loop.add_instrument(LoopTracer(steps, loop))
    return loop, steps, file


def woke(capsys):
    return [WOKE.match(line).groups() for line in capsys.readouterr().err.splitlines()]


def test_a_wait_says_how_long_with_what_timeout_and_what_woke_it(selector, capsys):
    loop, steps, _ = traced(selector)
    loop.run_once(timeout=0.01)  # nothing: the timeout woke it
    loop.wake()
    loop.run_once(timeout=None)
    assert woke(capsys) == [("timeout 10 ms", "nothing ready"),
                            ("no timeout", f"fd {loop.waker_fd} wake-up R")]
    loop.close()


def test_a_turn_that_only_looked_and_found_nothing_is_not_news(selector, capsys):
    loop, _, _ = traced(selector)
    loop.run_once(timeout=0)
    loop.call_soon(lambda: None)  # a queued callback: the wait only looks
    loop.run_once(timeout=None)
    assert capsys.readouterr().err == ""
    loop.close()


def test_the_file_has_each_wait_the_wake_ups_and_each_callback(selector, tmp_path):
    loop, steps, file = traced(selector, tmp_path)

    def tick():
        pass

    loop.wake()
    loop.call_later(0, tick)
    loop.run_once(timeout=1.0)
    document = file.document()
    waits = [e for e in document["traceEvents"] if e.get("cat") == "wait"]
    assert [(e["tid"], e["args"]["woken_by"]) for e in waits] == [
        (0, f"fd {loop.waker_fd} wake-up R")]
    waker = next(e["tid"] for e in document["traceEvents"]
                 if e["name"] == "thread_name" and e["args"]["kind"] == "waker")
    assert [e["name"] for e in document["traceEvents"] if e.get("tid") == waker
            and e["ph"] == "i"] == ["wake"]
    callbacks = [e["args"]["callback"] for e in document["traceEvents"] if e.get("cat") == "timer"]
    assert callbacks == [tick.__qualname__]
    loop.close()
