"""bench.timelines and bench.draw_timelines: the slow-handler demo recorded three
ways, and what each file must show: the stall inline, the overlap offloaded and
under threads.  (The page drawn from such files is tested in test_trace_page.py.)"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env


def spans(document, cat, name=None):
    return sorted((e["ts"], e["ts"] + e["dur"], e["tid"]) for e in document["traceEvents"]
                  if e["ph"] == "X" and e["cat"] == cat and (name is None or e["name"] == name))


def kinds(document):
    return {e["tid"]: e["args"]["kind"] for e in document["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


def overlap(intervals):
    return any(b[0] < a[1] for a, b in zip(intervals, intervals[1:]))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timelines")
    env = cli_env()
    env["PATH"] = "/nonexistent"  # no chromium: the files, not the screenshots
    run = subprocess.run([sys.executable, "-m", "bench.draw_timelines", str(folder)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "chromium is not installed; no screenshot" in run.stderr
    return {name: json.loads((folder / f"timeline-{name}.json").read_text())
            for name in ("inline", "offload", "threads")}


@pytest.mark.timeout(180)
def test_inline_the_loop_runs_one_slow_call_after_another(drawn):
    calls = [c for c in spans(drawn["inline"], "handler", "data_received") if c[1] - c[0] > 250_000]
    assert len(calls) == 3 and not overlap(calls)  # three clients, served in turn
    waits = spans(drawn["inline"], "wait")
    assert not any(w[0] < c[1] and c[0] < w[1] for w in waits for c in calls)  # never asleep meanwhile


@pytest.mark.timeout(180)
def test_offloaded_the_work_overlaps_on_pool_threads_while_the_loop_sleeps(drawn):
    document = drawn["offload"]
    assert max(e - s for s, e, _ in spans(document, "handler")) < 100_000
    work = spans(document, "offload")
    assert len(work) == 3 and overlap(work)
    assert {kinds(document)[lane] for _, _, lane in work} == {"offload"}
    assert max(e - s for s, e, _ in spans(document, "wait")) > 100_000


@pytest.mark.timeout(180)
def test_threads_each_client_s_work_overlaps_on_its_own_thread(drawn):
    document = drawn["threads"]
    calls = [c for c in spans(document, "handler", "data_received") if c[1] - c[0] > 250_000]
    assert len(calls) == 3 and overlap(calls)
    assert {kinds(document)[lane] for _, _, lane in calls} == {"thread"}
    assert len({lane for _, _, lane in calls}) == 3
    assert spans(document, "blocked", "recv")  # a thread waiting for its client
    assert "loop" not in kinds(document).values()
    assert document["otherData"]["model"] == "threads"
    assert document["otherData"]["command"].startswith("python3 -m bench.timelines --trace-file ")
