"""What the command lines share: value parsers, the default port, one-line errors.

argparse prints the whole usage before an error, which buries the one line
that matters (a 16-line usage for `--port -1`).  `Parser` prints only
`PROG: error: MESSAGE (see --help)` and exits 2, as every evloop command
does for every mistake a user can make.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from evloop import __version__
from evloop.settings.limits import DEFAULT_PORT

SIZE_UNITS = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and which knows --version."""

    def __init__(self, command: str, **kwargs: object) -> None:
        self.command = command  # "evloop.serve": the name errors start with
        # No abbreviations: --work (a handler option) must never mean --workers.
        super().__init__(prog=program_name(command), allow_abbrev=False, **kwargs)  # type: ignore[arg-type]
        self.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    def error(self, message: str) -> NoReturn:
        self.fail(f"{message} (see --help)")

    def fail(self, message: str) -> NoReturn:
        self.exit(2, f"{self.command}: error: {message}\n")


def program_name(command: str) -> str:
    """How the user ran it: `evloop-serve` for the console script, else `python3 -m ...`."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    script = command.replace(".", "-")
    return script if invoked == script else f"python3 -m {command}"


def default_port() -> int:
    """12000, or $EVLOOP_PORT: one setting for a shell session's servers and clients."""
    text = os.environ.get("EVLOOP_PORT", "")
    try:
        return parse_port(text) if text else DEFAULT_PORT
    except argparse.ArgumentTypeError:
        return DEFAULT_PORT


def parse_size(text: str) -> int:
    """ "65536", "64K", "8M" or "1G" -> a number of bytes."""
    text = text.strip().upper().removesuffix("B")
    scale = SIZE_UNITS.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in SIZE_UNITS else text
    try:
        value = int(float(number) * scale)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 65536, 64K or 8M)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size cannot be negative: {text!r}")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a time must be 0 or more seconds: {text!r}")
    return value


def parse_count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def parse_fd(text: str) -> int:
    fd = parse_count(text)
    if fd < 0:
        raise argparse.ArgumentTypeError(f"descriptor {fd} is not 0 or more")
    return fd


def parse_port(text: str) -> int:
    port = parse_count(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def parse_mode(text: str) -> int:
    """ "660" or "0o660" -> permission bits."""
    try:
        mode = int(text.removeprefix("0o"), 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not octal permissions: {text!r} (try 660)") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"permissions {text!r} are outside 0-777")
    return mode
