"""evloop.trace (enable): --trace and --trace-file on real servers on loopback: the text
narration's times, names and causal order, and the Chrome Trace file's lanes and events.
Each part on its own: test_steps, test_loop, test_connections, test_offload, test_recording."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof

STEP = re.compile(r"^trace: +(\d+\.\d{3}) ms  (.+?): (.*)$")


def steps(err):
    """(ms, lane, text) for every trace line of a server's stderr."""
    found = [STEP.match(line) for line in err.splitlines() if line.startswith("trace:")]
    assert all(found), [line for line in err.splitlines()
                        if line.startswith("trace:") and not STEP.match(line)]
    return [(float(m.group(1)), m.group(2), m.group(3)) for m in found]


def lanes(document):
    return {e["tid"]: e["args"] for e in document["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


def events(document, cat=None, name=None):
    return [e for e in document["traceEvents"] if e["ph"] != "M"
            and (cat is None or e["cat"] == cat) and (name is None or e["name"] == name)]


def test_each_line_has_its_time_and_the_descriptor_s_name(serve):
    server = serve("--handler", "lenprefix", "--trace")
    with server.connect() as sock:
        sock.sendall(b"003abc")
        assert recv_exactly(sock, 6) == b"003abc"
    code, err = server.stop()
    assert code == 0
    found = steps(err)
    times = [ms for ms, _, _ in found]
    assert times == sorted(times)
    wakes = [text for _, lane, text in found if lane == "loop"]
    # The listener and the wake-up socket are named, not bare numbers.
    assert any(re.search(rf"fd \d+ listener 127\.0\.0\.1:{server.port} R", w) for w in wakes), wakes
    assert any(re.search(r"fd \d+ wake-up R", w) for w in wakes), wakes  # SIGTERM's byte
    assert all(re.match(r"woke after \d+\.\d{3} ms \((no timeout|timeout \d+ ms)\): ", w)
               for w in wakes), wakes
    client = [lane for _, lane, text in found if text.startswith("accepted by fd")]
    assert len(client) == 1 and re.fullmatch(r"fd \d+ 127\.0\.0\.1:\d+", client[0])


def test_a_handler_that_pushes_prints_before_the_sends_it_caused(serve):
    server = serve("--handler", "chat", "--trace")
    with server.connect() as alice, server.connect() as bob:
        alice.sendall(b"hi bob\n")
        bob.settimeout(10)
        heard = b""
        while b"hi bob" not in heard:
            chunk = bob.recv(1000)
            assert chunk, heard
            heard += chunk
    code, err = server.stop()
    found = [(lane, text) for _, lane, text in steps(err)]
    call = next(i for i, (_, text) in enumerate(found)
                if text.startswith("handler ChatHandler.data_received(7 B)"))
    talker = found[call][0]
    pushed = next(i for i, (lane, text) in enumerate(found)
                  if lane != talker and text.startswith("send ") and i > call - 1)
    answered = next(i for i, (lane, text) in enumerate(found)
                    if lane == talker and re.match(r"handler ChatHandler\.data_received -> .* in ", text))
    assert call < pushed < answered, found[call:answered + 1]


def test_the_trace_file_holds_every_step_by_lane(serve, tmp_path):
    path = tmp_path / "run.json"
    server = serve("--handler", "lenprefix", "--trace-file", str(path))
    with server.connect() as sock:
        sock.sendall(b"005hello")
        assert recv_exactly(sock, 8) == b"005hello"
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b""
    code, err = server.stop()
    assert code == 0
    assert "trace:" not in err  # the file, not the narration
    assert f"trace file {path}: " in err and "python3 -m evloop.trace view" in err
    document = json.loads(path.read_text())
    assert document["displayTimeUnit"] == "ms" and document["otherData"]["program"] == "evloop"
    kinds = {args["kind"]: args["name"] for args in lanes(document).values()}
    assert kinds["loop"] == "loop"
    assert re.fullmatch(rf"fd \d+ listener 127\.0\.0\.1:{server.port}", kinds["listener"])
    assert re.fullmatch(r"fd \d+ wake-up", kinds["waker"])
    assert re.fullmatch(r"fd \d+ 127\.0\.0\.1:\d+", kinds["client"])
    client = next(tid for tid, args in lanes(document).items() if args["kind"] == "client")
    assert [e["args"]["peer"] for e in events(document, "io", "accept")] == [kinds["client"].split()[2]]
    recvs = [e["args"] for e in events(document, "io", "recv") if e["tid"] == client]
    assert recvs == [{"bytes": 8, "preview": "005hello"}, {"bytes": 0, "preview": ""}]
    sends = [e["args"] for e in events(document, "io", "send") if e["tid"] == client]
    assert sends == [{"bytes": 8, "left": 0, "preview": "005hello"}]
    handled = [(e["name"], e["args"]["reply"]) for e in events(document, "handler")]
    assert ("data_received", "8 B reply") in handled
    assert [e["args"]["to"] for e in events(document, "state")] == ["INPUT_CLOSED", "CLOSED"]
    waits = events(document, "wait")
    assert waits and all(e["tid"] == 0 for e in waits)
    for wait, after in zip(waits, waits[1:]):  # one wait at a time: each ends before the next
        assert wait["ts"] + wait["dur"] <= after["ts"] + 0.2  # µs: each figure is rounded to 0.1
    stamps = [e["ts"] for e in events(document)]
    assert stamps == sorted(stamps)


@pytest.mark.timeout(60)
def test_a_stall_and_an_offload_show_in_the_file(serve, tmp_path):
    """The slow handler inline holds the loop for its work; offloaded, a pool
    thread's lane holds the work, and the loop goes on waiting."""
    for offload in ("none", "thread"):
        path = tmp_path / f"{offload}.json"
        server = serve("--handler", "slow", "--work-ms", "200", "--work", "sleep",
                       "--offload", offload, "--trace-file", str(path))
        with server.connect() as sock:
            sock.sendall(b"one\n")
            assert recv_exactly(sock, 4) == b"one\n"
        assert server.stop()[0] == 0
        document = json.loads(path.read_text())
        calls = events(document, "handler", "data_received")
        jobs = events(document, "offload")
        if offload == "none":
            assert max(e["dur"] for e in calls) >= 200_000  # µs: the stall, in the handler
            assert not jobs
        else:
            assert max(e["dur"] for e in calls) < 200_000
            work = [e for e in jobs if e["ph"] == "X"]
            assert len(work) == 1 and work[0]["dur"] >= 200_000
            assert lanes(document)[work[0]["tid"]]["kind"] == "offload"
            client = next(tid for tid, args in lanes(document).items() if args["kind"] == "client")
            marks = [e["name"] for e in jobs if e["ph"] == "i" and e["tid"] == client]
            assert marks == ["offload submitted", "offload done"]
            # The loop slept through the work instead of running it.
            assert max(e["dur"] for e in events(document, "wait")) >= 150_000


@pytest.mark.timeout(60)
def test_the_server_and_the_viewer_count_the_same_events(serve, tmp_path):
    """The count the server logs as it writes the file is the count `view` prints:
    the timeline's events, not the file's records (its lane declarations are not events)."""
    path = tmp_path / "run.json"
    server = serve("--handler", "echo", "--trace-file", str(path))
    for message in (b"one", b"two", b"three"):
        with server.connect() as sock:
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message
    code, err = server.stop()
    assert code == 0
    logged = re.search(rf"trace file {re.escape(str(path))}: (\d+) events", err)
    assert logged, err
    view = subprocess.run([sys.executable, "-m", "evloop.trace", "view", str(path)],
                          capture_output=True, text=True, timeout=30, cwd=ROOT, env=cli_env(),
                          stdin=subprocess.DEVNULL)
    assert view.returncode == 0, view.stderr
    shown = re.search(r"lanes, (\d+) events, ", view.stdout)
    assert shown, view.stdout
    assert int(logged.group(1)) == int(shown.group(1)) == len(events(json.loads(path.read_text())))


def test_a_trace_file_that_cannot_be_written_is_found_at_start(tmp_path):
    run = subprocess.run([sys.executable, "-m", "evloop.serve", "--port", "0", "--trace-file",
                          str(tmp_path / "missing" / "run.json")], capture_output=True,
                         text=True, timeout=30, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].endswith(
        f"--trace-file {tmp_path}/missing/run.json: cannot write in {tmp_path}/missing")
    assert "Traceback" not in run.stderr


@pytest.mark.timeout(60)
def test_each_worker_writes_its_own_file(serve, tmp_path):
    path = tmp_path / "run.json"
    server = serve("--handler", "echo", "--workers", "2", "--trace-file", str(path))
    with server.connect() as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
    assert server.stop()[0] == 0
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2 and all(re.fullmatch(r"run\.\d+\.json", name) for name in files), files
    accepted = sum(len(events(json.loads((tmp_path / name).read_text()), "io", "accept"))
                   for name in files)
    assert accepted == 1
