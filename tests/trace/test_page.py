"""evloop.trace.page: the trace file as one HTML page (its command, `python3 -m evloop.trace
view`: tests/cli/test_trace.py).

Without a browser: render() embeds the trace so that it reads back whole and
a `</script>` in a preview cannot end the script; load() refuses what is not
a trace with one clear line.

In headless Chromium (Debian's chromium package): the page is loaded with
`--dump-dom` and what its script drew is read back from the DOM with
html.parser, then compared with the trace file: the lanes (names, kinds,
order), the events of each lane (categories, names, times), the state
segments, the summary's longest handler call, the hover and zoom hooks
(`#hover=N`, `#zoom=F`), escaping, a 20,000-event trace, and screenshots
that are not blank.  The fixture traces in tests/traces/ are written by hand.
"""

import collections
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest

from evloop.trace.page import format_duration
from evloop.trace.page import load
from evloop.trace.page import render
from evloop.trace.page import summarise
from tests.conftest import ROOT

TRACES = os.path.join(ROOT, "tests", "traces")
FIXTURES = ["stall", "offload", "threads"]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian's chromium package)")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def fixture(name):
    with open(os.path.join(TRACES, f"{name}.json"), encoding="utf-8") as file:
        return json.load(file)


# What the file says, worked out here independently of evloop.trace.page.

def declared_lanes(trace):
    """[(tid, name, kind)] in sort_index order, from the metadata events alone."""
    names, order = {}, {}
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "thread_name":
            names[event["tid"]] = (event["args"]["name"], event["args"]["kind"])
        if event["ph"] == "M" and event["name"] == "thread_sort_index":
            order[event["tid"]] = event["args"]["sort_index"]
    return [(tid, *names[tid]) for tid in sorted(names, key=lambda tid: (order.get(tid, tid), tid))]


def timed(trace):
    return [(index, event) for index, event in enumerate(trace["traceEvents"]) if event["ph"] != "M"]


def expected_states(trace, tid, kind):
    first = {"client": "OPENING", "outbound": "CONNECTING"}.get(kind)
    changes = [event["args"]["to"] for _, event in timed(trace)
               if event["tid"] == tid and event["cat"] == "state"]
    return ([first] if first else []) + changes


# Reading a page back.

