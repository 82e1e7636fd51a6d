"""bench/nonblocking.py, the hand-written loop of chapter 2, and the pages that quote the lab models.

- the loop serves several clients at once, with evloop's handlers;
- a partial write is queued, watched for with EVENT_WRITE, and completed;
- a client that never reads does not freeze another (and does freeze
  bench/bare_select.py: its blocking sendall() is the documented bug);
- --upstream connects without blocking (EINPROGRESS, then SO_ERROR), and a
  refused connect is reported in one line while the loop goes on;
- the grader passes chapter 2's answers and fails their starters;
- every code excerpt in chapters 1 and 2 is, verbatim, in the file it quotes.
"""

import contextlib
import glob
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import wait_for

STARTUP = re.compile(r"serving \S+ on 127\.0\.0\.1:(\d+) \(tcp\)")


@contextlib.contextmanager
def model(tmp_path, module, *args):
    """`python -m bench.MODULE --port 0 ARGS`; yields (port, path of its stderr).  At the end
    it gets SIGINT and must exit 0 with no traceback."""
    err_path = tmp_path / f"{module}-{len(list(tmp_path.iterdir()))}.stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", f"bench.{module}", "--port", "0", *args],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                text=True, cwd=ROOT, env=cli_env())
    try:
        line = proc.stdout.readline()
        match = STARTUP.search(line)
        assert match, f"bench.{module} did not start: {line!r} {err_path.read_text()[-500:]}"
        yield int(match.group(1)), err_path
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0, err_path.read_text()[-500:]
        assert "Traceback" not in err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def connect(port, rcvbuf=None, timeout=10.0):
    sock = socket.socket()
    if rcvbuf:  # before connect(): the window it advertises is chosen at the handshake
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def frame(payload):
    return str(len(payload)).zfill(3).encode() + payload  # the labs' length prefix


def send_without_reading(sock, limit=32 * 2**20):
    """Send until the server stops taking bytes for half a second, or `limit` is sent."""
    sock.settimeout(0.5)
    sent = 0
    try:
        while sent < limit:
            sent += sock.send(b"x" * 65536)
    except TimeoutError:
        pass
    return sent


@pytest.mark.timeout(60)
def test_serves_several_clients_at_once_with_the_labs_protocol(tmp_path):
    with model(tmp_path, "nonblocking", "--handler", "lenprefix") as (port, _):
        clients = [connect(port) for _ in range(5)]
        bad = connect(port)
        bad.sendall(b"x1y")  # not a length: a ProtocolError for this client only
        for round_ in range(3):  # every client has a message in flight at once, sent in two parts
            messages = [f"client {n} round {round_}".encode() for n in range(len(clients))]
            for sock, message in zip(clients, messages):
                sock.sendall(frame(message)[:4])
            for sock, message in zip(clients, messages):
                sock.sendall(frame(message)[4:])
            for sock, message in zip(clients, messages):
                assert recv_exactly(sock, 3 + len(message)) == frame(message)
        recv_until_eof(bad)  # the server closed it (a timeout here would fail the test)
        for sock in clients + [bad]:
            sock.close()


@pytest.mark.timeout(60)
def test_a_partial_write_is_queued_watched_for_and_completed(tmp_path):
    data = bytes(range(256)) * 31_250  # 8,000,000 bytes
    with model(tmp_path, "nonblocking", "--trace") as (port, trace_path):
        with connect(port, rcvbuf=4096, timeout=20) as sock:
            sock.sendall(data)  # before reading anything: the echo piles up in the server
            sock.shutdown(socket.SHUT_WR)
            echo, reads = bytearray(), 0
            while chunk := sock.recv(65536):
                echo += chunk
                reads += 1
                if reads % 16 == 0:
                    time.sleep(0.001)  # a slow reader, now and then
        assert echo == data
        wait_for(lambda: "closed" in trace_path.read_text(), timeout=10)
    trace = trace_path.read_text()
    assert re.search(r"send \d+ B, \d+ B left queued", trace), trace[-2000:]
    assert re.search(r"watching R?W\n", trace)  # EVENT_WRITE, while bytes were queued
    sends = re.findall(r"send \d+ B, (.*)", trace)
    assert sends[-1] == "all sent"  # the queue was emptied before the close
    assert trace.index("left queued") < trace.rindex("all sent") < trace.rindex("closed")


