"""A layered (Sugiyama-style) layout of a directed graph with nested clusters, in pure Python.

The model graph (:mod:`reportgen.render.graph`) is drawn top to bottom, the way a network
reads: inputs at the top, outputs at the bottom, one layer of the drawing per step of the
longest path. The classic steps, per cluster level:

1. **Cycles.** An edge that goes back in model order is laid out reversed (a functional
   model's row order is topological, so this only happens where clusters are lifted).
2. **Layers** by longest path from the sources; a source (an input, a tensor a block makes
   itself, a layer whose inputs are unknown) is then pulled down to just above its first
   reader, so it does not hang at the top with a long edge.
3. **Dummy nodes** on every edge that spans more than one layer, so long edges (ResNet's
   skips, DenseNet's concatenations) are routed around the nodes instead of through them.
4. **Ordering** within each layer by barycentre sweeps, down and up; the ordering with the
   fewest crossings (counted exactly, Fenwick tree) is kept.
5. **Coordinates** by repeated sweeps in which every box moves to the mean x of its
   neighbours in the layer above (then below; through a long edge, the box at its far end),
   the moves of one layer solved together as a weighted isotonic regression
   (pool-adjacent-violators) that keeps each node at least its width plus a gap from the
   next. Long edges give way and never pull a box aside: a main chain comes out straight,
   with its skips beside it, however many skips it meets (DenseNet201 drifted 2,100 px
   sideways when they did).

**Clusters** (a composite block's sub-layers, a nested model's layers) are laid out
recursively: a cluster's inside first, as a drawing of its own with an entry port at the
top for each tensor that comes in and an exit port at the bottom for each that goes out;
then the cluster is one large node of its parent level. An edge's route is the routes of
every level it crosses, joined at the ports. Boxes never overlap.

Everything iterates in insertion order and sorts with explicit tie-breaks; coordinates are
rounded to integers at the end: the same graph gives the same drawing, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

NODE_GAP = 28
"""Horizontal space between two neighbours in a layer."""
LAYER_GAP = 44
"""Vertical space between two layers: room for an edge and its label."""
DUMMY_WIDTH = 14
"""Width a long edge takes where it passes a layer."""
PORT_WIDTH = 14
"""Width of a cluster's entry or exit port."""
CLUSTER_PAD = 10
"""Space between a cluster's box and what it holds."""
CLUSTER_LABEL = 22
"""Height of the label band at the top of a cluster's box."""
ORDER_SWEEPS = 8
"""Barycentre sweeps (each one down or up) when ordering the layers."""
PLACE_SWEEPS = 8
"""Coordinate sweeps (each one down or up)."""
DUMMY_WEIGHT = 0.01
"""How hard a long edge holds on to where it wants to be, against 1 for a layer's box."""

Point = tuple[int, int]


@dataclass
class Graph:
    """What to lay out. Insertion order is model order, and decides every tie."""

    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Each vertex's width and height."""
    home: dict[str, str | None] = field(default_factory=dict)
    """The cluster each vertex sits in directly; None: the top level."""
    clusters: dict[str, str | None] = field(default_factory=dict)
    """Each cluster's parent cluster (None: the top level), a parent before its children."""
    edges: list[tuple[str, str]] = field(default_factory=list)
    """(source vertex, target vertex or cluster). An edge to a cluster ends at its box."""

    def add_vertex(self, key: str, width: int, height: int, home: str | None) -> None:
        self.sizes[key] = (width, height)
        self.home[key] = home

    def add_cluster(self, key: str, parent: str | None) -> None:
        self.clusters[key] = parent


@dataclass(frozen=True)
class Drawing:
    """Where everything went, in integer pixels from the top-left corner."""

    width: int
    height: int
    boxes: dict[str, tuple[int, int, int, int]]
    """Each vertex and cluster: (x, y, width, height) of its box."""
    routes: tuple[tuple[Point, ...], ...]
    """Each edge of :attr:`Graph.edges`, in that order: the points it passes, from the
    source's box to the target's; empty for an edge that cannot be drawn (to a cluster
    that holds its own source)."""


# ---------------------------------------------------------------- one level


@dataclass
class _Level:
    """The layout of one cluster's inside (or of the top level), relative to its origin."""

    width: float
    height: float
    centre: dict[str, tuple[float, float]]
    """Each member and port: (x of its centre, y of its top)."""
    routes: dict[tuple[str, str], list[tuple[float, float]]]