class Dom(HTMLParser):
    """Every element with its attributes, the lane it is in, and (for elements with an
    id) its text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.stack, self.scripts = [], [], {}
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        lane = next((r["attrs"]["data-lane"] for r in reversed(self.stack) if "lane" in r["classes"]), None)
        record = {"tag": tag, "attrs": attributes, "classes": (attributes.get("class") or "").split(),
                  "lane": lane, "text": [], "parents": [r["attrs"].get("id") for r in self.stack]}
        self.elements.append(record)
        if tag not in VOID:
            self.stack.append(record)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth]["tag"] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        for record in self.stack:
            if "id" in record["attrs"]:
                record["text"].append(data)
        if self.stack and self.stack[-1]["tag"] == "script":
            key = self.stack[-1]["attrs"].get("id", "")
            self.scripts[key] = self.scripts.get(key, "") + data

    def having(self, cls):
        return [r for r in self.elements if cls in r["classes"]]

    def by_id(self, name):
        found = [r for r in self.elements if r["attrs"].get("id") == name]
        assert len(found) == 1, f"{len(found)} elements with id {name}"
        return found[0]

    def text(self, name):
        return "".join(self.by_id(name)["text"])


def css_vars(style):
    return {key.strip(): float(value) for key, value in
            (part.split(":") for part in (style or "").split(";") if part.strip().startswith("--"))}


def kill_group(proc):
    try:  # chromium's helpers (zygote, renderer) may outlive it: end its whole session
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def chromium(tmp_path, url, *args, timeout=100):
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
            *args, url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise AssertionError(f"chromium ran over {timeout} s") from None
    finally:
        kill_group(proc)
    assert proc.returncode == 0, err[-3000:]
    return out


def write_page(tmp_path, trace, name="page.html"):
    path = tmp_path / name
    path.write_text(render(trace), encoding="utf-8")
    return path


def browse(tmp_path, trace, fragment=""):
    """The DOM of the page for `trace` once its script has run."""
    path = write_page(tmp_path, trace)
    out = chromium(tmp_path, path.as_uri() + fragment, "--virtual-time-budget=5000", "--dump-dom")
    assert "trace-data" in out, out[:500]
    return Dom(out)


# Without a browser.

@pytest.mark.parametrize("name", FIXTURES)
def test_the_embedded_json_reads_back_whole(name):
    trace = fixture(name)
    page = Dom(render(trace))
    assert json.loads(page.scripts["trace-data"]) == trace
    assert page.by_id("trace-data")["attrs"]["type"] == "application/json"


def test_a_preview_holding_a_script_end_tag_cannot_break_out():
    trace = fixture("stall")
    hostile = "</script><script>alert(1)</script><!-- &amp;"
    trace["traceEvents"].append({"ph": "i", "s": "t", "name": "recv", "cat": "io", "pid": 1, "tid": 3,
                                 "ts": 400010.0, "args": {"bytes": 44, "preview": hostile}})
    text = render(trace)
    page = Dom(text)
    assert text.count("</script") == 2  # the data's and the page script's own ends, no more
    assert [r["attrs"].get("id") for r in page.elements if r["tag"] == "script"] == ["trace-data", None]
    assert json.loads(page.scripts["trace-data"]) == trace
    assert "<!--" not in page.scripts["trace-data"]


def test_the_stall_fixture_and_the_fixed_strings():
    trace = fixture("stall")
    # The fixture's preview of client 1 holds "</script>" itself.
    assert any("</script>" in str(event.get("args", {}).get("preview")) for event in trace["traceEvents"])
    assert "</script>!" not in render(trace)


def test_every_fixture_follows_the_trace_format():
    for name in FIXTURES:
        trace = fixture(name)
        assert isinstance(trace["otherData"]["command"], str)
        declared, last_ts = set(), {}
        for event in trace["traceEvents"]:
            assert {"pid", "tid", "ts", "ph", "name", "cat"} <= set(event), (name, event)
            if event["ph"] == "M":
                if event["name"] == "thread_name":
                    declared.add(event["tid"])
                    assert event["args"]["kind"] in {"loop", "listener", "waker", "client", "outbound",
                                                      "offload", "thread"}
                continue
            assert event["tid"] in declared, f"{name}: lane {event['tid']} used before it is declared"
            assert event["ts"] >= last_ts.get(event["tid"], 0), f"{name}: time runs back on {event}"
            last_ts[event["tid"]] = event["ts"]
            assert event["ph"] in ("X", "i"), event
            if event["ph"] == "X":
                assert event["dur"] >= 0
            else:
                assert event["s"] == "t"
            if event["cat"] == "wait":
                assert event["tid"] == 0 and set(event["args"]) == {"timeout_ms", "ready", "woken_by"}
            if event["cat"] == "state":
                assert event["name"] == f"{event['args']['from']} -> {event['args']['to']}"


@pytest.mark.parametrize("name", FIXTURES)
def test_the_summary_counts_what_the_file_holds(name):
    trace = fixture(name)
    summary = summarise(trace)
    assert [(lane.tid, lane.name, lane.kind) for lane in summary.lanes] == declared_lanes(trace)
    events = [event for _, event in timed(trace)]
    assert summary.events == len(events)
    assert summary.categories == dict(collections.Counter(event["cat"] for event in events))
    assert summary.span_us == max(event["ts"] + event.get("dur", 0) for event in events)
    handlers = [event for event in events if event["cat"] == "handler"]
    assert summary.longest is max(handlers, key=lambda event: event["dur"])
    waits = [event["dur"] for event in events if event["cat"] == "wait"]
    assert summary.waiting_us == (sum(waits) if name != "threads" else None)


def test_the_longest_handler_call_of_the_stall_is_the_300_ms_one():
    summary = summarise(fixture("stall"))
    assert (summary.longest["name"], summary.longest["tid"], summary.longest["dur"]) == \
        ("data_received", 3, 300000.0)


def test_the_header_escapes_the_file_and_replaces_each_marker_once():
    trace = fixture("offload")
    trace["otherData"]["command"] = 'serve --x "<img src=x>" & @HEADER@ @TRACE_DATA@ \x07'
    text = render(trace)
    header = text[text.index('<header id="summary">'):text.index("</header>")]
    assert "&lt;img src=x&gt;" in header and "<img" not in header
    assert "@HEADER@ @TRACE_DATA@ \\x07" in header
    assert not any(r["tag"] == "img" for r in Dom(text).elements)


def test_the_page_fetches_nothing():
    text = render(fixture("stall"))
    assert "http://" not in text and "https://" not in text
    page = Dom(text)
    assert not [r for r in page.elements if r["tag"] in ("link", "img", "iframe")]
    assert not [r for r in page.elements if r["tag"] == "script" and "src" in r["attrs"]]


@pytest.mark.parametrize("content, reason", [
    (None, "cannot read"),
    ("{\"traceEvents\": [", "is not JSON"),
    ("[1, 2]", "is not a trace: it holds a JSON array"),
    ("{\"events\": []}", "is not a trace: it has no traceEvents list"),
    ("{\"traceEvents\": {}}", "is not a trace: it has no traceEvents list"),
    ("{\"traceEvents\": [{\"ts\": NaN}]}", "is not JSON: NaN"),
    (b"\xff\xfe{", "is not JSON: it is not UTF-8"),
])
def test_load_refuses_what_is_not_a_trace(tmp_path, content, reason):
    path = tmp_path / "run.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as caught:
        load(path)
    message = str(caught.value)
    assert reason in message and str(path) in message and "\n" not in message


def test_a_file_that_ends_early_but_is_json_renders(tmp_path):
    trace = fixture("stall")
    trace["traceEvents"] = trace["traceEvents"][:12]  # a server killed in its first turns
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(trace))
    assert "trace-data" in render(load(path))


def test_format_duration():
    assert [format_duration(us) for us in (12, 1234, 300000, 1520000)] == ["12 µs", "1.2 ms", "300 ms", "1.52 s"]


# In the browser.

@needs_chromium
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", FIXTURES)
def test_the_dom_has_the_lanes_and_events_of_the_file(tmp_path, name):
    trace = fixture(name)
    dom = browse(tmp_path, trace)
    lanes = [(int(r["attrs"]["data-lane"]), r["attrs"]["data-name"], r["attrs"]["data-kind"])
             for r in dom.having("lane") if r["tag"] == "div"]
    assert lanes == declared_lanes(trace)
    drawn = collections.defaultdict(list)
    for r in dom.having("ev"):
        attrs = r["attrs"]
        dur = float(attrs["data-dur"]) if "data-dur" in attrs else None
        drawn[int(r["lane"])].append((attrs["data-cat"], attrs["data-name"], float(attrs["data-ts"]), dur))
    wanted = collections.defaultdict(list)
    for _, event in timed(trace):
        wanted[event["tid"]].append((event["cat"], event["name"], event["ts"], event.get("dur")))
    assert dict(drawn) == dict(wanted)
    assert sum(len(events) for events in drawn.values()) == len(timed(trace))


@needs_chromium
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", FIXTURES)
def test_state_segments_follow_the_state_events(tmp_path, name):
    trace = fixture(name)
    dom = browse(tmp_path, trace)
    segments = collections.defaultdict(list)
    for r in dom.having("state"):
        if "ev" not in r["classes"]:  # a segment, not a state event's diamond
            segments[int(r["lane"])].append((r["attrs"]["data-state"], css_vars(r["attrs"]["style"])))
    for tid, _, kind in declared_lanes(trace):
        states = expected_states(trace, tid, kind)
        assert [state for state, _ in segments.get(tid, [])] == states, (tid, kind)
        times = [event["ts"] for _, event in timed(trace) if event["tid"] == tid and event["cat"] == "state"]
        assert [where["--t"] for _, where in segments.get(tid, [])][1:] == times
    if name != "threads":
        assert any(state == "CLOSED" for lane in segments.values() for state, _ in lane)


@needs_chromium
@pytest.mark.timeout(120)
def test_the_summary_names_the_longest_handler_call(tmp_path):
    trace = fixture("stall")
    dom = browse(tmp_path, trace)
    longest = max((event for _, event in timed(trace) if event["cat"] == "handler"), key=lambda e: e["dur"])
    card = dom.by_id("longest")
    assert int(card["attrs"]["data-lane"]) == longest["tid"] == 3
    assert (card["attrs"]["data-name"], float(card["attrs"]["data-dur"])) == ("data_received", 300000.0)
    assert "stall" in card["classes"]
    assert "300 ms" in dom.text("longest") and "fd 7 127.0.0.1:50122" in dom.text("longest")
    # The same call on its lane is drawn as a stall, and no other call is.
    stalls = [r for r in dom.having("ev") if "stall" in r["classes"]]
    assert [(r["lane"], r["attrs"]["data-ts"]) for r in stalls] == [("3", "12030")]
    assert dom.text("loop-time").startswith("75% busy")


@needs_chromium
@pytest.mark.timeout(120)
def test_the_loops_waits_band_every_lane(tmp_path):
    trace = fixture("offload")
    dom = browse(tmp_path, trace)
    waits = [event for _, event in timed(trace) if event["cat"] == "wait"]
    bands = [css_vars(r["attrs"]["style"]) for r in dom.having("band")]
    assert [(band["--t"], band["--d"]) for band in bands] == [(e["ts"], e["dur"]) for e in waits]
    assert all("bands" in r["parents"] for r in dom.having("band"))
    runs = [css_vars(r["attrs"]["style"]) for r in dom.having("run")]
    assert all(run["--d"] < 1000 for run in runs) and len(runs) == len(waits) - 1


@needs_chromium
@pytest.mark.timeout(120)
def test_hover_fills_the_tooltip_and_escapes_the_preview(tmp_path):
    trace = fixture("stall")
    index = next(i for i, event in timed(trace) if "</script>" in event.get("args", {}).get("preview", ""))
    dom = browse(tmp_path, trace, f"#hover={index}")
    tooltip = dom.by_id("tooltip")
    assert "hidden" not in tooltip["attrs"] and tooltip["attrs"]["data-i"] == str(index)
    text = dom.text("tooltip")
    for part in ("recv", "io", "fd 7 127.0.0.1:50122", "12.010 ms", "19 B", "\\x00\\x00\\x00\\x0fhello</script>!"):
        assert part in text, (part, text)
    inside = [r["tag"] for r in dom.elements if "tooltip" in r["parents"]]
    assert "script" not in inside and "b" not in inside

    index = next(i for i, event in timed(trace) if "<b>" in event.get("args", {}).get("preview", ""))
    dom = browse(tmp_path, trace, f"#hover={index}")
    assert "\\x00\\x00\\x00\\x09<b>hi</b>" in dom.text("tooltip")
    assert "fd 8 127.0.0.1:50124" in dom.text("tooltip")
    assert "b" not in [r["tag"] for r in dom.elements if "tooltip" in r["parents"]]


@needs_chromium
@pytest.mark.timeout(120)
def test_a_handler_calls_tooltip_has_its_duration_and_reply(tmp_path):
    trace = fixture("stall")
    index = next(i for i, event in timed(trace) if event.get("dur") == 300000.0)
    text = browse(tmp_path, trace, f"#hover={index}").text("tooltip")
    for part in ("data_received", "handler", "duration", "300 ms", "SlowHandler", "19 B reply"):
        assert part in text, (part, text)
    wait = next(i for i, event in timed(trace) if event["cat"] == "wait" and event["args"]["timeout_ms"] is None)
    assert "none (no timeout)" in browse(tmp_path, trace, f"#hover={wait}").text("tooltip")


@needs_chromium
@pytest.mark.timeout(120)
def test_zoom_scales_the_timeline(tmp_path):
    trace = fixture("offload")
    fitted = browse(tmp_path, trace)
    zoomed = browse(tmp_path, trace, "#zoom=4")
    scale = float(fitted.by_id("timeline")["attrs"]["data-scale"])
    assert scale > 0
    assert math.isclose(float(zoomed.by_id("timeline")["attrs"]["data-scale"]), 4 * scale, rel_tol=1e-6)
    width = [float(page.by_id("canvas")["attrs"]["style"].split("width:")[1].split("px")[0])
             for page in (fitted, zoomed)]
    assert width[1] > 3 * width[0] - 1000


@needs_chromium
@pytest.mark.timeout(120)
def test_strings_from_the_file_are_escaped_in_the_dom(tmp_path):
    trace = fixture("stall")
    hostile = 'fd 7 <img src=x onerror="document.title=1"> & "q" </div>'
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "thread_name" and event["tid"] == 3:
            event["args"]["name"] = hostile
        if event["ph"] == "X" and event["tid"] == 4:
            event["name"] = "<i>odd</i>"
    dom = browse(tmp_path, trace)
    assert not [r for r in dom.elements if r["tag"] == "img"]
    assert not [r for r in dom.elements if r["tag"] == "i" and r["lane"] is not None]
    lane = next(r for r in dom.having("lane") if r["attrs"]["data-lane"] == "3")
    assert lane["attrs"]["data-name"] == hostile
    assert len(dom.having("lane")) == 5
    assert "<i>odd</i>" in {r["attrs"]["data-name"] for r in dom.having("ev")}


def generated_trace(count=20_000, clients=40):
    """A busy loop: each turn a wait, then one client's recv, handler call and send."""
    pid = 7
    events = [{"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "ts": 0, "cat": "__metadata",
               "args": {"name": "loop", "kind": "loop"}}]
    for tid in range(1, clients + 1):
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "ts": 0, "cat": "__metadata",
                       "args": {"name": f"fd {tid + 6} 127.0.0.1:{50000 + tid}", "kind": "client"}})
    ts, turn = 0.0, 0
    while len(events) - clients - 1 < count:
        tid = 1 + turn % clients
        turn += 1
        four = [{"ph": "X", "name": "epoll", "cat": "wait", "tid": 0, "ts": ts, "dur": 80.0,
                 "args": {"timeout_ms": None, "ready": [f"fd {tid + 6} R"], "woken_by": f"fd {tid + 6}"}},
                {"ph": "i", "s": "t", "name": "recv", "cat": "io", "tid": tid, "ts": ts + 85,
                 "args": {"bytes": 5, "preview": "ping\n"}},
                {"ph": "X", "name": "data_received", "cat": "handler", "tid": tid, "ts": ts + 90, "dur": 20.0,
                 "args": {"handler": "EchoHandler", "reply": "5 B reply"}},
                {"ph": "i", "s": "t", "name": "send", "cat": "io", "tid": tid, "ts": ts + 115,
                 "args": {"bytes": 5, "left": 0, "preview": "ping\n"}}]
        events.extend(dict(event, pid=pid) for event in four[:count - (len(events) - clients - 1)])
        ts += 120
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"program": "evloop", "model": "evloop"}}


