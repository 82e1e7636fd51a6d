"""`python3 -m evloop.trace view run.json`: the trace file as one HTML page.

`view` reads a file that `--trace-file` wrote, renders it with
evloop.trace.page and writes the page beside it (run.json -> run.html) or
where `-o` says, then prints one line: where the page is and what it holds.
A file that cannot be read, is not JSON or is not a trace ends in one line
on stderr and exit code 2, never a traceback, as every evloop command does.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from evloop.cli.options import Parser
from evloop.trace.page import format_duration
from evloop.trace.page import load
from evloop.trace.page import render
from evloop.trace.page import summarise

COMMAND = "evloop.trace"


class SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser: its mistakes are one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{COMMAND}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    parser = Parser(COMMAND, description="Look at a trace file that --trace-file wrote.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=SubcommandParser)
    view = commands.add_parser("view", help="write the trace as one HTML timeline page",
                               description="Write the trace as one self-contained HTML page: a lane "
                                           "per descriptor, time left to right, hover for details.")
    view.add_argument("trace", metavar="TRACE.json", help="a file written by --trace-file")
    view.add_argument("-o", "--output", metavar="PAGE.html", default=None,
                      help="where to write the page (default: beside TRACE.json, ending .html)")
    return parser


def default_output(path: str) -> str:
    """run.json -> run.html, in the same directory."""
    root, extension = os.path.splitext(path)
    return (root if extension.lower() == ".json" else path) + ".html"


def view(parser: Parser, args: argparse.Namespace) -> int:
    output = args.output or default_output(args.trace)
    try:
        trace = load(args.trace)
        page = render(trace)
    except ValueError as error:
        parser.fail(str(error))
    summary = summarise(trace)
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(page)
    except OSError as error:
        parser.fail(f"cannot write {output}: {error.strerror or error}")
    print(f"wrote {output}: {len(summary.lanes)} lanes, {summary.events} events, "
          f"{format_duration(summary.span_us)}; open it in a browser")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        parser.fail("say what to do: view TRACE.json")
    return view(parser, args)
