"""evloop.diagrams.turn: one real turn of the loop, written down as it happens, and drawn;
docs/04-anatomy.md shows what a run draws now, and the steps come in the order
`Turns.run_once` takes them in the code."""

import ast
import inspect
import os
import re
import textwrap

import pytest

from evloop.diagrams import pages
from evloop.diagrams import turn
from evloop.loop.turns import Turns
from tests.conftest import ROOT

CHAPTER = os.path.join(ROOT, "docs", "04-anatomy.md")


@pytest.mark.timeout(60)
def test_the_chapter_shows_the_turn_a_run_draws_now():
    with open(CHAPTER) as f:
        shown = pages.shown(f.read(), "turn")
    drawn = pages.fenced(turn.mermaid(turn.record()))
    assert shown == drawn, ("docs/04-anatomy.md's turn is out of date: "
                            "run scripts/draw-pictures turn --update")


def evloop_order_source():
    """run_once as evloop turns it: its code without the `if asyncio_order:` branches
    (and without comments: unparsed from its tree)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(Turns.run_once)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef) and ast.get_docstring(function)
    function.body = function.body[1:]  # the docstring: words, not calls
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            kept = []
            for child in getattr(node, field, []):
                if isinstance(child, ast.If) and ast.unparse(child.test) == "asyncio_order":
                    kept += child.orelse
                else:
                    kept.append(child)
            if hasattr(node, field):
                setattr(node, field, kept)
    return ast.unparse(tree)


def test_the_code_names_come_in_the_order_run_once_calls_them():
    source = evloop_order_source()
    assert "if asyncio_order" not in source and "pop_due" in source
    found_as = {"after_turn": "self._turn_hooks"}  # the instruments' after_turn hooks
    places = [source.find(found_as.get(name, name)) for name in turn.CODE_ORDER]
    assert -1 not in places, dict(zip(turn.CODE_ORDER, places))
    assert places == sorted(places), dict(zip(turn.CODE_ORDER, places))


@pytest.mark.timeout(60)
def test_a_turn_waits_calls_the_ready_descriptors_then_the_queue_then_the_turn_end(selector):
    done = turn.record(selector)
    assert turn.steps_in_code_order(done)
    assert [step.code for step in done.steps] == [
        "_next_timeout", "_poll", "reader()", "_dispatch_other", "pop_due",
        "_run_ready", "_run_ready", "_run_turn_end", "after_turn"]
    what = [step.what for step in done.steps]
    assert what[0] == "the timeout: 0 ms (the nearest timer on the heap is due)"
    assert what[1] == f"{selector}: socket A readable, socket B writable"
    assert what[5].startswith("answer") and what[6].startswith("check_idle")  # the reader's first
    assert what[7] == "flush: send() 5 B, one call for the turn's replies"
    assert done.watched == ("socket A: reader", "socket B: writer", "the waker: reader")
    # Before: A, B and the waker; two timers; nothing queued.  After: B's writer gone,
    # the due timer run, the far one left, and what the queue's callbacks queued waiting.
    assert (done.before.descriptors, done.before.writers, done.before.timers,
            done.before.ready) == (3, 1, 2, 0)
    assert (done.after.writers, done.after.timers, done.after.ready) == (0, 1, 1)


def test_the_picture_has_each_step_once_in_order_and_the_state_it_reads():
    done = turn.record()
    picture = turn.mermaid(done)
    numbers = [int(n) for n in re.findall(r'^        s\d+\["(\d+)\. ', picture, re.M)]
    assert numbers == list(range(1, len(done.steps) + 1))
    assert "    " + " --> ".join(f"s{n}" for n in numbers) + "\n" in picture
    for store in ("fds", "heap", "queue", "finish"):
        assert re.search(rf"^    {store} -\.->", picture, re.M), store
    assert '    s3 -.->|"call_soon"| queue' in picture  # the reader's call_soon
    assert "#quot;" not in picture and '"' not in "".join(s.what for s in done.steps)
