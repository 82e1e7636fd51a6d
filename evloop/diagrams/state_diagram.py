"""The state machine as a picture: SVG drawn here, or Graphviz source.

Both are made from the table in evloop.connection.states, never by hand,
so a picture cannot disagree with the code (scripts/draw-states writes
docs/images/states.svg from `python3 -m evloop.states --svg`, and a test
checks the committed file is what it writes now).

What is drawn: a black dot for where a connection starts, an edge into
each first state (`ENTRIES`), one edge for each pair of states the table
joins, labelled with every event that moves a connection along it, and a
ringed dot after the final state.  As in the Mermaid diagram, an event that
leaves a state where it is (`close` while closing already) is not drawn.
An event that leads from every other state to one state (`abort`) would be
an arrow from every box saying one thing, so it is one line of text under
the picture.  The boxes are coloured by the sets evloop.connection.states
names: not open yet (`BEFORE_OPEN`), open (`LIVE_STATES`), and closing.

The layout is evloop.diagrams.layout's; this module only measures text and
writes SVG.  The text is monospace, so its width is known without a font.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape
from xml.sax.saxutils import quoteattr

from evloop.connection.states import BEFORE_OPEN
from evloop.connection.states import ENTRIES
from evloop.connection.states import Event
from evloop.connection.states import FINAL
from evloop.connection.states import LIVE_STATES
from evloop.connection.states import State
from evloop.connection.states import TRANSITIONS
from evloop.diagrams.layout import layout

START, END = "start", "end"
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
STATE_FONT, LABEL_FONT = 13.0, 12.0
ADVANCE = 0.61        # a monospace glyph's width, in ems (DejaVu Sans Mono: 0.602)
BOX_HEIGHT, BOX_PAD, DOT = 30.0, 12.0, 14.0
PORT_GAP = 22.0       # between two arrows into one box
# (fill, stroke, what the colour means) for each kind of state.
COLOURS = {"before": ("#fff6d5", "#a67c00", "not open yet"),
           "live": ("#e4f4e2", "#2e7d32", "open"),
           "closing": ("#f6e3e3", "#a33a3a", "closing")}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


def collapsed() -> dict[Event, State]:
    """The events that lead from every state but one to that one (abort)."""
    found: dict[Event, State] = {}
    for event in Event:
        targets = {new for (_, e), new in TRANSITIONS.items() if e is event}
        sources = {state for (state, e) in TRANSITIONS if e is event}
        if len(targets) == 1 and len(sources) > 2 and sources == set(State) - targets:
            found[event] = targets.pop()
    return found


def edges() -> list[Edge]:
    """What is drawn: entries, the table's moves merged per pair, the end."""
    drawn = [Edge(START, state.name, why) for state, why in ENTRIES]
    events: dict[tuple[State, State], list[str]] = {}
    skip = collapsed()
    for (state, event), new in TRANSITIONS.items():
        if state is not new and event not in skip:
            events.setdefault((state, new), []).append(event.value)
    drawn += [Edge(a.name, b.name, ", ".join(names)) for (a, b), names in events.items()]
    return drawn + [Edge(FINAL.name, END, "")]


def notes() -> list[str]:
    return [f"{event.value}: from any state but {target.name}, to {target.name}"
            for event, target in collapsed().items()]


def kind(state: State) -> str:
    return "before" if state in BEFORE_OPEN else "live" if state in LIVE_STATES else "closing"


def text_width(text: str, size: float) -> float:
    return len(text) * size * ADVANCE


def svg() -> str:
    """The picture docs/images/states.svg holds."""
    drawn = edges()
    placed = layout(measure(drawn), [(e.source, e.target, (text_width(e.label, LABEL_FONT),
                                                           LABEL_FONT + 4) if e.label else None)
                                     for e in drawn])
    legend_y = placed.height + 4
    width = max(placed.width, legend_width() + 32)
    height = legend_y + 22 * (1 + len(notes())) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family={quoteattr(FONT)}>',
           "<title>The connection's states (evloop.connection.states)</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
           '</defs>',
           f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    for edge, route in zip(drawn, placed.routes):
        out.append(f'<path d="{path(route.points)}" fill="none" stroke="#555" '
                   'stroke-width="1.3" marker-end="url(#arrow)"/>')
        if route.label_at is not None:
            x, y = route.label_at
            out.append(text(x, y + LABEL_FONT * 0.35, LABEL_FONT, edge.label))
    out += [box(name, *place) for name, place in placed.boxes.items()]
    return "\n".join(out + legend(legend_y) + ["</svg>"]) + "\n"


