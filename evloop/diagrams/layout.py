"""A layered drawing of a small directed graph without cycles, in pure Python.

This is the method Graphviz's `dot` is built on (Sugiyama's), cut down to
what a diagram of a dozen states needs:

1. Rows.  A node's rank is the longest path to it from a node that nothing
   points at, so every edge points down.  Ranks are spaced two rows apart:
   the row between holds the edges' labels.
2. Chains.  An edge from rank r to rank s becomes a chain of points, one
   per row in between: the first holds its label (text to the right of the
   line), the others are bends.  Each takes room in its row like a node,
   which is why no label ever lies on a box, a line or another label.
3. Order.  Each row is sorted by the mean position of its neighbours in the
   row above, then below, a few times over, keeping the order with the
   fewest crossings (the "barycenter" heuristic).
4. Places.  A node is pulled towards the mean x of its neighbours, and the
   points of one edge towards one column, so that a long edge runs straight
   down; then each row's order and gaps are restored by the least change
   (isotonic regression: "pool adjacent violators").  A few dozen passes
   settle it.  An edge's line runs straight through each row and curves
   only in the gaps between rows, where nothing else is.

Edges leave a box at its bottom and enter at its top, spread along the side
in the order of where they come from, so arrows into one state do not meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

GAP = 16.0         # the least room between two things in a row
ROW_GAP = 32.0     # between rows, where the curves run
LABEL_PAD = 5.0    # from an edge's line to its label's text
SWEEPS = 8
BEND_WEIGHT = 8.0  # Graphviz weighs an edge between two bends 8 times a plain one


@dataclass
class Point:
    """A node, a label, or a bend of an edge: something with a place in a row."""

    row: int
    left: float                 # room it needs left of its x
    right: float                # ...and right of it
    height: float
    weight: float = 1.0         # how hard it holds its place: bends most, to run straight
    chain: int = -1             # for a label or a bend, the edge it is on
    x: float = 0.0
    y: float = 0.0              # the middle of its row
    up: list[int] = field(default_factory=list)      # neighbours in the row above
    down: list[int] = field(default_factory=list)    # ...and below


@dataclass
class Route:
    """An edge, laid out: its label's place (None without one), the points its line
    runs through, top to bottom; vertical between the two points of each row."""

    label_at: tuple[float, float] | None
    points: list[tuple[float, float]]


@dataclass
class Layout:
    boxes: dict[str, tuple[float, float, float, float]]   # name: (x, y, width, height)
    routes: list[Route]
    width: float
    height: float


def ranks(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """The longest path to each node; ValueError for a cycle (a drawing would lie)."""
    incoming = {node: 0 for node in nodes}
    for _, target in edges:
        incoming[target] += 1
    rank = {node: 0 for node in nodes}
    ready = [node for node in nodes if not incoming[node]]
    done = 0
    while ready:
        node = ready.pop(0)
        done += 1
        for source, target in edges:
            if source == node:
                rank[target] = max(rank[target], rank[node] + 1)
                incoming[target] -= 1
                if not incoming[target]:
                    ready.append(target)
    if done != len(nodes):
        raise ValueError("the graph has a cycle: " + ", ".join(n for n in nodes if incoming[n]))
    return rank


def layout(sizes: dict[str, tuple[float, float]],
           edges: list[tuple[str, str, tuple[float, float] | None]]) -> Layout:
    """Place nodes of the given (width, height) and edges with an optional label
    of the given (width, height); nodes come in the order they are given."""
    rank = ranks(list(sizes), [(source, target) for source, target, _ in edges])
    points = [Point(2 * rank[name], w / 2, w / 2, h) for name, (w, h) in sizes.items()]
    index = {name: i for i, name in enumerate(sizes)}
    chains = [chain(points, index[source], index[target], label, n)
              for n, (source, target, label) in enumerate(edges)]
    rows = order(points)
    place(points, rows, chains)
    boxes = {name: (points[i].x - points[i].left, points[i].y - points[i].height / 2,
                    points[i].left + points[i].right, points[i].height)
             for name, i in index.items()}
    routes = [route(points, points_of, label is not None)
              for points_of, (_, _, label) in zip(chains, edges)]
    return Layout(boxes, routes, max(p.x + p.right for p in points) + GAP,
                  max(p.y + p.height / 2 for p in points) + GAP)


def chain(points: list[Point], source: int, target: int, label: tuple[float, float] | None,
          edge: int) -> list[int]:
    """An edge as points, one per row from its source's to its target's: the label
    (or a bend) in the row below the source, bends after it.  Adds them to `points`."""
    indices = [source]
    for row in range(points[source].row + 1, points[target].row):
        if label is not None and row == points[source].row + 1:
            points.append(Point(row, 2.0, LABEL_PAD + label[0], label[1], BEND_WEIGHT, edge))
        else:
            points.append(Point(row, 1.0, 1.0, 0.0, BEND_WEIGHT, edge))
        indices.append(len(points) - 1)
    indices.append(target)
    for upper, lower in zip(indices, indices[1:]):
        points[upper].down.append(lower)
        points[lower].up.append(upper)
    return indices


def order(points: list[Point]) -> list[list[int]]:
    """Rows of point indices, sorted for few crossings."""
    rows: list[list[int]] = [[] for _ in range(max(p.row for p in points) + 1)]
    for i, point in enumerate(points):
        rows[point.row].append(i)
    best, fewest = [list(row) for row in rows], crossings(points, rows)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        for r in (range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)):
            at = {i: n for n, i in enumerate(rows[r - 1 if downward else r + 1])}
            here = {i: n for n, i in enumerate(rows[r])}

            def centre(i: int) -> float:
                near = [at[j] for j in (points[i].up if downward else points[i].down)]
                return sum(near) / len(near) if near else here[i]
            rows[r].sort(key=centre)
        transpose(points, rows)
        count = crossings(points, rows)
        if count < fewest:
            best, fewest = [list(row) for row in rows], count
    return best


def transpose(points: list[Point], rows: list[list[int]]) -> None:
    """Swap neighbours in a row while that removes crossings (as dot does)."""
    better = True
    while better:
        better = False
        for r, row in enumerate(rows):
            near = rows[max(r - 1, 0):r + 2]
            for n in range(len(row) - 1):
                before = crossings(points, near)
                row[n], row[n + 1] = row[n + 1], row[n]
                if crossings(points, near) < before:
                    better = True
                else:
                    row[n], row[n + 1] = row[n + 1], row[n]


def crossings(points: list[Point], rows: list[list[int]]) -> int:
    count = 0
    for upper, lower in zip(rows, rows[1:]):
        at = {i: n for n, i in enumerate(lower)}
        pairs = [(n, at[j]) for n, i in enumerate(upper) for j in points[i].down]
        count += sum(1 for a, b in pairs for c, d in pairs if a < c and b > d)
    return count


def place(points: list[Point], rows: list[list[int]], chains: list[list[int]]) -> None:
    """x: in order, at least GAP apart, a node pulled towards its neighbours and an
    edge's bends towards one column (a long edge runs straight down); y: row by row."""
    for row in rows:
        x = 0.0
        for i in row:
            points[i].x = x + points[i].left
            x = points[i].x + points[i].right + GAP
    for _ in range(4 * SWEEPS):
        columns = [column([points[i].x for i in edge]) for edge in chains]
        for row in rows:
            wanted = [columns[points[i].chain] if points[i].chain >= 0 else pull(points, i)
                      for i in row]
            for i, x in zip(row, fit_in_order(wanted, [points[i] for i in row])):
                points[i].x = x
    shift = GAP - min(points[i].x - points[i].left for row in rows for i in row)
    y = GAP
    for row in rows:
        height = max([points[i].height for i in row] + [0.0])
        for i in row:
            points[i].x += shift
            points[i].y = y + height / 2
        y += height + ROW_GAP