@pytest.mark.timeout(60)
def test_a_client_that_never_reads_does_not_freeze_another(tmp_path):
    with model(tmp_path, "nonblocking") as (port, _):
        with connect(port, rcvbuf=4096) as never_reads, connect(port) as other:
            sent = send_without_reading(never_reads, limit=16 * 2**20)
            assert sent == 16 * 2**20  # the loop kept reading it: its echo waits in memory
            other.sendall(b"hello")
            assert recv_exactly(other, 5) == b"hello"  # within the 10 s timeout, not frozen


@pytest.mark.timeout(60)
def test_bare_select_freezes_behind_a_client_that_never_reads_the_documented_bug(tmp_path):
    with model(tmp_path, "bare_select") as (port, _):
        never_reads = connect(port, rcvbuf=4096)
        send_without_reading(never_reads)
        with connect(port, timeout=2) as other:
            other.sendall(b"hello")
            with pytest.raises(TimeoutError):  # the loop is inside the first client's sendall()
                other.recv(5)
            never_reads.close()  # with it gone, sendall() fails and the loop serves again
            other.settimeout(10)
            assert recv_exactly(other, 5) == b"hello"


@pytest.mark.timeout(60)
def test_upstream_connects_without_blocking_and_relays(tmp_path):
    with model(tmp_path, "nonblocking") as (backend, _):
        with model(tmp_path, "nonblocking", "--trace", "--upstream", f"127.0.0.1:{backend}") as (port, trace):
            with connect(port) as sock:
                for message in (b"hello", b"through the relay"):
                    sock.sendall(message)
                    assert recv_exactly(sock, len(message)) == message
            wait_for(lambda: trace.read_text().count("closed") >= 2, timeout=10)
            text = trace.read_text()
    assert re.search(r"out 127\.0\.0\.1:\d+: connect_ex -> (EINPROGRESS|connected)", text), text
    if "connect_ex -> EINPROGRESS" in text:  # the usual case: the handshake ended later
        assert "writable, SO_ERROR 0: connected" in text


@pytest.mark.timeout(60)
def test_a_refused_connect_is_reported_and_the_loop_goes_on(tmp_path):
    with socket.socket() as closed:  # bound, never listening: the port is ours and refuses
        closed.bind(("127.0.0.1", 0))
        refusing = closed.getsockname()[1]
        with model(tmp_path, "nonblocking", "--upstream", f"127.0.0.1:{refusing}") as (port, err):
            for _ in range(2):  # the first refusal did not stop the loop
                with connect(port) as sock:
                    sock.sendall(b"hello")
                    try:
                        assert recv_until_eof(sock) == b""
                    except ConnectionResetError:
                        pass  # closed with our bytes unread: a reset, also a close
            wait_for(lambda: err.read_text().count("Connection refused") >= 2, timeout=10)
            text = err.read_text()
    assert text.count(f"127.0.0.1:{refusing}: Connection refused: closing fd") == 2, text


CHAPTER_2_EXERCISES = sorted(os.path.basename(path) for path in
                             glob.glob(os.path.join(ROOT, "docs", "exercises", "02-*")))


