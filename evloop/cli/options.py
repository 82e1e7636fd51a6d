"""What the command lines share: value parsers, the default port, one-line errors.

argparse prints the whole usage before an error, which buries the one line
that matters (a 16-line usage for `--port -1`).  `Parser` prints only
`PROG: error: MESSAGE (see --help)` and exits 2, as every evloop command
does for every mistake a user can make.

A server run by a container or a service manager is often configured by
its environment instead: `defaults_from(os.environ)` lets every long
option come from `EVLOOP_<OPTION>` (12-factor style, as gunicorn's
GUNICORN_CMD_ARGS and uvicorn's UVICORN_* do), read exactly as the flag is.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import NoReturn

from evloop import __version__
from evloop.settings.limits import DEFAULT_PORT

SIZE_UNITS = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
SWITCH_WORDS = {"1": True, "true": True, "yes": True, "on": True,
                "0": False, "false": False, "no": False, "off": False}


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

    def defaults_from(self, environ: Mapping[str, str], prefix: str = "EVLOOP_") -> None:
        """Every --long-option's default from `PREFIX` + its name (EVLOOP_MAX_CONNECTIONS
        for --max-connections), read as the flag would be; a flag given still wins.
        A value the flag would refuse is the same one-line error, naming the variable."""
        for action in self._actions:
            flags = [f for f in action.option_strings if f.startswith("--")]
            if not flags or action.dest in ("help", "version"):
                continue
            name = prefix + flags[0][2:].upper().replace("-", "_")
            if name in environ:
                try:
                    value = _from_text(action, environ[name])
                except (argparse.ArgumentTypeError, ValueError) as exc:
                    self.fail(f"{name}={environ[name]!r}: {exc}")
                self.set_defaults(**{action.dest: value})


def _from_text(action: argparse.Action, text: str) -> Any:
    """`text` as `action`'s flag would give it: through its type, among its choices;
    a switch from yes/no words; a repeatable flag from a comma-separated list."""
    if action.nargs == 0:  # a switch (store_true)
        word = text.strip().lower()
        if word not in SWITCH_WORDS:
            raise ValueError(f"not one of {', '.join(SWITCH_WORDS)}")
        return SWITCH_WORDS[word] == (action.const is not False)
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        return [convert(part) for part in text.split(",") if part.strip()]
    value = convert(text)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"not one of {', '.join(map(str, action.choices))}")
    return value


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


def parse_networks(text: str) -> tuple[str, ...]:
    """ "10.0.0.0/8,127.0.0.1" -> ("10.0.0.0/8", "127.0.0.1"); Config checks each is a
    network (evloop.settings.config.parse_network), in the one place that knows how."""
    networks = tuple(part.strip() for part in text.split(","))
    if not all(networks):
        raise argparse.ArgumentTypeError(f"an empty network in {text!r} (try 10.0.0.0/8,::1)")
    return networks
