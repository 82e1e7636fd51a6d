"""evloop.diagrams.layout: a layered drawing of a small graph with no cycles: ranks by
the longest path, every edge pointing down, rows in order with their gaps, long edges
bent through the rows between, labels in the row below their source."""

import pytest

from evloop.diagrams import layout


def test_the_layout_refuses_a_cycle():
    with pytest.raises(ValueError, match="cycle: b, c"):
        layout.ranks(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "b")])
    assert layout.ranks(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")]) == {
        "a": 0, "b": 1, "c": 2}


def test_fitting_a_row_keeps_its_order_and_gaps_and_moves_least():
    row = [layout.Point(0, 5.0, 5.0, 10.0), layout.Point(0, 5.0, 5.0, 10.0)]
    assert layout.fit_in_order([0.0, 100.0], row) == [0.0, 100.0]  # room: where wanted
    # Both want 50: they share the move, 26 apart (5 + GAP 16 + 5).
    assert layout.fit_in_order([50.0, 50.0], row) == [37.0, 63.0]
    row[1].weight = 3.0  # a bend holds its place harder
    assert layout.fit_in_order([50.0, 50.0], row) == [30.5, 56.5]


def test_ranks_are_the_longest_path_and_a_lone_node_is_rank_0():
    ranks = layout.ranks(["a", "b", "c", "d", "e"],
                         [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert ranks == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def diamond():
    sizes = {name: (40.0, 20.0) for name in ("top", "left", "right", "bottom")}
    edges = [("top", "left", (30.0, 12.0)), ("top", "right", None),
             ("left", "bottom", None), ("right", "bottom", None), ("top", "bottom", None)]
    return sizes, edges, layout.layout(sizes, edges)


def test_every_edge_runs_down_from_its_source_to_its_target():
    sizes, edges, placed = diamond()
    for (source, target, _), route in zip(edges, placed.routes):
        sx, sy, sw, sh = placed.boxes[source]
        tx, ty, tw, th = placed.boxes[target]
        assert route.points[0][1] == sy + sh and route.points[-1][1] == ty  # bottom to top
        assert sx <= route.points[0][0] <= sx + sw and tx <= route.points[-1][0] <= tx + tw
        ys = [y for _, y in route.points]
        assert ys == sorted(ys)


def test_boxes_keep_their_sizes_and_a_row_keeps_its_gaps():
    sizes, edges, placed = diamond()
    assert {name: box[2:] for name, box in placed.boxes.items()} == sizes
    (_, y_left, _, _), (_, y_right, _, _) = placed.boxes["left"], placed.boxes["right"]
    assert y_left == y_right  # the same rank, the same row
    left, right = sorted((placed.boxes["left"], placed.boxes["right"]))
    assert right[0] - (left[0] + left[2]) >= layout.GAP
    assert placed.width >= max(x + w for x, _, w, _ in placed.boxes.values())
    assert placed.height >= max(y + h for _, y, _, h in placed.boxes.values())


def test_a_long_edge_bends_through_the_rows_between_and_a_label_sits_by_its_line():
    sizes, edges, placed = diamond()
    long_edge = placed.routes[4]  # top -> bottom skips the middle row: two bends' worth
    assert len(long_edge.points) > len(placed.routes[1].points)
    labelled = placed.routes[0]
    assert labelled.label_at is not None and placed.routes[1].label_at is None
    x, y = labelled.label_at
    top = placed.boxes["top"]
    assert y > top[1] + top[3] and x > labelled.points[1][0]  # below its source, right of its line
