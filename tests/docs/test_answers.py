"""The course's exercises have answers, and the answers run.

Each chapter of the course ends in exercises, each linking its answer as
`[Answer](answers/NAME)`: a program in docs/answers/ that runs the
exercise's solution and checks it, exiting 0 when it is right, 1 with a
message when it is wrong, and 77 with a message when this machine lacks
what it needs (a file-descriptor limit, a package).  Here:

* every answer program (docs/answers/*.py, found by glob, so a new one is
  run without being listed here; files starting with `_` are helpers) is
  run as a subprocess with this interpreter, from the repository root, with
  the root on PYTHONPATH: exit 0 passes, 77 skips with the answer's own
  message, anything else fails with its output;
* every `[Answer](answers/...)` link in the chapters names a file that
  exists, and every answer file is linked from some chapter and listed in
  docs/answers/README.md, so that none is orphaned.
"""

import glob
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env

ANSWERS_DIR = os.path.join(ROOT, "docs", "answers")
ANSWERS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ANSWERS_DIR, "*.py"))
                 if not os.path.basename(path).startswith("_"))
SKIP = 77  # what an answer exits with when it cannot run here (docs/answers/_kit.py)
RUN_TIMEOUT = 60
LINK = re.compile(r"\[Answer\]\(answers/([^)\s#]+)\)")


def chapters():
    docs = os.path.join(ROOT, "docs")
    return sorted(os.path.join(docs, name) for name in os.listdir(docs) if name.endswith(".md"))


def answer_links():
    """(chapter, file named) for every [Answer](answers/...) link in the chapters."""
    found = []
    for path in chapters():
        with open(path) as f:
            found += [(os.path.basename(path), name) for name in LINK.findall(f.read())]
    return found


def answer_files():
    """Every answer in docs/answers/: programs and measurement write-ups, not helpers."""
    return sorted(name for name in os.listdir(ANSWERS_DIR)
                  if not name.startswith(("_", ".")) and name != "README.md"
                  and os.path.isfile(os.path.join(ANSWERS_DIR, name)))


def test_there_are_answers():
    assert len(ANSWERS) >= 15, ANSWERS


@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize("name", ANSWERS)
def test_answer_runs_and_passes(name):
    env = cli_env()
    env.pop("COVERAGE_PROCESS_START", None)  # as tests/docs/test_docs.py: they test the docs, not coverage
    try:
        run = subprocess.run([sys.executable, os.path.join("docs", "answers", name)], cwd=ROOT,
                             env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name} ran for more than {RUN_TIMEOUT} s: {exc.stdout!r} {exc.stderr!r}")
    output = f"{run.stdout[-1500:]}\n{run.stderr[-1500:]}"
    if run.returncode == SKIP:
        reason = [line for line in run.stderr.splitlines() if line.startswith("SKIP:")]
        assert reason, f"{name} exited {SKIP} without a SKIP: line saying why:\n{output}"
        pytest.skip(f"{name}: {reason[-1]}")
    assert run.returncode == 0, f"{name} exited {run.returncode}:\n{output}"
    assert "Traceback" not in run.stderr, f"{name} passed with a traceback:\n{output}"


def test_every_answer_link_names_a_file():
    links = answer_links()
    assert links, "no [Answer](answers/...) link in the chapters"
    missing = [(chapter, name) for chapter, name in links
               if not os.path.isfile(os.path.join(ANSWERS_DIR, name))]
    assert not missing, f"answers linked but missing: {missing}"


def test_every_answer_is_linked_from_a_chapter():
    linked = {name for _, name in answer_links()}
    orphans = [name for name in answer_files() if name not in linked
               and not any(other.startswith(name.rsplit(".", 1)[0] + ".") for other in linked)]
    assert not orphans, f"answers no chapter links to: {orphans}"


def test_the_answers_index_lists_every_answer():
    with open(os.path.join(ANSWERS_DIR, "README.md")) as f:
        index = f.read()
    unlisted = [name for name in answer_files() if f"({name})" not in index]
    assert not unlisted, f"docs/answers/README.md does not list: {unlisted}"