def pull(points: list[Point], i: int) -> float:
    """Where a node would be, left to its neighbours: their mean."""
    near = points[i].up + points[i].down
    return sum(points[j].x for j in near) / len(near) if near else points[i].x


def column(xs: list[float]) -> float:
    """Where an edge's bends should line up: where the one pushed furthest from the
    others is, since a row pushed it there (the ends only pull when nothing pushes)."""
    inner = xs[1:-1]
    mean = sum(xs) / len(xs)
    return max(inner, key=lambda x: abs(x - mean)) if len(inner) > 1 else mean


def fit_in_order(wanted: list[float], row: list[Point]) -> list[float]:
    """The x nearest `wanted` (least squares) that keeps the row's order and gaps."""
    offsets = [0.0]
    for a, b in zip(row, row[1:]):
        offsets.append(offsets[-1] + a.right + GAP + b.left)
    # With y = x - offset the gaps become y non-decreasing: pool adjacent violators,
    # each block at the weighted mean of what its members want.
    blocks: list[list[float]] = []   # [sum of weight * wanted, sum of weights, members]
    for w, offset, point in zip(wanted, offsets, row):
        blocks.append([point.weight * (w - offset), point.weight, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight, members = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight
            blocks[-1][2] += members
    ys = [total / weight for total, weight, members in blocks for _ in range(int(members))]
    return [y + offset for y, offset in zip(ys, offsets)]


def route(points: list[Point], edge: list[int], labelled: bool) -> Route:
    source, target, first = points[edge[0]], points[edge[-1]], points[edge[1]]
    line = [(port(points, source, source.down, edge[1]), source.y + source.height / 2)]
    for i in edge[1:-1]:
        point = points[i]
        half = row_height(points, point.row) / 2
        line += [(point.x, point.y - half), (point.x, point.y + half)]
    line.append((port(points, target, target.up, edge[-2]), target.y - target.height / 2))
    return Route((first.x + LABEL_PAD, first.y) if labelled else None, line)


def port(points: list[Point], node: Point, neighbours: list[int], via: int) -> float:
    """Where an edge meets its node's box: spread along the side, by where it goes."""
    ordered = sorted(neighbours, key=lambda j: (points[j].x, j))
    width = node.left + node.right
    return node.x - node.left + width * (ordered.index(via) + 1) / (len(ordered) + 1)


def row_height(points: list[Point], row: int) -> float:
    return max(p.height for p in points if p.row == row)
