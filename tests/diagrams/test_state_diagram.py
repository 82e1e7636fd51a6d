"""evloop.diagrams.state_diagram: the state machine's pictures, the SVG drawn from the
table (and committed as docs/images/states.svg) and the Graphviz source, laid out with
nothing overlapping.

The table itself: tests/connection/test_states.py; the layout on its own:
tests/diagrams/test_layout.py; the command, `python3 -m evloop.states`:
tests/cli/test_states.py; the Mermaid diagram in docs/04-anatomy.md:
tests/docs/test_docs.py.
"""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from evloop.connection import states
from evloop.diagrams import layout
from evloop.diagrams import state_diagram as drawing
from tests.conftest import ROOT
from tests.conftest import cli_env

SVG = "{http://www.w3.org/2000/svg}"
COMMITTED = os.path.join(ROOT, "docs", "images", "states.svg")


def test_the_committed_picture_is_what_draw_states_makes_now(tmp_path):
    """scripts/draw-states, run in a copy of the tree's layout, writes the committed file."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(os.path.join(ROOT, "scripts", "draw-states"), tmp_path / "scripts")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / ".venv" / "bin" / "python")
    run = subprocess.run([str(tmp_path / "scripts" / "draw-states")], capture_output=True,
                         text=True, env=cli_env(), timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    drawn = (tmp_path / "docs" / "images" / "states.svg").read_text()
    with open(COMMITTED) as f:
        assert f.read() == drawn, "docs/images/states.svg is out of date: run scripts/draw-states"


def texts(svg):
    return [node.text for node in ElementTree.fromstring(svg).iter(SVG + "text")]


def test_the_picture_names_every_state_and_every_move_of_the_table():
    words = texts(drawing.svg())
    for state in states.State:
        assert state.name in words, state
    labels = {(edge.source, edge.target): edge.label.split(", ") for edge in drawing.edges()}
    notes = drawing.notes()
    for (state, event), new in states.TRANSITIONS.items():
        if state is new:
            continue  # drawn nowhere, as in the Mermaid diagram
        if event in drawing.collapsed():
            assert any(note.startswith(f"{event.value}: ") for note in notes), event
        else:
            assert event.value in labels[state.name, new.name], (state, event)
    for edge in drawing.edges():
        assert not edge.label or edge.label in words, edge
    for note in notes:
        assert note in words
    for new, why in states.ENTRIES:
        assert labels["start", new.name] == why.split(", ")


def test_only_an_event_from_every_state_to_one_is_written_as_a_note(monkeypatch):
    assert drawing.collapsed() == {states.Event.ABORT: states.CLOSED}
    table = dict(states.TRANSITIONS)
    del table[states.LINGERING, states.Event.ABORT]
    monkeypatch.setattr(drawing, "TRANSITIONS", table)
    assert drawing.collapsed() == {}
    drawn = {(e.source, e.target): e.label for e in drawing.edges()}
    assert drawn["OPEN", "CLOSED"] == "abort"
    assert drawn["LINGERING", "CLOSED"] == "peer_eof, timeout"


def rectangles():
    """What the picture fills: each box and each label, as (x0, y0, x1, y1, what)."""
    drawn = drawing.edges()
    placed = layout.layout(drawing.measure(drawn), [
        (e.source, e.target, (drawing.text_width(e.label, drawing.LABEL_FONT),
                              drawing.LABEL_FONT + 4) if e.label else None) for e in drawn])
    found = [(x, y, x + w, y + h, name) for name, (x, y, w, h) in placed.boxes.items()]
    for edge, route in zip(drawn, placed.routes):
        if route.label_at is not None:
            x, y = route.label_at
            width = drawing.text_width(edge.label, drawing.LABEL_FONT)
            found.append((x, y - 8, x + width, y + 8, edge.label))
    return placed, found


def test_no_box_or_label_overlaps_another():
    _, found = rectangles()
    assert len(found) == len(states.State) + 2 + sum(1 for e in drawing.edges() if e.label)
    for n, (ax0, ay0, ax1, ay1, a) in enumerate(found):
        for bx0, by0, bx1, by1, b in found[n + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)


def test_no_line_runs_through_a_box_or_a_label():
    """Lines run straight down through a row (between the 2nd and 3rd points, the
    4th and 5th...) and curve only between rows, where no box or label is."""
    placed, found = rectangles()
    for route in placed.routes:
        straight = list(zip(route.points[1:-1:2], route.points[2:-1:2]))
        assert straight and all(top[0] == bottom[0] for top, bottom in straight)
        for (x, top), (_, bottom) in straight:
            for x0, y0, x1, y1, what in found:
                assert not (x0 < x < x1 and top < y1 and y0 < bottom), (x, top, what)


def test_every_arrow_points_down_and_meets_its_boxes():
    placed, _ = rectangles()
    for edge, route in zip(drawing.edges(), placed.routes):
        ys = [y for _, y in route.points]
        assert ys == sorted(ys), edge
        for name, (x, y) in ((edge.source, route.points[0]), (edge.target, route.points[-1])):
            bx, by, bw, bh = placed.boxes[name]
            assert bx <= x <= bx + bw and y in (by, by + bh), (edge, name)


def test_the_dot_source_has_every_edge():
    source = drawing.dot()
    for edge in drawing.edges():
        label = f' [label="{edge.label}"]' if edge.label else ""
        assert f"    {edge.source} -> {edge.target}{label};\n" in source
    assert drawing.quoted('say "hi" \\') == '"say \\"hi\\" \\\\"'


def test_graphviz_draws_the_dot_source():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: the --dot output is not drawn here")
    run = subprocess.run(["dot", "-Tsvg"], input=drawing.dot(), capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    words = texts(run.stdout)
    assert all(state.name in words for state in states.State)