def _layered(
    members: Sequence[str],
    sizes: dict[str, tuple[float, float]],
    entries: Sequence[str],
    exits: Sequence[str],
    edges: Sequence[tuple[str, str]],
) -> _Level:
    """Lay out one level: ``members`` in model order, ``entries`` above them all and
    ``exits`` below, ``edges`` between any of them (no duplicates)."""
    names = [*entries, *members, *exits]
    index = {name: i for i, name in enumerate(names)}
    count = len(names)
    first_exit = len(entries) + len(members)
    rank = list(range(count))  # model order: entries first, exits last
    width = [float(sizes[name][0]) for name in names]
    height = [float(sizes[name][1]) for name in names]

    # 1. edges forward in model order; a backward one is laid out reversed
    forward: list[tuple[int, int, bool]] = []
    for source, target in edges:
        u, v = index[source], index[target]
        if u == v:
            continue
        forward.append((u, v, False) if rank[u] < rank[v] else (v, u, True))
    preds: list[list[int]] = [[] for _ in range(count)]
    succs: list[list[int]] = [[] for _ in range(count)]
    for u, v, _ in forward:
        succs[u].append(v)
        preds[v].append(u)

    # 2. layers: longest path, then sources pulled down to just above their first reader
    base = 1 if entries else 0
    layer = [0] * count
    for v in range(len(entries), first_exit):
        layer[v] = max((layer[u] + 1 for u in preds[v]), default=base)
    for v in range(first_exit - 1, len(entries) - 1, -1):
        readers = [layer[w] for w in succs[v] if w < first_exit]
        if not preds[v] and readers:
            layer[v] = max(base, min(readers) - 1)
    last = max((layer[v] for v in range(len(entries), first_exit)), default=base - 1)
    for v in range(first_exit, count):
        layer[v] = last + 1

    # 3. dummy nodes on long edges: every edge becomes a chain of one-layer steps
    chains: dict[tuple[str, str], list[int]] = {}
    for (source, target), (u, v, reversed_) in zip(
        ((s, t) for s, t in edges if index[s] != index[t]), forward, strict=True
    ):
        chain = [u]
        for step in range(layer[u] + 1, layer[v]):
            dummy = len(layer)
            layer.append(step)
            width.append(DUMMY_WIDTH)
            height.append(0.0)
            chain.append(dummy)
        chain.append(v)
        chains[(source, target)] = chain[::-1] if reversed_ else chain
    total = len(layer)
    ups: list[list[int]] = [[] for _ in range(total)]
    downs: list[list[int]] = [[] for _ in range(total)]
    for chain in chains.values():
        for a, b in pairwise(chain):
            upper, lower = (a, b) if layer[a] < layer[b] else (b, a)
            downs[upper].append(lower)
            ups[lower].append(upper)
    is_dummy = [i >= count for i in range(total)]
    # each bend of a long edge stands, for the layers beside it, for the layer the edge
    # comes from (seen from below) or goes to (seen from above)
    top_end = list(range(total))
    bottom_end = list(range(total))
    for chain in chains.values():
        ordered = chain if layer[chain[0]] < layer[chain[-1]] else chain[::-1]
        for node in ordered[1:-1]:
            top_end[node], bottom_end[node] = ordered[0], ordered[-1]

    # 4. ordering
    depth = max(layer, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(depth)]
    for v in range(total):
        layers[layer[v]].append(v)
    layers = _ordered(layers, ups, downs)

    # 5. coordinates
    x = _placed(layers, (ups, top_end), (downs, bottom_end), width, is_dummy)
    band = [max((height[v] for v in row), default=0.0) for row in layers]
    top: list[float] = []
    y = 0.0
    for h in band:
        top.append(y)
        y += h + LAYER_GAP
    level_height = y - LAYER_GAP if layers else 0.0
    left = min((x[v] - width[v] / 2 for v in range(total)), default=0.0)
    right = max((x[v] + width[v] / 2 for v in range(total)), default=0.0)
    x = [value - left for value in x]

    centre = {name: (x[i], top[layer[i]]) for i, name in enumerate(names)}
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for key, chain in chains.items():
        points: list[tuple[float, float]] = []
        ordered = chain if layer[chain[0]] < layer[chain[-1]] else chain[::-1]
        for position, node in enumerate(ordered):
            y_top = top[layer[node]]
            if position == 0:
                points.append((x[node], y_top + height[node]))
            elif position == len(ordered) - 1:
                points.append((x[node], y_top))
            else:
                points.append((x[node], y_top))
                if band[layer[node]] > 0:
                    points.append((x[node], y_top + band[layer[node]]))
        routes[key] = points if ordered is chain else points[::-1]
    return _Level(right - left, level_height, centre, routes)


