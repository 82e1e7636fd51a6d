"""Every output the docs show is the real one, or says it is a sample.

An output block is a ```text or ```mermaid block in README.md or docs/*.md.  Each
one is, by the words after its language:

- ```text sample: an output that changes from run to run (timings, ports, pids,
  counts that depend on the machine).  It is not compared, and the sentence before
  it says it is a sample;
- ```text figure: a drawing, not an output;
- otherwise it must be registered in CHECKED below, with the commands that produce
  it.  The test runs them as tests/docs/test_docs.py runs the docs' commands (the same
  free ports for 12000, 12001 and 9100, `python3` the venv's, the document's
  `# NAME.py` blocks written to a scratch directory on PYTHONPATH), maps the ports
  back, and compares: the whole output, or, for an excerpt, the block's lines in
  order, contiguous except where the block has a `...` line.  Masks blank out what
  varies (a client's port) in both before they are compared.

Every command a check runs must appear in its document, so the docs cannot show one
command and the test check another.  PENDING lists the blocks of files this test's
author does not own that are neither marked nor checked yet; it is meant to empty.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT
from tests.docs.test_docs import DOCS
from tests.docs.test_docs import Session
from tests.docs.test_docs import blocks

# test_docs.FENCE with the info string kept: (language, the rest of the info line, body).
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.S | re.M)
OUTPUT_LANGUAGES = {"text", "mermaid"}
MARKS = {"sample", "figure"}
CLIENT_PORT = (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT")
# --trace: the time of each line, the durations, and the idle timer's remaining time vary.
TRACE_MASKS = ((r"(?m)^trace: +[\d.]+ ms ", "trace: T "), (r"(after|in) [\d.]+ ms", r"\1 N ms"),
               (r"timeout \d+ ms", "timeout N ms"), CLIENT_PORT)


@dataclass(frozen=True)
class Check:
    """How one block is produced: servers to start, then commands to run; `show` is what
    the block shows: "stdout" or "stderr" of the last command, "startup" (the first
    server's startup line), "server-stderr" (the first server's, after Ctrl-C), or
    "file:PATH" (a file of the repository, for an excerpt of it)."""

    servers: tuple = ()
    commands: tuple = ()
    show: str = "stdout"
    excerpt: bool = False
    masks: tuple = ()
    exit_code: int = 0
    unprivileged: bool = False  # run the commands as an ordinary user (nobody) if root


CHECKED = {
    ("README.md", "evloop: serving lenprefix on 127.0.0.1:12000 (tcp), selector epoll"): Check(
        servers=("python3 -m evloop.serve --handler lenprefix",), show="startup"),
    ("README.md", "Hello!! Server!!"): Check(
        servers=("python3 -m evloop.serve --handler lenprefix",),
        commands=("printf 'Hello!! Server!!\\nsecond message\\n' | python3 -m evloop.client --handler lenprefix",)),
    ("README.md", "olleh"): Check(
        servers=("python3 -m evloop.serve --handler myproto:Reverse",),
        commands=("printf 'hello\\nevent loop\\n' | python3 -m evloop.client --framing line",)),
    ("docs/appendix-labs.md", "evloop.serve: error: cannot listen on 127.0.0.1:80: permission denied "
                                 "(ports below 1024 need privileges)"): Check(
        commands=("python3 -m evloop.serve --port 80",), show="stderr", exit_code=2, unprivileged=True),
    ("docs/04-anatomy.md", "trace:    69.603 ms  loop: woke after 69.414 ms (no timeout): "
                           "fd 3 listener 127.0.0.1:12000 R"): Check(
        servers=("python3 -m evloop.serve --handler lenprefix --trace",),
        commands=("printf 'hello\\n' | python3 -m evloop.client --handler lenprefix",),
        show="server-stderr", excerpt=True, masks=TRACE_MASKS),
    ("docs/04-anatomy.md", "stateDiagram-v2"): Check(commands=("python3 -m evloop.states",)),
    ("docs/03-select-poll-epoll.md", "level-triggered (EPOLLIN)"): Check(
        commands=("python3 bench/epoll_modes.py",)),
    ("docs/06-callbacks-to-coroutines.md", "put a"): Check(
        commands=("python3 bench/aio_coordination.py queue",)),
    ("docs/06-callbacks-to-coroutines.md", "quick finished after 0.1 s"): Check(
        commands=("python3 bench/aio_coordination.py gather",)),
    ("docs/06-callbacks-to-coroutines.md", "slow_answer: finally runs, it was cancelled"): Check(
        commands=("python3 bench/aio_coordination.py timeout",)),
    ("docs/06-callbacks-to-coroutines.md", "worker: waiting"): Check(
        commands=("python3 bench/aio_coordination.py cancel",)),
    ("docs/06-callbacks-to-coroutines.md", "HELLO!! SERVER!!"): Check(
        servers=("python3 -m evloop.aio bench/aio_upper_streams.py",),
        commands=("printf 'Hello!! Server!!\\nsecond message\\n' | python3 -m evloop.client --handler lenprefix",)),
    ("docs/06-callbacks-to-coroutines.md", "KUROSE AND ROSS"): Check(
        servers=("python3 -m evloop.aio bench/aio_upper_protocol.py",),
        commands=("printf 'Kurose and Ross\\nframed by hand\\n' | python3 -m evloop.client --handler lenprefix",)),
    ("docs/07-beyond-one-process.md", "backend evloop_servers"): Check(
        show="file:deploy/haproxy/haproxy.cfg", excerpt=True),
    ("docs/08-serving-for-real.md", "evloop_connections_accepted_total 1"): Check(
        servers=("python3 -m evloop.serve --handler uppercase --udp --metrics-port 9100",),
        commands=("printf 'count me\\n' | python3 -m evloop.client --handler uppercase",
                  "python3 -c \"import urllib.request; print(urllib.request.urlopen("
                  "'http://127.0.0.1:9100/metrics').read().decode())\" | "
                  "grep -E '^evloop_(connections_(accepted|closed)|received_bytes)'"),
        excerpt=True),
    ("docs/09-reaching-out.md", "through my own relay"): Check(
        servers=("python3 -m evloop.serve --handler echo --port 12001",
                 "python3 -m evloop.serve --handler myrelay:Relay --backend-port 12001"),
        commands=("printf 'through my own relay\\n' | python3 -m evloop.client",)),
    ("docs/09-reaching-out.md", "through the gateway"): Check(
        servers=("python3 -m evloop.serve --handler echo --port 12001",
                 "python3 -m evloop.serve --handler gateway:Gateway --backends "
                 "127.0.0.1:9100,127.0.0.1:12001"),
        commands=("printf 'through the gateway\\n' | python3 -m evloop.client",)),
    ("docs/09-reaching-out.md", "welcome"): Check(
        servers=("python3 -m evloop.serve --handler clock:Clock --tick 0.2",),
        commands=("python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', 12000)); "
                  "print(s.recv(8).decode(), end='')\"",)),
}

# Blocks in files that others own, neither marked nor checked yet (reported to their owners).
PENDING: set = set()
MY_FILES = {"README.md", "docs/appendix-labs.md", "docs/03-select-poll-epoll.md", "docs/04-anatomy.md",
            "docs/05-threads-vs-event-loop.md", "docs/07-beyond-one-process.md",
            "docs/08-serving-for-real.md", "docs/09-reaching-out.md"}


def fenced(text):
    return [(lang, info.split(), body) for lang, info, body in FENCE.findall(text)]


def output_blocks(text):
    """(first line, body, marks) of each output block of a document's text."""
    return [(body.splitlines()[0] if body else "", body, set(words) & MARKS)
            for lang, words, body in fenced(text) if lang in OUTPUT_LANGUAGES]


