"""evloop.trace.offload: TracedOffloader stands in front of the pool: each job is marked
where it was asked for, drawn on its pool thread's lane, and its answer marked on the
asking lane again, which is whose handler runs while the callback does."""

from evloop.loop.base import BaseLoop
from evloop.loop.offload import Offloader
from evloop.trace.offload import TracedOffloader
from evloop.trace.recording import TraceFile
from evloop.trace.steps import Steps


def work(n):
    return n * 2


def test_a_job_is_marked_drawn_on_its_thread_and_answered_on_its_lane(tmp_path, capsys):
    loop = BaseLoop()
    steps = Steps(text=True, file=TraceFile(str(tmp_path / "t.json")))
    asking = steps.lane("fd 7 127.0.0.1:5000", "client", 7)
    pool = TracedOffloader(steps, Offloader(loop, "thread", 1))
    seen = []

    def then(future):
        seen.append((future.result(), steps.current))
        loop.stop()

    try:
        steps.current = asking  # as while the handler that offloads runs
        pool.submit(work, (21,), then)
        steps.current = None
        loop.call_later(10, loop.stop)
        loop.run()
    finally:
        pool.close()  # passed through to the pool it stands in front of
        loop.close()
    assert seen == [(42, asking)] and steps.current is None and pool.pending == 0
    text = capsys.readouterr().err
    assert "fd 7 127.0.0.1:5000: offloads work" in text
    assert "fd 7 127.0.0.1:5000: work done, its answer goes on" in text
    document = steps.file.document()
    lanes = {e["tid"]: e["args"]["name"] for e in document["traceEvents"]
             if e["name"] == "thread_name"}
    (job,) = [e for e in document["traceEvents"] if e.get("cat") == "offload" and e["ph"] == "X"]
    assert lanes[job["tid"]] == "offload thread 1" and job["args"]["for"] == asking.name
    marks = [e["name"] for e in document["traceEvents"]
             if e.get("cat") == "offload" and e["ph"] == "i" and e["tid"] == asking.number]
    assert marks == ["offload submitted", "offload done"]


def test_without_a_handler_running_the_loops_lane_asks(tmp_path):
    loop = BaseLoop()
    steps = Steps(text=False, file=TraceFile(str(tmp_path / "t.json")))
    pool = TracedOffloader(steps, Offloader(loop, "thread", 1))
    try:
        pool.submit(work, (1,), lambda future: loop.stop())
        loop.call_later(10, loop.stop)
        loop.run()
    finally:
        pool.close()
        loop.close()
    marks = [e["tid"] for e in steps.file.document()["traceEvents"]
             if e.get("cat") == "offload" and e["ph"] == "i"]
    assert marks == [0, 0]  # the loop's lane