def _ordered(
    layers: list[list[int]], ups: list[list[int]], downs: list[list[int]]
) -> list[list[int]]:
    """Each layer's order: one down sweep from model order, then barycentre sweeps up and
    down; the ordering with the fewest crossings wins (the earliest on a tie)."""
    position = [0] * len(ups)
    for row in layers:
        for i, v in enumerate(row):
            position[v] = i
    for row in layers[1:]:
        _sort_by_barycentre(row, ups, position)
    best = [row[:] for row in layers]
    fewest = _crossings(layers, downs, position)
    for sweep in range(ORDER_SWEEPS):
        if fewest == 0:
            break
        if sweep % 2 == 0:
            for row in reversed(layers[:-1]):
                _sort_by_barycentre(row, downs, position)
        else:
            for row in layers[1:]:
                _sort_by_barycentre(row, ups, position)
        crossings = _crossings(layers, downs, position)
        if crossings < fewest:
            fewest = crossings
            best = [row[:] for row in layers]
    for row in best:
        for i, v in enumerate(row):
            position[v] = i
    return best


def _sort_by_barycentre(row: list[int], neighbours: list[list[int]], position: list[int]) -> None:
    """Reorder ``row`` in place by the mean position of each node's neighbours in the
    adjacent layer; a node without any keeps its place (the others flow around it)."""
    keyed: list[tuple[float, int, int]] = []
    fixed: dict[int, int] = {}
    for i, v in enumerate(row):
        near = neighbours[v]
        if near:
            keyed.append((sum(position[u] for u in near) / len(near), i, v))
        else:
            fixed[i] = v
    keyed.sort()
    moving = iter(v for _, _, v in keyed)
    row[:] = [fixed[i] if i in fixed else next(moving) for i in range(len(row))]
    for i, v in enumerate(row):
        position[v] = i


def _crossings(layers: list[list[int]], downs: list[list[int]], position: list[int]) -> int:
    """Edge crossings between every pair of adjacent layers (inversions, Fenwick tree)."""
    total = 0
    for upper, lower in pairwise(layers):
        ends = sorted((position[u], position[v]) for u in upper for v in downs[u])
        size = len(lower)
        tree = [0] * (size + 1)
        for seen, (_, p) in enumerate(ends):
            # edges seen so far that end right of p cross this one
            i, below = p + 1, 0
            while i > 0:
                below += tree[i]
                i -= i & -i
            total += seen - below
            i = p + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


def _placed(
    layers: list[list[int]],
    above: tuple[list[list[int]], list[int]],
    below: tuple[list[list[int]], list[int]],
    width: list[float],
    is_dummy: list[bool],
) -> list[float]:
    """x of every node's centre: packed left to right, then sweeps towards the neighbours."""
    x = [0.0] * len(width)
    for row in layers:
        cursor = 0.0
        for v in row:
            x[v] = cursor + width[v] / 2
            cursor += width[v] + NODE_GAP
    # centre the packed layers on one another before the sweeps
    widest = max((x[row[-1]] + width[row[-1]] / 2 for row in layers if row), default=0.0)
    for row in layers:
        if row:
            shift = (widest - (x[row[-1]] + width[row[-1]] / 2)) / 2
            for v in row:
                x[v] += shift
    for sweep in range(PLACE_SWEEPS):
        if sweep % 2 == 0:
            for row in layers[1:]:
                _moved_towards(row, above, x, width, is_dummy)
        else:
            for row in reversed(layers[:-1]):
                _moved_towards(row, below, x, width, is_dummy)
    return x