def unaccounted(path, text):
    """The output blocks of one document that are neither marked nor checked nor pending."""
    return [first for first, _, marks in output_blocks(text)
            if not marks and (path, first) not in CHECKED and (path, first) not in PENDING]


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def matches(expected, actual, excerpt=False, masks=()):
    """Whether `actual` shows `expected`: equal, or for an excerpt, each run of the block's
    lines between `...` lines found contiguous in `actual`, in order."""
    for pattern, replacement in masks:
        expected, actual = re.sub(pattern, replacement, expected), re.sub(pattern, replacement, actual)
    if not excerpt:
        return expected.strip() == actual.strip()
    lines = [line.rstrip() for line in actual.splitlines()]
    at = 0
    for chunk in re.split(r"^\.\.\.\n", expected.strip("\n") + "\n", flags=re.M):
        wanted = [line.rstrip() for line in chunk.splitlines()]
        if not wanted:
            continue
        found = next((i for i in range(at, len(lines) - len(wanted) + 1)
                      if lines[i:i + len(wanted)] == wanted), None)
        if found is None:
            return False
        at = found + len(wanted)
    return True


# An ordinary user (nobody), with no capability: how the docs' port-80 example runs as root.
AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all")


class Recorder(Session):
    """test_docs' session (ports, environment, interpreter), keeping what the servers print."""

    def __init__(self, tmp_path, path):
        super().__init__(tmp_path)
        self.started = []
        for lang, body in blocks(path):
            first = body.splitlines()[0] if body else ""
            if lang == "python" and re.match(r"# (\w+)\.py$", first):
                (tmp_path / first[2:]).write_text(body.replace("12000", self.port))

    def ports_back(self, text):
        for port, shown in ((self.port, "12000"), (self.backend_port, "12001"), (self.metrics_port, "9100")):
            text = re.sub(rf"(?<!\d){port}(?!\d)", shown, text)
        return text

    def serve(self, line):
        server = subprocess.Popen(["bash", "-c", "exec " + self.shell(line)], cwd=ROOT, env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True)
        self.started.append(server)
        first = server.stdout.readline()
        assert " on " in first and "serving" in first, f"{line!r} did not start: {first!r}"
        return first

    def stop(self):
        """Ctrl-C to every server, the last started first; their standard errors, in start order."""
        errors = []
        for server in reversed(self.started):
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
            try:
                _, err = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                _, err = server.communicate()
            errors.insert(0, err)
        self.started = []
        return errors

    def execute(self, line, unprivileged=False):
        argv = ["bash", "-c", self.shell(line)]
        if unprivileged and os.geteuid() == 0:  # no bash in between: it refuses the venv's path
            argv = [*AS_NOBODY, *shlex.split(self.shell(line))]
        return subprocess.run(argv, cwd=ROOT, env=self.env, input="hello\n", capture_output=True,
                              text=True, timeout=60)


