"""Docs that cannot rot: every shell command in README.md and docs/ is run here.

Each ```sh block is a list of commands, one per line, run in order per
document with bash, from the repository root, with EVLOOP_PORT set to a free
port (the default port of evloop.serve, evloop.client, the bench variants
and the Python load generator), and every `12000` in a command or a Python
block replaced by that port too (and `12001`, a backend's port, and `9100`, the
metrics port, by others).  `python3` is the interpreter running the
tests (the venv's).  A document's commands are sorted into:

- servers (`python3 -m evloop.serve ...`, `python3 -m bench.<variant> ...`,
  `python3 -m evloop.aio [--trace] bench/SCRIPT.py`, or `python3 -m NAME`
  for a NAME.py written from the document): started in
  the background; the test waits for their startup line, keeps the server
  up for the commands after it, and stops it with SIGINT (it must exit 0)
  when the next server on the same port starts or the document ends.  A
  server given `--port 12001` (a second free port, for a relay's backend)
  stays up beside the one on the default port;
- long commands (scripts/test, scripts/bench, the bench runner,
  scripts/count-instructions): not run (the first is what runs this test,
  the others take minutes to half an hour), but every flag
  the docs give them must appear in the --help of what they run: pytest for
  scripts/test, bench.runner for scripts/bench, bench.instructions for
  scripts/count-instructions;
- everything else: run to completion within a time limit, with "hello" on
  standard input for interactive clients; exit 0 unless the line ends with
  a comment `# exits N`.

A ```python block whose first line is `# NAME.py` is written to NAME.py in a
scratch directory on PYTHONPATH, so a handler shown in the docs is the
handler the next command serves.  The Mermaid state diagram is compared with
the state table in the code.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from evloop.connection import states
from evloop.diagrams import packages
from tests.conftest import ROOT
from tests.conftest import cli_env
DOCS = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                              if name.endswith(".md"))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SERVER = re.compile(r"^(systemd-socket-activate .*)?python3 -m "
                    r"(evloop\.serve|evloop\.aio (--trace )?bench/"
                    r"|bench\.(?!runner|report|loadgen|ab\b|micro|syscalls)\w+)\b")
LONG = {"scripts/test": ["-m", "pytest"], "scripts/bench": ["-m", "bench.runner"],
        "python3 -m bench.runner": ["-m", "bench.runner"], "python3 -m bench.ab": ["-m", "bench.ab"],
        "scripts/count-instructions": ["-m", "bench.instructions"],
        "python3 -m bench.syscalls": ["-m", "bench.syscalls"],
        "scripts/cluster-demo": None}  # None: the script's own --help (tests/features/test_cluster.py runs it)
EXITS = re.compile(r"#\s*exits (\d+)\s*$")


def blocks(path):
    with open(os.path.join(ROOT, path)) as f:
        return FENCE.findall(f.read())


def commands(path):
    for lang, body in blocks(path):
        if lang == "sh":
            for line in body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    yield line.strip()


def activate(port, timeout=10.0):
    """Connect once to what systemd-socket-activate listens on, which starts the server."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def without_comment(line):
    return line.split(" #", 1)[0].strip()


