"""evloop.diagrams.coroutines: a generator looked at between its calls (the same frame,
its line and its locals kept), and bench/coroutines.py's Task and Future stepping a
generator, each message written down as it is sent; docs/06-callbacks-to-coroutines.md
shows what runs draw now, of the generator the chapter shows."""

import os
import re

import pytest

from bench.coroutines import Future
from bench.coroutines import Task
from evloop.diagrams import coroutines
from evloop.diagrams import pages
from tests.conftest import ROOT

CHAPTER = os.path.join(ROOT, "docs", "06-callbacks-to-coroutines.md")


def chapter():
    with open(CHAPTER) as f:
        return f.read()


def test_the_chapter_shows_the_frames_of_a_run_now():
    drawn = coroutines.frames_mermaid(coroutines.pauses())
    assert pages.shown(chapter(), "generator") == pages.fenced(drawn), (
        "run scripts/draw-pictures generator --update")


def test_the_picture_s_generator_is_the_one_the_chapter_runs():
    """The chapter's first pycon session defines conversation(): the same lines."""
    session = next(body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", chapter(),
                                                     re.S | re.M)
                   if lang == "pycon" and "def conversation" in body)
    typed = [line[4:] for line in session.splitlines() if line.startswith((">>> ", "..."))]
    defined = typed[:typed.index("")] if "" in typed else typed
    assert "\n".join(defined) + "\n" == coroutines.CONVERSATION


@pytest.mark.timeout(60)
def test_the_chapter_shows_the_task_s_steps_of_a_run_now():
    drawn = coroutines.task_mermaid(coroutines.task_steps(Task, Future))
    assert pages.shown(chapter(), "task") == pages.fenced(drawn), (
        "run scripts/draw-pictures task --update")


def test_a_suspended_generator_keeps_its_frame_its_line_and_its_locals():
    first, after_next, after_send, after_end = coroutines.pauses()
    assert (first.state, first.line, first.local_names) == (
        "GEN_CREATED", "1: def conversation():", ())
    assert (after_next.result, after_next.state, after_next.line, after_next.local_names) == (
        "gives 'readable'", "GEN_SUSPENDED", '2: data = yield "readable"', ())
    assert (after_send.printed, after_send.line, after_send.local_names) == (
        "got b'hello'", '4: yield "writable"', ("data = b'hello'",))
    assert first.same_frame and after_next.same_frame and after_send.same_frame
    assert (after_end.result, after_end.state, after_end.line) == (
        "raises StopIteration", "GEN_CLOSED", "")


@pytest.mark.timeout(60)
def test_a_task_sends_none_waits_on_the_future_and_sends_its_result_in():
    steps = [(m.source, m.target, m.words) for m in coroutines.task_steps(Task, Future)]
    assert steps == [
        ("Task", "greet()", "send(None)"),
        ("greet()", "the loop", "call_later(0, future.set_result, 'world')"),
        ("greet()", "Task", "yields the Future, suspended at: name = yield future"),
        ("Task", "Future", "add_done_callback(wakeup)"),
        ("Task", "the loop", "Task() returns: nothing waits"),
        ("the loop", "Future", "set_result('world'), a timer due"),
        ("Future", "Task", "wakeup(future)"),
        ("Task", "greet()", "send('world')"),
        ("greet()", "Task", "StopIteration: returned 'hello, world'")]


def test_the_sequence_diagram_has_a_line_per_message_and_no_semicolon():
    messages = coroutines.task_steps(Task, Future)
    picture = coroutines.task_mermaid(messages)
    arrows = [line for line in picture.splitlines() if "->>" in line]
    assert len(arrows) == len(messages)
    assert sum("-->>" in line for line in arrows) == sum(m.reply for m in messages) == 3
    assert ";" not in picture  # a statement's end, to Mermaid