def produce(path, check, tmp_path):
    """Run what makes the block and return what it shows, ports mapped back."""
    if check.show.startswith("file:"):
        return read(check.show[5:])
    text = read(path)
    for line in check.servers + check.commands:
        assert line in text, f"{path} does not show the command {line!r}"
    if check.unprivileged:
        if os.geteuid() == 0 and not shutil.which("setpriv"):
            pytest.skip("needs setpriv (util-linux) to run a command as an ordinary user")
        start = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
        if os.path.exists(start):
            with open(start) as f:
                if int(f.read()) <= 80:
                    pytest.skip(f"ordinary users may bind port 80 here ({start})")
    tmp_path.mkdir(parents=True, exist_ok=True)
    session = Recorder(tmp_path, path)
    if check.unprivileged and os.geteuid() == 0:
        # A clone in a folder only root may enter (a mktemp -d, /root) cannot be
        # read by the ordinary user the command runs as: say so, and skip.
        probe = subprocess.run(
            [*AS_NOBODY, *shlex.split(session.shell("python3 -c 'import evloop; print(evloop.__file__)'"))],
            cwd=ROOT, env=session.env, capture_output=True, text=True, timeout=30)
        unreadable = ("Permission denied" in probe.stderr
                      or "No module named 'evloop'" in probe.stderr
                      or "cannot open shared object file" in probe.stderr)  # a root-only Python
        if unreadable or probe.returncode == 0 and not probe.stdout.startswith(
                os.path.join(ROOT, "evloop", "")):  # it would run another copy of evloop
            pytest.skip(f"the user nobody (65534) cannot read this clone ({ROOT}) or its "
                        f"interpreter: {(probe.stderr.strip().splitlines() or [probe.stdout])[-1]}")
        assert probe.returncode == 0, probe.stderr[-800:]
    try:
        startups = [session.serve(line) for line in check.servers]
        run = None
        for line in check.commands:
            run = session.execute(line, check.unprivileged)
            assert run.returncode == check.exit_code, (line, run.returncode, run.stderr[-800:])
        errors = session.stop()
    finally:
        session.kill_servers()
        for server in session.started:
            if server.poll() is None:
                server.kill()
                server.communicate()
    shown = {"stdout": run and run.stdout, "stderr": run and run.stderr,
             "startup": startups[0] if startups else None,
             "server-stderr": errors[0] if errors else None}[check.show]
    return session.ports_back(shown)


