"""evloop.trace.steps: where traced steps go.  Each text line has its time and its lane;
a handler call's line prints before what the call caused and its answer after; the
file gets the same steps; the server's own sockets are named when first seen."""

import json
import logging
import re

import pytest

from evloop.loop.backends import EVENT_READ
from evloop.loop.backends import EVENT_WRITE
from evloop.trace.recording import TraceFile
from evloop.trace.steps import Steps
from evloop.trace.steps import answer_text
from evloop.trace.steps import mask_name

LINE = re.compile(r"^trace: +\d+\.\d{3} ms  (.+?): (.*)$")


def lines(capsys):
    """(lane, text) of each line printed on stderr since the last call."""
    printed = capsys.readouterr().err.splitlines()
    matched = [LINE.match(line) for line in printed]
    assert all(matched), printed
    return [m.groups() for m in matched]


def test_a_step_is_one_line_with_its_lane(capsys):
    steps = Steps(text=True, file=None)
    lane = steps.lane("fd 7 127.0.0.1:5000", "client", 7)
    steps.say(lane, "recv 5 B")
    steps.instant(lane, "io", "send", "send 5 B, all sent")
    steps.instant(lane, "flow", "quiet", None)  # no text: for the file only
    assert lines(capsys) == [("fd 7 127.0.0.1:5000", "recv 5 B"),
                             ("fd 7 127.0.0.1:5000", "send 5 B, all sent")]


def test_a_call_with_nothing_inside_is_one_line_with_its_answer(capsys):
    steps = Steps(text=True, file=None)
    lane = steps.lane("fd 7 a", "client", 7)
    start = steps.begin(lane, "handler Echo.data_received(5 B)")
    assert steps.current is lane
    steps.end(lane, "data_received", start, "Echo", "5 B reply")
    (line,) = lines(capsys)
    assert re.fullmatch(r"handler Echo\.data_received\(5 B\) -> 5 B reply in \d+\.\d{3} ms", line[1])
    assert steps.current is None


def test_what_a_call_causes_prints_after_its_line_and_before_its_answer(capsys):
    steps = Steps(text=True, file=None)
    talker = steps.lane("fd 7 alice", "client", 7)
    listener = steps.lane("fd 8 bob", "client", 8)
    start = steps.begin(talker, "handler Chat.data_received(3 B)")
    steps.say(listener, "send 9 B, all sent")  # the broadcast, while the call runs
    steps.end(talker, "data_received", start, "Chat", "0 B reply")
    found = lines(capsys)
    assert [lane for lane, _ in found] == ["fd 7 alice", "fd 8 bob", "fd 7 alice"]
    assert found[0][1] == "handler Chat.data_received(3 B)"
    assert re.fullmatch(r"handler Chat\.data_received -> 0 B reply in \d+\.\d{3} ms", found[2][1])


def test_without_text_nothing_is_printed_and_the_file_has_the_steps(capsys, tmp_path):
    trace = TraceFile(str(tmp_path / "t.json"))
    steps = Steps(text=False, file=trace)
    lane = steps.lane("fd 7 a", "client", 7)
    steps.instant(lane, "io", "recv", "recv 1 B", bytes=1)
    start = steps.begin(lane, "handler Echo.data_received(1 B)")
    steps.end(lane, "data_received", start, "Echo", "1 B reply")
    assert capsys.readouterr().err == ""
    events = [e for e in trace.document()["traceEvents"] if e["ph"] != "M"]
    assert [(e["tid"], e["cat"], e["name"]) for e in events] == [
        (lane.number, "io", "recv"), (lane.number, "handler", "data_received")]
    assert events[1]["args"] == {"handler": "Echo", "reply": "1 B reply"}


def test_the_servers_own_sockets_are_named_when_first_seen():
    named = {6: ("listener 127.0.0.1:12000", "listener")}
    steps = Steps(text=False, file=None, server_socket=named.get)
    assert steps.name_of(9) == "fd 9"  # nobody's: its number
    lane = steps.lane_of(6)
    assert lane.name == "fd 6 listener 127.0.0.1:12000" and lane.kind == "listener"
    assert steps.lane_of(6) is lane and steps.listener_lane is lane


def test_a_lane_renamed_and_forgotten():
    steps = Steps(text=False, file=None)
    lane = steps.lane("out 127.0.0.1:9000", "outbound")
    steps.rename(lane, "fd 9 127.0.0.1:9000", 9)
    assert steps.lane_of(9) is lane and lane.name == "fd 9 127.0.0.1:9000"
    other = steps.lane("fd 9 next", "client", 9)  # the kernel gave the number to another
    steps.forget(lane, 9)  # the old one's forgetting leaves the new one alone
    assert steps.lane_of(9) is other
    steps.forget(other, 9)
    assert steps.lane_of(9) is None


def test_finish_writes_the_file_and_says_where(tmp_path, caplog):
    trace = TraceFile(str(tmp_path / "run.json"))
    steps = Steps(text=False, file=trace)
    with caplog.at_level(logging.INFO, logger="evloop"):
        steps.finish()
    assert json.loads((tmp_path / "run.json").read_text())["displayTimeUnit"] == "ms"
    assert f"view it with: python3 -m evloop.trace view {tmp_path}/run.json" in caplog.text
    broken = Steps(text=False, file=TraceFile(str(tmp_path / "gone" / "run.json")))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        broken.finish()  # logged, never raised: the server is stopping
    assert f"cannot write the trace file {tmp_path}/gone/run.json" in caplog.text
    Steps(text=False, file=None).finish()  # no file: nothing to do


@pytest.mark.parametrize("call, reply, text", [
    ("data_received", None, "no complete message yet"),
    ("connection_made", None, "no greeting"),
    ("eof_received", False, "nothing more to send"),
    ("connection_lost", None, "done"),
    ("eof_received", True, "keep the connection open for writing"),
    ("data_received", b"abc", "3 B reply"),
    ("data_received", memoryview(b""), "0 B reply"),
    ("data_received", "abc", "a str, not bytes"),
])
def test_answer_text(call, reply, text):
    assert answer_text(call, reply) == text


def test_mask_name():
    assert (mask_name(EVENT_READ), mask_name(EVENT_WRITE), mask_name(EVENT_READ | EVENT_WRITE),
            mask_name(0)) == ("R", "W", "RW", "")
