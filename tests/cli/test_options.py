"""evloop.cli.options: what every command line shares: one-line errors and exit 2, the
value parsers, the default port and the program's name."""

import argparse
import sys

import pytest

from evloop import __version__
from evloop.cli.options import Parser
from evloop.cli.options import default_port
from evloop.cli.options import parse_count
from evloop.cli.options import parse_fd
from evloop.cli.options import parse_mode
from evloop.cli.options import parse_port
from evloop.cli.options import parse_seconds
from evloop.cli.options import parse_size
from evloop.cli.options import program_name


def test_parse_size():
    assert parse_size("64K") == 65536 and parse_size("8M") == 8 << 20
    assert parse_size("1g") == 1 << 30 and parse_size("100") == 100 and parse_size("2KB") == 2048


def test_a_mistake_is_one_line_and_exit_2(capsys):
    parser = Parser("evloop.test")
    parser.add_argument("--port", type=parse_port)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--port", "-1"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == "evloop.test: error: argument --port: port -1 is outside 0-65535 (see --help)\n"


def test_no_abbreviations_and_a_version(capsys):
    parser = Parser("evloop.test")
    parser.add_argument("--workers", type=int)
    with pytest.raises(SystemExit):
        parser.parse_args(["--work", "2"])  # never taken for --workers
    assert "unrecognized arguments: --work 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.endswith(f" {__version__}\n")


def test_the_program_is_named_as_the_user_ran_it(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/evloop-serve"])
    assert program_name("evloop.serve") == "evloop-serve"
    monkeypatch.setattr(sys, "argv", ["/x/evloop/serve.py"])
    assert program_name("evloop.serve") == "python3 -m evloop.serve"


def test_the_default_port_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVLOOP_PORT", "13000")
    assert default_port() == 13000
    monkeypatch.setenv("EVLOOP_PORT", "not a port")
    fallback = default_port()
    monkeypatch.delenv("EVLOOP_PORT")
    assert fallback == default_port()  # a bad value is ignored, not an error


@pytest.mark.parametrize("parse, text, value", [
    (parse_seconds, "0", 0.0), (parse_seconds, "2.5", 2.5), (parse_count, "-3", -3),
    (parse_fd, "0", 0), (parse_port, "65535", 65535), (parse_mode, "660", 0o660),
    (parse_mode, "0o755", 0o755), (parse_size, "0", 0),
])
def test_parsers_take(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text, message", [
    (parse_size, "big", "not a size: 'BIG'"), (parse_size, "-1K", "cannot be negative"),
    (parse_seconds, "soon", "not a number of seconds"), (parse_seconds, "-1", "0 or more"),
    (parse_seconds, "inf", "0 or more"), (parse_count, "1.5", "not a whole number"),
    (parse_fd, "-1", "descriptor -1 is not 0 or more"), (parse_port, "65536", "outside 0-65535"),
    (parse_mode, "999", "not octal permissions"), (parse_mode, "1777", "outside 0-777"),
])
def test_parsers_refuse_with_a_reason(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
