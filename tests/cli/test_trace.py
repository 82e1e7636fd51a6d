"""evloop.cli.trace: `python3 -m evloop.trace view run.json` writes the page beside the
trace (or where -o says) and says so in one line; every mistake is one line and exit 2."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from evloop.cli.trace import default_output
from evloop.cli.trace import main
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.trace.test_page import Dom
from tests.trace.test_page import TRACES
from tests.trace.test_page import fixture


def run_command(*args):
    return subprocess.run([sys.executable, "-m", "evloop.trace", *args], capture_output=True, text=True,
                          cwd=ROOT, env=cli_env(), timeout=60)


def test_view_writes_the_page_beside_the_trace(tmp_path):
    source = tmp_path / "run.json"
    shutil.copy(os.path.join(TRACES, "stall.json"), source)
    result = run_command("view", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {tmp_path / 'run.html'}: 5 lanes, 33 events, 400 ms; open it in a browser\n"
    assert json.loads(Dom((tmp_path / "run.html").read_text()).scripts["trace-data"]) == fixture("stall")


def test_view_writes_where_o_says(tmp_path):
    result = run_command("view", os.path.join(TRACES, "threads.json"), "-o", str(tmp_path / "t.html"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {tmp_path / 't.html'}: 3 lanes, 30 events")
    assert (tmp_path / "t.html").stat().st_size > 10_000


@pytest.mark.parametrize("content, reason", [
    (None, "cannot read"), ("not json", "is not JSON"), ("{}", "is not a trace")])
def test_view_of_a_bad_file_is_one_line_and_exit_2(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    result = run_command("view", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and reason in result.stderr, result.stderr
    assert result.stderr.startswith("evloop.trace: error:") and "Traceback" not in result.stderr
    assert not (tmp_path / "bad.html").exists()


@pytest.mark.parametrize("args", [(), ("show", "run.json"), ("view",), ("view", "a.json", "--bogus")])
def test_usage_mistakes_exit_2(args):
    result = run_command(*args)
    assert result.returncode == 2, result
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_help():
    result = run_command("--help")
    assert result.returncode == 0 and "view" in result.stdout
    result = run_command("view", "--help")
    assert result.returncode == 0 and "--output" in result.stdout


@pytest.mark.parametrize("path, page", [("run.json", "run.html"), ("/t/RUN.JSON", "/t/RUN.html"),
                                        ("run", "run.html"), ("a.b.txt", "a.b.txt.html")])
def test_the_page_goes_beside_the_trace(path, page):
    assert default_output(path) == page


def test_main_in_process_returns_0_and_fails_with_exit_2(tmp_path, capsys):
    source = tmp_path / "run.json"
    shutil.copy(os.path.join(TRACES, "threads.json"), source)
    assert main(["view", str(source)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'run.html'}: 3 lanes")
    with pytest.raises(SystemExit) as caught:
        main(["view", str(source), "-o", str(tmp_path / "missing" / "page.html")])
    assert caught.value.code == 2
    assert f"cannot write {tmp_path}/missing/page.html" in capsys.readouterr().err
