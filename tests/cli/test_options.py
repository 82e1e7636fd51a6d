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
from evloop.cli.options import parse_networks
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


def test_parse_networks_splits_on_commas_and_leaves_the_checks_to_config():
    assert parse_networks("10.0.0.0/8, 127.0.0.1,::1") == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert parse_networks("anything") == ("anything",)  # Config says what is wrong with it
    for text in ("", "10.0.0.0/8,", ",::1", "10.0.0.0/8,,::1"):
        with pytest.raises(argparse.ArgumentTypeError, match="an empty network in"):
            parse_networks(text)


def env_parser():
    parser = Parser("evloop.test")
    parser.add_argument("--max-message", type=parse_count, default=10)
    parser.add_argument("--udp", action="store_true")
    parser.add_argument("--fd", type=parse_fd, action="append", dest="fds", default=None)
    parser.add_argument("--selector", default="auto", choices=["auto", "epoll"])
    return parser


def test_every_long_option_may_come_from_the_environment_and_a_flag_wins():
    parser = env_parser()
    parser.defaults_from({"EVLOOP_MAX_MESSAGE": "64", "EVLOOP_UDP": "yes", "EVLOOP_FD": "3,4",
                          "EVLOOP_SELECTOR": "epoll", "OTHER_MAX_MESSAGE": "1"})
    options = parser.parse_args([])
    assert (options.max_message, options.udp, options.fds, options.selector) == (
        64, True, [3, 4], "epoll")
    assert parser.parse_args(["--max-message", "5"]).max_message == 5
    quiet = env_parser()
    quiet.defaults_from({"EVLOOP_UDP": "off"})
    assert quiet.parse_args([]).udp is False


@pytest.mark.parametrize("environ, message", [
    ({"EVLOOP_MAX_MESSAGE": "lots"}, "EVLOOP_MAX_MESSAGE='lots': not a whole number: 'lots'"),
    ({"EVLOOP_UDP": "maybe"}, "EVLOOP_UDP='maybe': not one of 1, true, yes, on, 0, false, no, off"),
    ({"EVLOOP_FD": "3,x"}, "EVLOOP_FD='3,x': not a whole number: 'x'"),
    ({"EVLOOP_SELECTOR": "iocp"}, "EVLOOP_SELECTOR='iocp': not one of auto, epoll"),
])
def test_a_bad_value_in_the_environment_is_one_line_naming_the_variable(environ, message, capsys):
    with pytest.raises(SystemExit) as exit:
        env_parser().defaults_from(environ)
    assert exit.value.code == 2
    assert capsys.readouterr().err == f"evloop.test: error: {message}\n"