@needs_chromium
@pytest.mark.timeout(180)
def test_twenty_thousand_events_render(tmp_path):
    trace = generated_trace()
    assert len(timed(trace)) == 20_000
    dom = browse(tmp_path, trace)
    drawn = dom.having("ev")
    assert len(drawn) == 20_000
    assert collections.Counter(r["attrs"]["data-cat"] for r in drawn) == {"wait": 5000, "io": 10000,
                                                                           "handler": 5000}
    assert len([r for r in dom.having("lane") if r["tag"] == "div"]) == 41


def png_size_and_rows(path):
    """(width, height, distinct scanlines) of a PNG, read with the stdlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = 1 + width * {2: 3, 6: 4}[colour] * depth // 8
    rows = {raw[row * stride:(row + 1) * stride] for row in range(height)}
    return width, height, len(rows)


@needs_chromium
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["stall", "offload"])
def test_the_screenshot_is_not_blank(tmp_path, name):
    page = write_page(tmp_path, fixture(name))
    picture = tmp_path / f"{name}.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={picture}", "--window-size=1400,900")
    assert picture.stat().st_size > 20_000
    width, height, rows = png_size_and_rows(picture)
    assert (width, height) == (1400, 900)
    assert rows > 100  # a blank page has one distinct (filtered) scanline or two
