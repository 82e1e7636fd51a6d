"""`python3 -m evloop.aio [--trace] script.py [args...]`: an asyncio program, unchanged, on evloop.aio.

The script runs as `__main__` (runpy.run_path), as `python3 script.py`
would run it: `sys.argv` is `[script, *args]` and `sys.path[0]` is the
script's directory.  Before it starts, evloop.aio is asyncio's policy, so
the script's own `asyncio.run(main())` (and `asyncio.new_event_loop()`)
makes an evloop.aio loop.  Policies are deprecated from Python 3.14, but
asyncio.run still asks the policy for its loop, and a script's call cannot
be handed a loop_factory from outside: the policy is set with the
warning silenced.

The exit code is the script's: 0 when it returns, its own when it raises
SystemExit, 1 with the traceback when it fails.  A script that cannot be
opened ends in one line on stderr and exit code 2, as every evloop command
does for a mistake.  `--trace` narrates the loop on stderr
(evloop.aio.tracing): wake-ups, callbacks and task steps, and what each
transport's socket read and wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import runpy
import sys
import warnings
from collections.abc import Iterator

import evloop.aio
from evloop.aio import tracing
from evloop.cli.options import Parser

COMMAND = "evloop.aio"


def build_parser() -> Parser:
    parser = Parser(COMMAND, description="Run an asyncio program on evloop.aio, evloop's "
                                         "asyncio loop: its asyncio.run() makes one.")
    parser.add_argument("--trace", action="store_true",
                        help="narrate the loop on stderr: wake-ups, callbacks and task steps, "
                             "and each transport's reads and writes")
    parser.add_argument("script", help="the program, a Python file run as __main__")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="the program's own arguments (its sys.argv[1:])")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    script: str = options.script
    try:
        with open(script, "rb"):
            pass
    except OSError as exc:
        parser.fail(f"can't open file {script!r}: {exc.strerror}")
    with policy(options.trace), as_main(script, options.args):
        runpy.run_path(script, run_name="__main__")
    return 0


@contextlib.contextmanager
def policy(trace: bool) -> Iterator[None]:
    """evloop.aio (traced or not) as asyncio's policy, and the old one back after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.14 deprecates policies
        before = asyncio.get_event_loop_policy()
    if trace:
        tracing.install()
    else:
        evloop.aio.install()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(before)


@contextlib.contextmanager
def as_main(script: str, args: list[str]) -> Iterator[None]:
    """sys.argv and sys.path[0] as `python3 script.py args...` sets them."""
    argv, path0 = sys.argv, sys.path[0]
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        yield
    finally:
        sys.argv = argv
        sys.path[0] = path0