class Session:
    """One document's shell: its scratch dir, its port, its server."""

    def __init__(self, tmp_path):
        self.env = cli_env()
        # The docs' commands run without coverage's tracer: what they run is covered
        # by the tests of each module, and traced they took 69 s here instead of 55.
        self.env.pop("COVERAGE_PROCESS_START", None)
        self.port = str(free_port())
        self.env["EVLOOP_PORT"] = self.port
        self.metrics_port = str(free_port())
        self.backend_port = str(free_port())
        self.env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{self.env['PYTHONPATH']}"
        self.tmp = tmp_path
        self.servers = {}  # the port a server was given ("12000" by default) -> (process, line)

    def shell(self, line):
        """The command as bash runs it: these ports, this interpreter."""
        line = (without_comment(line).replace("12000", self.port)
                .replace("12001", self.backend_port).replace("9100", self.metrics_port))
        return re.sub(r"(^|\| *)python3 ", lambda m: m.group(1) + shlex.quote(sys.executable) + " ",
                      line)

    def start_server(self, line):
        given = re.search(r"--port (\d+)", line)
        port = given.group(1) if given else "12000"
        self.stop_server(port)
        server = subprocess.Popen(["bash", "-c", "exec " + self.shell(line)], cwd=ROOT,
                                  env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True)
        self.servers[port] = (server, line)
        if line.startswith("systemd-socket-activate"):  # it starts the server at a first client
            activate(int(self.shell(line).split("-l 127.0.0.1:")[1].split()[0]))
        first = server.stdout.readline()
        assert " on " in first and "serving" in first, f"{line!r} did not start: {first!r}"

    def stop_server(self, port=None):
        """Stop the server on `port`, or every server (the one on 12000 first)."""
        for key in ([port] if port else sorted(self.servers)):
            if key not in self.servers:
                continue
            server, line = self.servers.pop(key)
            server.send_signal(signal.SIGINT)
            try:
                _, err = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                _, err = server.communicate()
            assert server.returncode == 0, f"{line!r} exited {server.returncode} on Ctrl-C: {err[-500:]}"
            assert "Traceback" not in err, err

    def kill_servers(self):
        for server, _ in self.servers.values():
            if server.poll() is None:
                server.kill()
                server.communicate()

    def check_flags(self, line):
        argv = shlex.split(without_comment(line))
        program = next(module for prefix, module in LONG.items() if line.startswith(prefix))
        assert os.access(os.path.join(ROOT, argv[0]), os.X_OK) or argv[0] == "python3", line
        command = [os.path.join(ROOT, argv[0])] if program is None else [sys.executable, *program]
        run = subprocess.run([*command, "--help"], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, f"{line!r}: --help failed: {run.stderr[-500:]}"
        help_text = run.stdout + run.stderr
        # Flags only: a quoted value such as --after-args "--metrics-port 0" is not one.
        for flag in (arg.split("=")[0] for arg in argv if re.match(r"--[\w-]+(=|$)", arg)):
            assert flag in help_text, f"{line!r}: {flag} is not in {program} --help"

    def run(self, line):
        match = EXITS.search(line)
        expected = int(match.group(1)) if match else 0
        run = subprocess.run(["bash", "-c", self.shell(line)], cwd=ROOT, env=self.env,
                             input="hello\n", capture_output=True, text=True, timeout=150)
        assert run.returncode == expected, (
            f"{line!r} exited {run.returncode}, not {expected}:\n{run.stdout[-800:]}\n{run.stderr[-800:]}")
        assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.timeout(280)
@pytest.mark.parametrize("path", DOCS)
def test_every_command_in_the_docs_runs(path, tmp_path):
    session = Session(tmp_path)
    written = set()
    for lang, body in blocks(path):
        first = body.splitlines()[0] if body else ""
        if lang == "python" and re.match(r"# (\w+)\.py$", first):
            (tmp_path / first[2:]).write_text(body.replace("12000", session.port))
            written.add(first[2:-3])
    own_servers = {f"python3 -m {module}" for module in written}
    try:
        for line in commands(path):
            if SERVER.match(line) or without_comment(line) in own_servers:
                session.start_server(line)
            elif line.startswith(tuple(LONG)):
                session.check_flags(line)
            else:
                session.run(line)
        session.stop_server()
    finally:  # a failed command: do not leave its servers behind
        session.kill_servers()


def test_docs_have_commands():
    counted = {path: len(list(commands(path))) for path in DOCS}
    assert all(counted.values()), counted
    assert len(DOCS) >= 8  # the README and seven chapters


def test_the_readme_is_a_front_door():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert len(text.splitlines()) <= 250
    assert "python3 -m evloop.serve --handler lenprefix" in text and "scripts/test" in text
    assert not re.search(r"(^|[\s`])python -m", text, re.M), "python3: many machines have no python"
    assert "evloop.run(" in text and "--framing line" in text


def test_the_docs_say_python3():
    for path in DOCS:
        for line in commands(path):
            assert not re.search(r"(^|\| *)python ", line), f"{path}: {line}"


def test_state_diagram_in_the_docs_is_the_state_table():
    diagrams = [body.strip() for lang, body in blocks("docs/04-anatomy.md") if lang == "mermaid"]
    assert states.mermaid() in diagrams
    edges = set(re.findall(r"(\w+) --> (\w+) : (\w+)", states.mermaid()))
    table = {(s.name, t.name, e.value) for (s, e), t in states.TRANSITIONS.items() if s is not t}
    assert table <= edges


def test_the_anatomy_opens_with_the_map_of_the_packages_as_the_code_draws_it():
    with open(os.path.join(ROOT, "docs", "04-anatomy.md")) as f:
        page = f.read()
    marker = "<!-- map: scripts/draw-map -->\n"
    assert page.index(marker) < page.index("\n## ")  # the chapter opens with it
    shown = page.split(marker, 1)[1].split("\n\n", 1)[0]
    assert shown == packages.markdown(), "docs/04's map is out of date: run scripts/draw-map"
    run = subprocess.run([os.path.join(ROOT, "scripts", "draw-map")], capture_output=True,
                         text=True, cwd=ROOT, env=cli_env(), timeout=30)
    assert run.returncode == 0 and run.stdout.strip() == shown


def test_states_module_prints_the_diagram():
    run = subprocess.run([sys.executable, "-m", "evloop.states"], capture_output=True, text=True,
                         cwd=ROOT, env=cli_env(), timeout=30)
    assert run.stdout.strip() == states.mermaid()


def test_the_accepts_per_wake_up_the_docs_give_are_the_codes():
    from evloop.server.accepting import ACCEPTS_PER_EVENT
    found = []
    for path in DOCS:
        with open(path) as f:
            text = f.read()
        found += [(path, int(n.replace(",", ""))) for n in re.findall(
            r"(?:up to|at most)\s+([\d,]+)\s+(?:accepts|connections|clients)\s+per\s+wake-up",
            text)]
    assert len(found) >= 3, found  # the README, chapter 7 and appendix A
    assert all(n == ACCEPTS_PER_EVENT for _, n in found), found


def test_every_image_and_local_link_in_the_docs_resolves():
    for path in DOCS:
        with open(path) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            resolved = os.path.join(ROOT, os.path.normpath(os.path.join(os.path.dirname(path), target)))
            assert os.path.exists(resolved), f"{os.path.relpath(path, ROOT)}: {target} is missing"


# -- the course's order: nothing used before it is taught -------------------------------------

# Part I in reading order, then Part II; and where each idea is taught.  An earlier
# chapter may name an idea only where it says where the idea comes: a paragraph (or
# the one beside it, for a table and its note) that links the chapter teaching it, or
# says it comes later.
COURSE = ["01-from-the-labs", "02-non-blocking", "03-select-poll-epoll", "04-anatomy",
          "05-threads-vs-event-loop", "06-callbacks-to-coroutines", "07-beyond-one-process",
          "08-serving-for-real", "09-reaching-out"]
TAUGHT_IN = {
    r"\bsans-IO\b": "01-from-the-labs",
    r"\bepoll_wait\b": "03-select-poll-epoll",
    r"\bio_uring\b": "03-select-poll-epoll",
    r"\bGIL\b": "04-anatomy",
    r"\bbackpressure\b": "04-anatomy",
    r"\bpause_writing\b": "04-anatomy",
    r"\bgreenlets?\b": "05-threads-vs-event-loop",
    r"\bcoroutines?\b": "06-callbacks-to-coroutines",
    r"\bFuture\b": "06-callbacks-to-coroutines",
    r"--workers\b": "07-beyond-one-process",
    r"\bPROXY_HEADER\b": "07-beyond-one-process",
    r"\bTLS\b": "08-serving-for-real",
    r"\bHANDSHAKING\b": "08-serving-for-real",
    r"\bCONNECTING\b": "09-reaching-out",
    r"\bserver_started\b": "09-reaching-out",
    r"context\.connect\(": "09-reaching-out",
}
LATER = re.compile(r"coming in|comes? in (chapter|Part)|in Part II|later in|chapter \d+ (teaches|shows|builds)")


def used_before_taught(name, text):
    """(term, paragraph) pairs of `name` that use an idea a later chapter teaches, unmarked."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"<!-- map: .*?-->\n(\|.*\n)+", "", text)  # the package map: drawn from code
    paragraphs = re.split(r"\n\s*\n", text)
    found = []
    for term, teacher in TAUGHT_IN.items():
        if COURSE.index(teacher) <= COURSE.index(name):
            continue
        for index, paragraph in enumerate(paragraphs):
            if not re.search(term, paragraph):
                continue
            near = paragraphs[max(0, index - 1):index + 2]
            if not any(f"{teacher}.md" in p or LATER.search(p) for p in near):
                found.append((term, paragraph[:120]))
    return found


@pytest.mark.parametrize("name", COURSE[:6])
def test_part_one_uses_nothing_before_it_is_taught(name):
    with open(os.path.join(ROOT, "docs", f"{name}.md")) as f:
        assert used_before_taught(name, f.read()) == []


def test_an_idea_used_early_without_a_pointer_is_found():
    early = "Each worker (--workers) holds a copy.\n\nMore text.\n"
    assert used_before_taught("02-non-blocking", early) == [("--workers\\b", early.split("\n\n")[0])]
    marked = "Each worker (--workers, coming in chapter 7) holds a copy.\n"
    assert used_before_taught("02-non-blocking", marked) == []
    linked = "Each worker ([--workers](07-beyond-one-process.md)) holds a copy.\n"
    assert used_before_taught("02-non-blocking", linked) == []
