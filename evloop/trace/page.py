"""The trace page: one self-contained HTML timeline of a `--trace-file` run.

`render(trace)` turns a trace (the Chrome Trace Event JSON that
`--trace-file run.json` writes, which Perfetto opens too) into one HTML
file that needs nothing else: no network, no fonts, no library.
`load(path)` reads such a file, and raises ValueError with a one-line
reason for anything that is not one (`python3 -m evloop.trace view`).

What the page shows
-------------------
One row ("lane") per descriptor, in the file's lane order: the loop, the
listener, the wake-up socket, each connection, each offload or client
thread.  Time runs left to right on one shared axis.  The loop's sleeps in
the selector are pale on the loop lane and band every lane faintly, so
what happened while the loop was awake stands out; between them the loop
lane is dark ("running").  Handler calls are solid blocks, and a call of
STALL_US or more is red and taller: for that long, no other connection was
served.  recv and send are marks of two colours, state changes diamonds,
and a connection's background takes the colour of its state.

How it is built
---------------
The header (program, time span, counts, the longest handler call, the
loop's time asleep against busy) is computed here, in Python, and put in
as HTML.  The trace itself goes in whole, as the JSON of a
`<script type="application/json" id="trace-data">`, with every `<`, `>`
and `&` written as a \\u escape so that a preview holding `</script>`
cannot end the script.  The page's script (in page.html, beside this
module) reads it back with JSON.parse and builds every lane as one HTML
string, escaping each string from the file, so 20,000 events cost one
innerHTML.  Each element's place is a CSS variable (`--t`, `--d`, in
microseconds) times one scale variable on the canvas, so a zoom changes
one property instead of 20,000 styles.

`window.timeline` offers `zoom(factor)`, `fit()` and `scale()` (pixels per
millisecond, also #timeline's `data-scale`); for tests that read only the
DOM (`chromium --headless --dump-dom`), `page.html#zoom=4&hover=N` zooms
and shows the tooltip of the file's event N at load.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import dataclass
from dataclasses import field
from importlib import resources
from typing import Any

__all__ = ["PageLane", "Summary", "load", "check", "summarise", "render", "format_duration"]

STALL_US = 50_000  # the page draws a handler call this long in red (page.html's STALL_US)
MARKER = re.compile(r"@(TITLE|HEADER|TRACE_DATA)@")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TIMED_PHASES = ("X", "i", "I")


@dataclass(frozen=True)
class PageLane:
    """One row of the timeline: a descriptor, or a thread."""

    tid: int
    name: str
    kind: str


@dataclass
class Summary:
    """What the header says about a trace, and the command's one line."""

    lanes: list[PageLane]
    events: int = 0
    span_us: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)
    longest: dict[str, Any] | None = None  # the longest handler call
    waiting_us: float | None = None  # the loop's time in the selector; None: no loop lane


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a trace file.  Raises ValueError saying what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ValueError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{os.fspath(path)} is not JSON: it is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"{os.fspath(path)} is not JSON: {error.msg} "
                         f"at line {error.lineno} column {error.colno}") from None
    except ValueError as error:  # NaN or Infinity, which JSON.parse would refuse
        raise ValueError(f"{os.fspath(path)} is not JSON: {error}") from None
    check(data, os.fspath(path))
    return data  # type: ignore[no-any-return]


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def check(data: object, source: str = "the trace") -> None:
    """Raise ValueError unless `data` is a trace: an object with a traceEvents list."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} is not a trace: it holds a JSON {json_type(data)}, "
                         f"not an object with a traceEvents list")
    if not isinstance(data.get("traceEvents"), list):
        raise ValueError(f"{source} is not a trace: it has no traceEvents list")


def json_type(value: object) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def timed_events(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The events the page draws (as the page's script picks them): X and i with a time."""
    return [event for event in trace["traceEvents"]
            if isinstance(event, dict) and event.get("ph") in TIMED_PHASES and is_number(event.get("ts"))]


def lanes_of(trace: dict[str, Any]) -> list[PageLane]:
    """The lanes in the page's order: declared by thread_name, or met in an event."""
    names: dict[int, tuple[str, str]] = {}
    sort_index: dict[int, float] = {}
    for event in trace["traceEvents"]:
        if not isinstance(event, dict):
            continue
        tid = event["tid"] if is_number(event.get("tid")) else 0
        args = event.get("args") if isinstance(event.get("args"), dict) else {}
        assert isinstance(args, dict)
        if event.get("ph") == "M" and event.get("name") == "thread_name":
            name, kind = names.get(tid, (f"lane {tid}", "unknown"))
            names[tid] = (str(args.get("name", name)), str(args.get("kind", kind)))
        elif event.get("ph") == "M" and event.get("name") == "thread_sort_index":
            if is_number(args.get("sort_index")):
                sort_index[tid] = args["sort_index"]
        elif event.get("ph") in TIMED_PHASES and is_number(event.get("ts")):
            names.setdefault(tid, (f"lane {tid}", "unknown"))
    order = sorted(names, key=lambda tid: (sort_index.get(tid, tid), tid))
    return [PageLane(tid, *names[tid]) for tid in order]


