"""evloop.diagrams.packages: the layers name every package once, and the map shows
each package's essay line and its modules, read from the files."""

import pathlib

import evloop
from evloop.diagrams import packages

PACKAGE = pathlib.Path(evloop.__file__).parent


def test_every_package_stands_in_exactly_one_layer():
    named = [package for layer, _ in packages.LAYERS for package in layer]
    assert len(named) == len(set(named))
    on_disk = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert set(named) == on_disk


def test_the_map_has_a_row_per_package_top_layer_first_with_its_modules():
    rows = [line for line in packages.markdown().splitlines()[2:]]
    assert len(rows) == len(packages.LAYER)
    layers = [int(row.split("|")[1]) for row in rows]
    assert layers == sorted(layers, reverse=True)
    connection = next(row for row in rows if "`connection/`" in row)
    assert "One TCP connection" in connection  # the first line of its package essay
    assert "states" in connection and "__init__" not in connection


def test_a_summary_is_the_essay_s_first_line_without_its_full_stop(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Does one thing.\n\nAt length.\n"""\nx = 1\n')
    assert packages.summary(module) == "Does one thing"
    assert packages.modules("settings") == ["config", "limits", "logs"]