def grade(name, path):
    """`python3 -m docs.grade NAME PATH` (docs/grade.py): its exit code and output."""
    run = subprocess.run([sys.executable, "-m", "docs.grade", name, path], capture_output=True,
                         text=True, timeout=50, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", CHAPTER_2_EXERCISES)
def test_the_grader_passes_each_chapter_2_answer(name):
    code, output = grade(name, os.path.join("docs", "answers", name + ".py"))
    assert code == 0, output
    assert f"ok: {name}: " in output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", CHAPTER_2_EXERCISES)
def test_the_grader_fails_each_chapter_2_starter(name):
    code, output = grade(name, os.path.join("docs", "exercises", name, "starter.py"))
    assert code == 1, output
    assert "FAIL: " in output


def test_chapter_2_has_exercises():
    assert len(CHAPTER_2_EXERCISES) >= 2
    with open(os.path.join(ROOT, "docs", "02-non-blocking.md")) as f:
        text = f.read()
    for name in CHAPTER_2_EXERCISES:  # each exercise has its starter and its answer linked
        assert f"(exercises/{name}/)" in text and f"(answers/{name}.py)" in text


# -- the pages quote the code -----------------------------------------------------------------

BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\n", re.S | re.M)
SOURCE = re.compile(r"`((?:bench|evloop)/[\w/]+\.py)`")


def excerpts(doc):
    """(quoted file, excerpt) for each ```python block before "## Exercises" that is not a
    `# NAME.py` file: the file is the last one the prose names before the block."""
    with open(os.path.join(ROOT, "docs", doc)) as f:
        text = f.read().split("\n## Exercises", 1)[0]
    found, at, source = [], 0, None
    for match in BLOCK.finditer(text):
        sources = SOURCE.findall(text[at:match.start()])
        source = sources[-1] if sources else source
        at = match.end()
        lang, body = match.groups()
        if lang == "python" and not re.match(r"# \w+\.py\n", body):
            found.append((source, body))
    return found


def appears_in(excerpt, path):
    with open(os.path.join(ROOT, path)) as f:
        lines = f.read().splitlines()
    wanted = excerpt.splitlines()
    return any(lines[i:i + len(wanted)] == wanted for i in range(len(lines) - len(wanted) + 1))


@pytest.mark.parametrize("doc, at_least", [("01-from-the-labs.md", 6), ("02-non-blocking.md", 8)])
def test_every_excerpt_on_the_page_is_verbatim_in_the_file_it_quotes(doc, at_least):
    found = excerpts(doc)
    assert len(found) >= at_least, found
    for source, excerpt in found:
        assert source is not None, f"{doc}: no file named before {excerpt[:60]!r}"
        assert appears_in(excerpt, source), f"{doc}: not in {source}:\n{excerpt}"


def test_chapter_1_quotes_each_lab_models_socket_calls():
    quoted = "\n".join(excerpt for _, excerpt in excerpts("01-from-the-labs.md"))
    for call in ("socket.socket(", ".bind(", ".listen(", ".accept()", ".recv(", "sendall(",
                 "select.select("):
        assert call in quoted, call
    assert {source for source, _ in excerpts("01-from-the-labs.md")} == {
        "bench/iterative.py", "bench/threads.py", "bench/bare_select.py"}


def test_the_map_to_evloop_names_what_exists():
    with open(os.path.join(ROOT, "docs", "02-non-blocking.md")) as f:
        table = f.read().split("## From here to evloop", 1)[1].split("\n## ", 1)[0]
    with open(os.path.join(ROOT, "bench", "nonblocking.py")) as f:
        ours = f.read()
    with open(os.path.join(ROOT, "evloop", "connection", "connection.py")) as f:
        connection = f.read()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) >= 6
    for row in rows:
        first, theirs = row.split("|")[1:3]
        for name in re.findall(r"`(\w+)\(\)`", first):
            assert f"def {name}(" in ours, name
        for name in re.findall(r"`Connection\.(\w+)(?:\(\))?`", theirs):
            assert f"def {name}(" in connection or f"self.{name} =" in connection, name
        for path in re.findall(r"`(evloop/[\w/]+\.py)`", theirs):
            assert os.path.exists(os.path.join(ROOT, path)), path
