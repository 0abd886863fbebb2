"""Where each item of a drawing goes: a layered layout, deterministic, in the book's order.

Operations are placed in columns by their depth (an operation sits one column
right of the deepest operation it reads from); an input sits one column left of
the first operation that uses it; the output is last. Within a column items keep
the order in which forward first met them (apple above orange, as the book
draws it), then a few barycenter sweeps straighten the edges, ties broken by
that order, so the same graph always gets the same picture. ``direction`` "LR"
puts inputs left and the loss right; "TB" puts them top and bottom.
"""
from __future__ import annotations

from dataclasses import dataclass

#: pixels between columns and between rows, for each direction
SPACING = {"LR": (180, 104), "TB": (150, 120)}
MARGIN = 90


@dataclass
class Placed:
    x: float
    y: float
    rank: int
    row: int


def ranks_of(items, edges):
    """Column of every item: operations by longest path; sources one left of their first consumer."""
    sources = {i for i in items}
    incoming = {i: [] for i in items}
    outgoing = {i: [] for i in items}
    for a, b in edges:
        incoming[b].append(a)
        outgoing[a].append(b)
        sources.discard(b)
    rank = {}
    for item in items:  # items come in forward order: every source of an item is ranked before it
        inner = [rank[a] for a in incoming[item] if a not in sources]
        rank[item] = 1 + max(inner) if inner else (0 if item in sources else 1)
    for item in items:
        if item in sources and outgoing[item]:
            rank[item] = max(min(rank[b] for b in outgoing[item]) - 1, 0)
    return rank


def _spread(desired, gap):
    """Positions closest to ``desired`` (least squares) that keep their order at least ``gap`` apart.

    With q_i = p_i − i·gap the constraint is q non-decreasing: isotonic regression, by pooling adjacent
    violators.
    """
    blocks = []  # [mean, count]
    for i, d in enumerate(desired):
        blocks.append([d - i * gap, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, c1), (m2, c2) = blocks.pop(-2), blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    q = [m for m, c in blocks for _ in range(c)]
    return [qi + i * gap for i, qi in enumerate(q)]


def layout(items, edges, direction="LR", sweeps=4):
    """``{item: Placed}`` and the drawing's (width, height) for ``items`` (in forward order) and ``edges``."""
    rank = ranks_of(items, edges)
    first_seen = {item: i for i, item in enumerate(items)}
    columns = {}
    for item in items:
        columns.setdefault(rank[item], []).append(item)
    neighbours = {i: [] for i in items}
    inputs_of = {i: [] for i in items}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
        if a not in inputs_of[b]:
            inputs_of[b].append(a)
    position = {item: float(row) for col in columns.values() for row, item in enumerate(col)}
    order = sorted(columns)
    for sweep in range(sweeps):  # the order within each column: barycenters, ties by first appearance
        for r in (order if sweep % 2 == 0 else reversed(order)):
            col = columns[r]

            def barycenter(item):
                others = [position[n] for n in neighbours[item] if rank[n] != r]
                return sum(others) / len(others) if others else position[item]
            col.sort(key=lambda item: (barycenter(item), first_seen[item]))
            for row, item in enumerate(col):
                position[item] = float(row)
    # coordinates: each operation level with the middle of its inputs, the inputs of one operation spread
    # around it, keeping the order and one row's gap
    y = {item: row * 1.0 for col in columns.values() for row, item in enumerate(col)}

    def source_target(item):
        users = [b for b in neighbours[item] if item in inputs_of[b]]
        if inputs_of[item] or not users:
            return None
        siblings = [a for a in inputs_of[users[0]] if not inputs_of[a] and rank[a] == rank[item]]
        return y[users[0]] + (siblings.index(item) - (len(siblings) - 1) / 2)

    def settle(r, wanted):
        col = columns[r]
        for item, value in zip(col, _spread([wanted(item) for item in col], 1.0)):
            y[item] = value

    for sweep in range(4):  # operations follow their inputs (left to right), inputs their operation (back)
        for r in order:
            settle(r, lambda item: sum(y[a] for a in inputs_of[item]) / len(inputs_of[item]) if inputs_of[item]
                   else y[item])
        if sweep < 3:
            for r in reversed(order):
                settle(r, lambda item: source_target(item) if source_target(item) is not None else y[item])
    low = min(y.values()) if y else 0.0
    step, gap = SPACING[direction]
    placed = {}
    for r, col in columns.items():
        for row, item in enumerate(col):
            along, across = MARGIN + r * step, MARGIN + (y[item] - low) * gap
            x, yy = (along, across) if direction == "LR" else (across, along)
            placed[item] = Placed(x, yy, r, row)
    length = MARGIN * 2 + (max(order) if order else 0) * step
    breadth = MARGIN * 2 + ((max(y.values()) - low) if y else 0) * gap
    size = (length, breadth) if direction == "LR" else (breadth, length)
    return placed, size


def choose_direction(items, edges, direction="auto", longest_lr=5):
    """'LR' (the book's left to right) unless the graph has more than ``longest_lr`` columns: then 'TB'.

    Static drawings turn at 5 (a long graph's labels make a strip no slide can hold); the page, which
    scales its drawing to a wide screen, at 12.
    """
    if direction in ("LR", "TB"):
        return direction
    if direction != "auto":
        raise ValueError(f"layout direction must be 'LR', 'TB' or 'auto', got {direction!r}")
    rank = ranks_of(items, edges)
    return "TB" if rank and max(rank.values()) > longest_lr else "LR"