def summarise(trace: dict[str, Any]) -> Summary:
    check(trace)
    lanes = lanes_of(trace)
    summary = Summary(lanes)
    loop_tids = {lane.tid for lane in lanes if lane.kind == "loop"}
    for event in timed_events(trace):
        summary.events += 1
        category = str(event.get("cat", ""))
        summary.categories[category] = summary.categories.get(category, 0) + 1
        dur = max(0.0, event["dur"]) if event["ph"] == "X" and is_number(event.get("dur")) else 0.0
        summary.span_us = max(summary.span_us, event["ts"] + dur)
        if category == "handler" and event["ph"] == "X":
            if summary.longest is None or dur > summary.longest.get("dur", 0):
                summary.longest = event
        if category == "wait" and event["ph"] == "X" and event.get("tid", 0) in loop_tids:
            summary.waiting_us = (summary.waiting_us or 0.0) + dur
    if loop_tids and summary.waiting_us is None:
        summary.waiting_us = 0.0
    return summary


def format_duration(us: float) -> str:
    """1520000 -> "1.52 s", 300000 -> "300 ms", 1234 -> "1.2 ms", 12 -> "12 µs" (as the page)."""
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 10_000:
        return f"{us / 1000:.0f} ms"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def shown(text: object) -> str:
    """A string from the file, safe in HTML: control characters as \\xNN, then escaped."""
    visible = CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(text))
    return html.escape(visible, quote=True)


def embedded_json(trace: dict[str, Any]) -> str:
    """The trace as script text: `<`, `>` and `&` as \\u escapes, which JSON allows in strings."""
    try:
        text = json.dumps(trace, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise ValueError("the trace holds NaN or Infinity, which JSON cannot carry") from None
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def header_html(trace: dict[str, Any], summary: Summary) -> str:
    other = trace.get("otherData") if isinstance(trace.get("otherData"), dict) else {}
    assert isinstance(other, dict)
    program = shown(other.get("program", "trace"))
    model = f'<span class="model">{shown(other["model"])} model</span>' if "model" in other else ""
    facts = [f"<code>{shown(other['command'])}</code>"] if "command" in other else []
    facts += [f"started {shown(other['started'])}"] if "started" in other else []
    cards = [card(format_duration(summary.span_us), "time span"),
             card(str(len(summary.lanes)), "lanes"),
             card(str(summary.events), "events", kind="card events", after=counts_html(summary.categories))]
    cards.append(longest_html(summary))
    cards.append(loop_html(summary))
    return (f"<h1>{program} trace{model}</h1>\n"
            f'<p class="command">{" &middot; ".join(facts) or "no command recorded"}</p>\n'
            f'<div class="cards">{"".join(cards)}</div>')


def card(value: str, label: str, attributes: str = "", kind: str = "card", after: str = "") -> str:
    """One figure of the header: `value` big, `label` under it (all HTML already)."""
    return f'<div class="{kind}"{attributes}><b>{value}</b><span>{label}</span>{after}</div>'


CATEGORY_COLOURS = {"wait": "var(--wait)", "handler": "var(--handler)", "io": "var(--recv)",
                    "state": "var(--state)", "flow": "var(--flow)", "timer": "var(--timer)",
                    "offload": "var(--offload)", "blocked": "var(--blocked)"}


def counts_html(categories: dict[str, int]) -> str:
    items = [f'<li style="--c: {CATEGORY_COLOURS.get(name, "var(--flow)")}" data-cat="{shown(name)}">'
             f"{shown(name or '(none)')} {count}</li>"
             for name, count in sorted(categories.items(), key=lambda item: -item[1])]
    return f'<ul class="counts">{"".join(items)}</ul>'


def longest_html(summary: Summary) -> str:
    event = summary.longest
    if event is None:
        return card("none", "handler calls", ' id="longest"')
    dur = float(event.get("dur", 0)) if is_number(event.get("dur")) else 0.0
    lanes = {lane.tid: lane.name for lane in summary.lanes}
    tid = event["tid"] if is_number(event.get("tid")) else 0
    lane = lanes.get(tid, f"lane {tid}")
    attributes = (f' id="longest" data-lane="{tid}" data-lane-name="{shown(lane)}"'
                  f' data-name="{shown(event.get("name", ""))}" data-ts="{event["ts"]}" data-dur="{dur}"')
    label = (f"longest handler call: {shown(event.get('name', ''))} on "
             f"<code>{shown(lane)}</code> at {format_duration(event['ts'])}")
    return card(format_duration(dur), label, attributes, "card stall" if dur >= STALL_US else "card")


def loop_html(summary: Summary) -> str:
    if summary.waiting_us is None:
        return card("no loop", "thread model: each client has a thread of its own", ' id="loop-time"')
    span = max(summary.span_us, 1.0)
    waiting = min(summary.waiting_us, span)
    busy = span - waiting
    share = 100 * busy / span
    label = f"loop busy {format_duration(busy)}, asleep {format_duration(waiting)}"
    ratio = f'<div class="ratio" title="busy against asleep"><i style="width:{share:.1f}%"></i></div>'
    figure = f"{share:.1f}" if 0 < share < 9.95 else f"{share:.0f}"
    return card(f"{figure}% busy", label,
                f' id="loop-time" data-waiting="{waiting}" data-busy="{busy}"', after=ratio)


def render(trace: dict[str, Any]) -> str:
    """The page for `trace`, as HTML text.  Raises ValueError if it is not a trace."""
    summary = summarise(trace)
    other = trace.get("otherData") if isinstance(trace.get("otherData"), dict) else {}
    assert isinstance(other, dict)
    title = f"{other.get('program', 'trace')} trace, {format_duration(summary.span_us)}"
    values = {"TITLE": shown(title), "HEADER": header_html(trace, summary), "TRACE_DATA": embedded_json(trace)}
    # One pass, so that nothing put in (a command holding "@HEADER@") is replaced again.
    return MARKER.sub(lambda match: values[match.group(1)], template())


def template() -> str:
    return resources.files("evloop.trace").joinpath("page.html").read_text(encoding="utf-8")