def _moved_towards(
    row: list[int],
    near_by: tuple[list[list[int]], list[int]],
    x: list[float],
    width: list[float],
    is_dummy: list[bool],
) -> None:
    """Move each node of ``row`` as close as it can to the mean x of its neighbours, keeping
    the order and the gaps: a weighted isotonic regression, by pool-adjacent-violators.

    ``near_by`` is each node's neighbours in the reference layer and, for a bend of a long
    edge, the layer at that edge's far end.
    """
    neighbours, far_end = near_by
    if not row:
        return
    offsets = [0.0]
    for a, b in pairwise(row):
        offsets.append(offsets[-1] + (width[a] + width[b]) / 2 + NODE_GAP)
    # blocks of [weight, weighted sum, count]
    blocks: list[list[float]] = []
    for v, offset in zip(row, offsets, strict=True):
        # A layer follows the layers it is joined to (through a long edge: the layer at its
        # far end, not the bend that happens to be beside it) and holds its place; long
        # edges give way. Were a bend to pull or push, every skip a main chain meets would
        # shift it a little sideways, and a deep model (DenseNet: a skip per block) drift.
        near = neighbours[v] if is_dummy[v] else [far_end[u] for u in neighbours[v]]
        if near:
            target = sum(x[u] for u in near) / len(near)
            weight = DUMMY_WEIGHT if is_dummy[v] else 1.0
        else:
            target, weight = x[v], DUMMY_WEIGHT  # no pull: stay, but give way
        blocks.append([weight, weight * (target - offset), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            w, s, c = blocks.pop()
            blocks[-1][0] += w
            blocks[-1][1] += s
            blocks[-1][2] += c
    i = 0
    for w, s, c in blocks:
        value = s / w
        for _ in range(int(c)):
            x[row[i]] = value + offsets[i]
            i += 1


# ---------------------------------------------------------------- clusters


def layout(graph: Graph) -> Drawing:
    """Lay the graph out, clusters inside out, and route every edge through the levels."""
    order = {key: i for i, key in enumerate(graph.sizes)}
    parent_of: dict[str, str | None] = {**graph.home, **graph.clusters}

    def chain(key: str) -> list[str | None]:
        """The clusters around ``key``, innermost first, ending with the top level."""
        found: list[str | None] = []
        here = parent_of[key]
        while here is not None:
            found.append(here)
            here = parent_of[here]
        found.append(None)
        return found

    def member(key: str, level: str | None) -> str:
        """The member of ``level`` that is ``key`` or holds it."""
        while parent_of[key] != level:
            here = parent_of[key]
            assert here is not None
            key = here
        return key

    # every level's members, in model order (a cluster by its first vertex)
    first: dict[str | None, int] = {}
    for key, i in order.items():
        for level in chain(key)[:-1]:
            first.setdefault(level, i)
    members: dict[str | None, list[str]] = {None: [], **{c: [] for c in graph.clusters}}
    for key in [*graph.sizes, *graph.clusters]:
        members[parent_of[key]].append(key)
    for keys in members.values():
        keys.sort(key=lambda k: (order[k] if k in order else first.get(k, len(order)), k))

    # each edge lifted onto the levels it crosses: (level, source, target) per segment
    entries: dict[str | None, dict[str, None]] = {level: {} for level in members}
    exits: dict[str | None, dict[str, None]] = {level: {} for level in members}
    level_edges: dict[str | None, dict[tuple[str, str], None]] = {level: {} for level in members}
    segments: list[list[tuple[str | None, str, str]]] = []
    for source, target in graph.edges:
        around_source, around_target = chain(source), chain(target)
        if target in around_source or source in around_target:  # into its own cluster
            segments.append([])
            continue
        common = next(level for level in around_source if level in around_target)
        path: list[tuple[str | None, str, str]] = []
        for level in around_source[: around_source.index(common)]:
            port = f"out\0{level}\0{source}"
            exits[level][port] = None
            path.append((level, member(source, level), port))
        path.append((common, member(source, common), member(target, common)))
        for level in reversed(around_target[: around_target.index(common)]):
            port = f"in\0{level}\0{source}"
            entries[level][port] = None
            path.append((level, port, member(target, level)))
        for level, a, b in path:
            level_edges[level][(a, b)] = None
        segments.append(path)

    # inside out: a cluster's size is known before its parent level is laid out
    sizes = {key: (float(w), float(h)) for key, (w, h) in graph.sizes.items()}
    levels: dict[str | None, _Level] = {}
    for level in [*reversed(graph.clusters), None]:
        port_sizes = {port: (float(PORT_WIDTH), 0.0) for port in [*entries[level], *exits[level]]}
        laid = _layered(
            members[level],
            {**sizes, **port_sizes},
            list(entries[level]),
            list(exits[level]),
            list(level_edges[level]),
        )
        levels[level] = laid
        if level is not None:
            sizes[level] = (
                laid.width + 2 * CLUSTER_PAD,
                laid.height + 2 * CLUSTER_PAD + CLUSTER_LABEL,
            )

    # outside in: absolute boxes
    boxes: dict[str, tuple[float, float, float, float]] = {}
    origin: dict[str | None, tuple[float, float]] = {None: (0.0, 0.0)}
    ports: dict[str, tuple[float, float]] = {}
    for level in [None, *graph.clusters]:
        ox, oy = origin[level]
        laid = levels[level]
        for key, (cx, top) in laid.centre.items():
            if key in sizes:
                w, h = sizes[key]
                boxes[key] = (ox + cx - w / 2, oy + top, w, h)
                if key in graph.clusters:
                    inner_top = oy + top + CLUSTER_LABEL + CLUSTER_PAD
                    origin[key] = (ox + cx - w / 2 + CLUSTER_PAD, inner_top)
            else:
                ports[key] = (ox + cx, oy + top)

    routes = tuple(_route(path, levels, origin, boxes, ports) for path in segments)
    return Drawing(
        width=round(levels[None].width),
        height=round(levels[None].height),
        boxes={key: _rounded_box(box) for key, box in boxes.items()},
        routes=_spread(routes, graph, boxes),
    )


def _route(
    path: list[tuple[str | None, str, str]],
    levels: dict[str | None, _Level],
    origin: dict[str | None, tuple[float, float]],
    boxes: dict[str, tuple[float, float, float, float]],
    ports: dict[str, tuple[float, float]],
) -> list[tuple[float, float]]:
    """One edge's points: each level's piece in absolute coordinates, joined at the ports.

    A piece that leaves a cluster starts at the box's bottom edge, right below the exit
    port where the inner piece ended; a piece that enters one ends at the box's top edge,
    right above the entry port where the inner piece starts.
    """
    result: list[tuple[float, float]] = []
    for i, (level, source, target) in enumerate(path):
        ox, oy = origin[level]
        piece = [(ox + px, oy + py) for px, py in levels[level].routes[(source, target)]]
        if result:
            if source in ports:  # entering the cluster the previous piece ended at
                px, _ = ports[source]
                _, top, _, _ = boxes[path[i - 1][2]]
                result[-1] = (px, top)
            else:  # leaving the cluster ``source``
                _, top, _, h = boxes[source]
                piece[0] = (result[-1][0], top + h)
        result.extend(piece)
    return result


def _spread(
    routes: tuple[list[tuple[float, float]], ...],
    graph: Graph,
    boxes: dict[str, tuple[float, float, float, float]],
) -> tuple[tuple[Point, ...], ...]:
    """Where several edges meet one box, spread their ends along its edge in the order
    they come from (a concatenation's inputs side by side), then round every point."""
    incoming: dict[str, list[int]] = {}
    outgoing: dict[str, list[int]] = {}
    for i, ((source, target), route) in enumerate(zip(graph.edges, routes, strict=True)):
        if len(route) >= 2:
            outgoing.setdefault(source, []).append(i)
            incoming.setdefault(target, []).append(i)
    moved = [list(route) for route in routes]
    for ends, at, near in ((incoming, -1, -2), (outgoing, 0, 1)):
        for key, indices in ends.items():
            if len(indices) < 2:
                continue
            x0, _, w, _ = boxes[key]
            ordered = sorted(indices, key=lambda i: (moved[i][near][0], i))
            inner = w * 0.8
            for slot, i in enumerate(ordered):
                x = x0 + w * 0.1 + inner * (slot + 1) / (len(ordered) + 1)
                moved[i][at] = (x, moved[i][at][1])
    return tuple(tuple(_rounded_points(route)) for route in moved)


def _rounded_points(route: list[tuple[float, float]]) -> list[Point]:
    points: list[Point] = []
    for x, y in route:
        point = (round(x), round(y))
        if not points or points[-1] != point:
            points.append(point)
    return points


def _rounded_box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return round(x), round(y), round(w), round(h)
