"""`python3 -m evloop.states`: the connection's state machine, drawn from its table.

It prints the Mermaid source docs/04-anatomy.md shows, or with `--svg` a
picture (scripts/draw-states writes it to docs/images/states.svg), or with
`--dot` the source Graphviz draws from (`... --dot | dot -Tpng -o states.png`).
Each is made from evloop.connection.states at the moment, so none can drift from the code.
"""

from __future__ import annotations

from evloop.cli.options import Parser
from evloop.connection import states
from evloop.diagrams import state_diagram as drawing

COMMAND = "evloop.states"


def build_parser() -> Parser:
    parser = Parser(COMMAND, description="Print the connection's state machine, drawn from "
                                         "the transition table in evloop.connection.states.")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--svg", dest="form", action="store_const", const="svg",
                      help="an SVG picture (what docs/images/states.svg holds)")
    form.add_argument("--dot", dest="form", action="store_const", const="dot",
                      help="Graphviz source, for `dot -Tpng`")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.form == "svg":
        print(drawing.svg(), end="")
    elif options.form == "dot":
        print(drawing.dot(), end="")
    else:
        print(states.mermaid())
    return 0