def verify(path, first, body, tmp_path):
    check = CHECKED[(path, first)]
    actual = produce(path, check, tmp_path)
    assert matches(body, actual, check.excerpt, check.masks), (
        f"{path}: the block that starts {first!r} is not what its commands print.\n"
        f"--- the docs show:\n{body}--- they print:\n{actual}")


def every_block():
    for path in DOCS:
        for first, body, marks in output_blocks(read(path)):
            yield path, first, body, marks


def test_every_output_block_is_checked_or_a_sample():
    missing = [(path, first) for path in DOCS for first in unaccounted(path, read(path))]
    assert not missing, f"output blocks neither marked ```text sample nor in CHECKED: {missing}"


def test_the_registers_name_blocks_that_exist():
    present = {(path, first) for path, first, _, marks in every_block() if not marks}
    assert set(CHECKED) <= present, set(CHECKED) - present
    assert PENDING <= present, f"marked or gone now: remove from PENDING {PENDING - present}"
    assert not {path for path, _ in PENDING} & MY_FILES, "pending is only for blocks of others' files"


def test_this_parser_reads_the_blocks_test_docs_reads():
    for path in DOCS:
        assert [(lang, body) for lang, _, body in fenced(read(path))] == blocks(path), path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path,first", sorted(CHECKED), ids=lambda value: value[:40])
def test_a_checked_block_is_what_its_commands_print(path, first, tmp_path):
    bodies = [body for p, f, body, marks in every_block() if (p, f) == (path, first) and not marks]
    assert len(bodies) == 1, (path, first, len(bodies))
    verify(path, first, bodies[0], tmp_path)


# The checks can fail: a doctored block, an unmarked one, a lost line.

def test_an_unmarked_output_block_is_caught():
    text = "Run it:\n\n```text\n1 of 1 connected\n```\n\n```text sample\n0.5 s\n```\n"
    assert unaccounted("docs/99-new.md", text) == ["1 of 1 connected"]
    assert unaccounted("docs/99-new.md", text.replace("```text\n", "```text sample\n")) == []


def test_matching_is_strict_where_it_should_be():
    actual = "a\nb 8\nc\nd\n"
    assert matches("a\nb 8\nc\nd\n", actual)
    assert not matches("a\nb 9\nc\nd\n", actual)
    assert matches("a\nb 8\n...\nd\n", actual, excerpt=True)
    assert not matches("b 8\nd\n", actual, excerpt=True)  # not contiguous, and no "..."
    assert not matches("d\n...\na\n", actual, excerpt=True)  # out of order
    assert matches("x 127.0.0.1:5\n", "x 127.0.0.1:40123\n", masks=(CLIENT_PORT,))


@pytest.mark.timeout(60)
def test_a_doctored_block_fails(tmp_path):
    path, first = "docs/04-anatomy.md", "stateDiagram-v2"
    body = next(body for p, f, body, _ in every_block() if (p, f) == (path, first))
    verify(path, first, body, tmp_path / "real")
    doctored = body.replace("OPEN --> CLOSING : close", "OPEN --> CLOSED : close")
    assert doctored != body
    with pytest.raises(AssertionError, match="is not what its commands print"):
        verify(path, first, doctored, tmp_path / "doctored")


def test_a_doctored_excerpt_fails(tmp_path):
    path, first = "docs/07-beyond-one-process.md", "backend evloop_servers"
    body = next(body for p, f, body, _ in every_block() if (p, f) == (path, first))
    verify(path, first, body, tmp_path)
    with pytest.raises(AssertionError, match="is not what its commands print"):
        verify(path, first, body.replace("fall 2", "fall 3"), tmp_path)