def measure(drawn: list[Edge]) -> dict[str, tuple[float, float]]:
    """Each box's (width, height): its name's, or wider, for its arrows to arrive apart."""
    sizes = {START: (DOT, DOT)}
    for state in State:
        arrows = max(sum(1 for e in drawn if e.target == state.name),
                     sum(1 for e in drawn if e.source == state.name))
        sizes[state.name] = (max(text_width(state.name, STATE_FONT) + 2 * BOX_PAD,
                                 PORT_GAP * (arrows + 1)), BOX_HEIGHT)
    sizes[END] = (DOT + 4, DOT + 4)
    return sizes


def path(points: list[tuple[float, float]]) -> str:
    """Straight down through each row, curves between rows."""
    (x, y), rest = points[0], points[1:]
    parts = [f"M{x:.1f},{y:.1f}"]
    for n, (nx, ny) in enumerate(rest):
        if n % 2 == 1:  # the two points of one row
            parts.append(f"L{nx:.1f},{ny:.1f}")
        else:
            bend = (ny - y) / 2
            parts.append(f"C{x:.1f},{y + bend:.1f} {nx:.1f},{ny - bend:.1f} {nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return " ".join(parts)


def box(name: str, x: float, y: float, w: float, h: float) -> str:
    cx, cy = x + w / 2, y + h / 2
    if name == START:
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{w / 2:.1f}" fill="#222"/>'
    if name == END:
        return (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{w / 2:.1f}" fill="white" stroke="#222" '
                f'stroke-width="1.5"/><circle cx="{cx:.1f}" cy="{cy:.1f}" r="{w / 2 - 4:.1f}" '
                'fill="#222"/>')
    fill, stroke, _ = COLOURS[kind(State[name])]
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
            + text(cx, cy + STATE_FONT * 0.35, STATE_FONT, name, ' text-anchor="middle"'))


def text(x: float, y: float, size: float, words: str, more: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" fill="#222"{more}>'
            f'{escape(words)}</text>')


def legend_width() -> float:
    return sum(text_width(meaning, LABEL_FONT) + 40 for _, _, meaning in COLOURS.values())


def legend(y: float) -> list[str]:
    out, x = [], 16.0
    for fill, stroke, meaning in COLOURS.values():
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="18" height="14" rx="4" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="1.5"/>'
                   + text(x + 24, y + 11, LABEL_FONT, meaning))
        x += text_width(meaning, LABEL_FONT) + 40
    for n, note in enumerate(notes()):
        out.append(text(16, y + 22 * (n + 1) + 11, LABEL_FONT, note))
    return out


def dot() -> str:
    """Graphviz source for the same picture: `... --dot | dot -Tsvg`."""
    out = ["digraph states {",
           '    node [shape=box, style="rounded,filled", fontname="monospace", fontsize=11];',
           '    edge [fontname="monospace", fontsize=10];',
           f'    {START} [shape=point, width=0.15, label=""];',
           f'    {END} [shape=doublecircle, style=filled, fillcolor="#222222", width=0.1, '
           'label=""];']
    for state in State:
        fill, stroke, _ = COLOURS[kind(state)]
        out.append(f'    {state.name} [fillcolor="{fill}", color="{stroke}"];')
    for edge in edges():
        label = f" [label={quoted(edge.label)}]" if edge.label else ""
        out.append(f"    {edge.source} -> {edge.target}{label};")
    for n, note in enumerate(notes()):
        out.append(f'    note{n} [shape=plaintext, style="", label={quoted(note)}];')
    out.append("}")
    return "\n".join(out) + "\n"


def quoted(words: str) -> str:
    """A dot string: in double quotes, with backslashes and quotes escaped."""
    return '"' + words.replace("\\", "\\\\").replace('"', '\\"') + '"'
