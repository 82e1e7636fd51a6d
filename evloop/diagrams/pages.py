"""Pictures in the chapters: each between two markers, so a script can redraw it in place.

A picture drawn from a run (evloop.diagrams.turn, kernel, coroutines)
stands in its chapter between a marker that names the command drawing it
and an end marker:

    <!-- picture: scripts/draw-pictures turn -->
    ```mermaid figure
    ...
    ```
    <!-- end of picture -->

The word after the fence's language marks the block as a drawing, which
tests/docs/test_outputs.py does not run as a command's output: the tests
in tests/diagrams/ check it against a run instead.  `fenced(*diagrams)`
writes the blocks, `shown(page, name)` reads what the page shows, `embed(page, name, block)`
puts a new drawing in its place, and `scripts/draw-pictures NAME --update`
uses both.  The tests compare what a page shows with what a run draws now.
"""

from __future__ import annotations

END = "<!-- end of picture -->"
FENCE = "```mermaid figure"


def fenced(*diagrams: str) -> str:
    """Each Mermaid diagram in a block of its own, marked as a drawing."""
    return "\n\n".join(f"{FENCE}\n{diagram}\n```" for diagram in diagrams)


def marker(name: str) -> str:
    return f"<!-- picture: scripts/draw-pictures {name} -->"


def span(page: str, name: str) -> tuple[int, int]:
    """Where the picture `name` stands in `page`: from the line after its marker
    to the start of its end marker's line.  ValueError if either is missing."""
    start = page.index(marker(name) + "\n") + len(marker(name)) + 1
    return start, page.index(END, start)


def shown(page: str, name: str) -> str:
    """The picture `name` as `page` shows it."""
    start, end = span(page, name)
    return page[start:end].strip("\n")


def embed(page: str, name: str, block: str) -> str:
    """`page` with `block` in the place of the picture `name`."""
    start, end = span(page, name)
    return page[:start] + block.strip("\n") + "\n" + page[end:]
