"""evloop.cli.states: `python3 -m evloop.states` prints the state machine in one of three
forms, each made from the table at the moment, with no warning; two forms at once is
a one-line error."""

import subprocess
import sys

import pytest

from evloop.cli.states import main
from evloop.connection import states
from evloop.diagrams import state_diagram as drawing
from tests.conftest import ROOT
from tests.conftest import cli_env


def run_states(*args):
    # -W default: show every warning, whatever PYTHONWARNINGS says, so that
    # runpy's "found in sys.modules" RuntimeWarning would land in stderr.
    return subprocess.run([sys.executable, "-W", "default", "-m", "evloop.states", *args],
                          capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=30,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args,expected", [((), lambda: states.mermaid() + "\n"),
                                           (("--svg",), drawing.svg),
                                           (("--dot",), drawing.dot)])
def test_the_command_prints_each_form_and_no_warning(args, expected):
    run = run_states(*args)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout == expected()


def test_the_command_refuses_two_forms_in_one_line():
    run = run_states("--svg", "--dot")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("evloop.states: error:") and len(run.stderr.splitlines()) == 1


def test_main_in_process(capsys):
    assert main([]) == 0 and capsys.readouterr().out == states.mermaid() + "\n"
    assert main(["--dot"]) == 0 and capsys.readouterr().out == drawing.dot()
