"""evloop.trace.recording: the Chrome Trace file: lanes declared once, events by the
trace's clock, sorted when written, bounded by max_events, written atomically."""

import json
import os
import sys
import time

from evloop.trace.recording import TraceFile
from evloop.trace.recording import command_line
from evloop.trace.recording import preview


def written(trace):
    with open(trace.write()) as f:
        return json.load(f)


def test_the_recorder_stops_at_its_limit_and_says_so(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"), model="test", command="test", max_events=10)
    lane = trace.lane("fd 7 client", "client")
    for i in range(20):
        trace.instant(lane, "io", "recv", bytes=i)
    document = written(trace)
    assert len(document["traceEvents"]) == 10
    assert "stopped at 10 events" in document["otherData"]["stopped"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_a_preview_keeps_every_byte_as_one_character():
    assert preview(b"\x00\xffab" + b"x" * 100) == "\x00\xffab" + "x" * 28
    assert preview(memoryview(b"</script>")) == "</script>"


def test_complete_events_are_placed_at_their_start(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"))
    start = trace.now()
    time.sleep(0.01)  # a gap of time is what this test is about
    trace.instant(0, "io", "late")
    trace.complete(0, "handler", "early", start, trace.now())
    document = written(trace)
    names = [e["name"] for e in document["traceEvents"] if e["ph"] != "M"]
    assert names == ["early", "late"]  # sorted by start time, whatever the order recorded
    early = next(e for e in document["traceEvents"] if e["name"] == "early")
    assert early["dur"] >= 10_000  # µs: at least the 10 ms slept


def test_lanes_are_numbered_and_declared_with_their_kind(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"), model="threads", command="x", loop_lane=False)
    assert trace.lane("client 1", "thread") == 0  # no loop: the first lane is 0
    assert trace.lane("client 2", "thread") == 1
    trace.rename(1, "client 2 (done)", "thread")
    document = written(trace)
    names = [(e["tid"], e["args"]["name"]) for e in document["traceEvents"]
             if e["name"] == "thread_name"]
    assert names == [(0, "client 1"), (1, "client 2"), (1, "client 2 (done)")]
    (process,) = [e for e in document["traceEvents"] if e["name"] == "process_name"]
    assert process["args"]["name"] == f"threads {os.getpid()}"
    assert document["otherData"]["model"] == "threads" and document["otherData"]["command"] == "x"


def test_the_loop_has_lane_zero_by_default(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"))
    assert trace.lane("fd 6 listener", "listener") == 1
    lanes = {e["tid"]: e["args"]["kind"] for e in written(trace)["traceEvents"]
             if e["name"] == "thread_name"}
    assert lanes == {0: "loop", 1: "listener"}


def test_times_are_microseconds_from_the_start_and_never_a_negative_span(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"))
    trace.instant(0, "io", "at", at=trace.started + 0.0025)
    trace.complete(0, "handler", "backwards", trace.started + 0.002, trace.started + 0.001)
    events = {e["name"]: e for e in written(trace)["traceEvents"] if e["ph"] != "M"}
    assert events["at"]["ts"] == 2500.0 and events["at"]["s"] == "t"
    assert events["backwards"]["ts"] == 2000.0 and events["backwards"]["dur"] == 0.0


def test_the_command_line_is_written_as_a_person_would_type_it(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/x/evloop/serve.py", "--port", "0"])
    spec = type("Spec", (), {"name": "evloop.serve"})()
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", spec, raising=False)
    assert command_line() == "python3 -m evloop.serve --port 0"
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    assert command_line() == "/x/evloop/serve.py --port 0"


def test_the_event_count_leaves_out_the_lane_declarations(tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"), model="test", command="test")
    lane = trace.lane("fd 7 client", "client")
    trace.rename(lane, "fd 7 client (closed)", "client")
    trace.instant(lane, "io", "recv", bytes=3)
    trace.complete(0, "wait", "select", trace.started, trace.now())
    assert trace.event_count() == 2
    assert len([e for e in written(trace)["traceEvents"] if e["ph"] != "M"]) == 2
