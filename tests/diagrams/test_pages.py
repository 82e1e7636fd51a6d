"""evloop.diagrams.pages and scripts/draw-pictures: a picture stands between its marker and
the end marker; reading it back gives what was put in; the script prints a picture,
writes it into its chapter with --update (in a copy of the tree here), and refuses
a page with no place for it without touching the page."""

import os
import subprocess
import sys

import pytest

from evloop.diagrams import pages
from tests.conftest import ROOT
from tests.conftest import cli_env

PAGE = ("# A chapter\n\nText.\n\n<!-- picture: scripts/draw-pictures turn -->\nold\n"
        "<!-- end of picture -->\n\nMore.\n")


def test_a_picture_is_read_and_replaced_between_its_markers():
    assert pages.shown(PAGE, "turn") == "old"
    page = pages.embed(PAGE, "turn", "```mermaid\nnew\n```\n")
    assert pages.shown(page, "turn") == "```mermaid\nnew\n```"
    assert page.startswith("# A chapter\n\nText.\n\n") and page.endswith(
        "```\n<!-- end of picture -->\n\nMore.\n")
    assert pages.embed(page, "turn", "old") == PAGE
    empty = PAGE.replace("old\n", "")
    assert pages.shown(empty, "turn") == "" and pages.embed(empty, "turn", "old") == PAGE
    with pytest.raises(ValueError):
        pages.shown(PAGE, "kernel")
    assert pages.fenced("a", "b") == "```mermaid figure\na\n```\n\n```mermaid figure\nb\n```"


def tree(tmp_path, page):
    """A copy of the tree's layout: the script, evloop and bench, one chapter."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "docs").mkdir()
    with open(os.path.join(ROOT, "scripts", "draw-pictures")) as f:
        (tmp_path / "scripts" / "draw-pictures").write_text(f.read())
    os.chmod(tmp_path / "scripts" / "draw-pictures", 0o755)
    for package in ("evloop", "bench"):
        os.symlink(os.path.join(ROOT, package), tmp_path / package)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / ".venv" / "bin" / "python")
    path = tmp_path / "docs" / "06-callbacks-to-coroutines.md"
    path.write_text(page)
    return path


def draw(tmp_path, *args):
    return subprocess.run([str(tmp_path / "scripts" / "draw-pictures"), *args],
                          capture_output=True, text=True, env=cli_env(), timeout=60,
                          stdin=subprocess.DEVNULL)


def test_draw_pictures_prints_a_picture_and_writes_it_into_its_chapter(tmp_path):
    path = tree(tmp_path, PAGE.replace("turn", "generator"))
    printed = draw(tmp_path, "generator")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("```mermaid figure\nflowchart LR\n")
    run = draw(tmp_path, "generator", "--update")
    assert run.returncode == 0 and "wrote the picture into" in run.stdout, run.stderr
    assert pages.shown(path.read_text(), "generator") == printed.stdout.strip()
    assert path.read_text().endswith("<!-- end of picture -->\n\nMore.\n")


def test_draw_pictures_leaves_a_page_without_markers_as_it_was(tmp_path):
    path = tree(tmp_path, "# A chapter with no place for the picture\n")
    run = draw(tmp_path, "generator", "--update")
    assert run.returncode == 1 and "has no place for the picture" in run.stderr
    assert path.read_text() == "# A chapter with no place for the picture\n"
    assert draw(tmp_path, "nothing").returncode == 1
    assert "usage: scripts/draw-pictures" in draw(tmp_path).stderr
