"""The map of evloop: its packages in layers, bottom up, and the modules of each.

evloop's architecture is its folders: a package per layer, and imports
that run down the layers only, never up or across.  `LAYERS` says which
package stands in which layer; tests/test_layering.py holds every import
to it, and `markdown()` draws the map that docs/04-anatomy.md opens with
(`scripts/draw-map` prints it; a test checks that the page shows what the
code is).  The map is read from the source files, as text: what a package
is for is the first line of its essay, and its modules are its files, so
neither can drift from the code.
"""

from __future__ import annotations

import ast
import pathlib

#: The packages, bottom up, each layer with a word on what it adds.
LAYERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("loop", "handlers"), "no layer below: the event loop; the protocols, sans-IO"),
    (("settings", "metrics"), "what a server is set to, and what it counts"),
    (("connection",), "one connection, over the loop, serving a handler"),
    (("trace", "diagrams", "testing"), "the loop and the connections, shown; handlers faked"),
    (("server", "aio"), "listeners and connections served; asyncio's loop"),
    (("supervisor",), "processes: one server, or N workers"),
    (("cli",), "the command lines, on top"),
)
#: Package -> its layer's number.
LAYER = {package: number for number, (packages, _) in enumerate(LAYERS) for package in packages}

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the evloop package


def summary(path: pathlib.Path) -> str:
    """The first line of a module's essay, without its final full stop."""
    essay = ast.get_docstring(ast.parse(path.read_text())) or ""
    return essay.split("\n", 1)[0].rstrip(".")


def modules(package: str) -> list[str]:
    """A package's modules, by name, `__init__` and `__main__` left out."""
    return sorted(path.stem for path in (ROOT / package).glob("*.py")
                  if path.stem not in ("__init__", "__main__"))


def markdown() -> str:
    """The map, top layer first, as a Markdown table."""
    lines = ["| layer | package | what it is | modules |", "|---|---|---|---|"]
    for number in reversed(range(len(LAYERS))):
        for package in LAYERS[number][0]:
            what = summary(ROOT / package / "__init__.py")
            names = ", ".join(modules(package))
            lines.append(f"| {number} | `{package}/` | {what} | {names} |")
    return "\n".join(lines)
