"""Compare layouts for the model graph: reportgen's own, grandalf's and Graphviz's ``dot``.

The graph is every row of a collected model as a box (192×70 px) and every tensor it reads
as an edge, as :mod:`reportgen.render.graph` draws it without clusters. For each layout:
seconds to lay it out (best of ``--repeat``), the drawing's size, whether two runs give the
same coordinates, and edge crossings between adjacent layers of boxes' y (a rough measure
of clutter, computed the same way for every layout). grandalf (``pip install grandalf``)
and ``dot`` (``apt-get install graphviz``) are optional: a missing one is skipped.

    python benchmarks/graph_layouts.py /tmp/graphbench/collected            # every model there
    python benchmarks/graph_layouts.py /tmp/graphbench/collected --models resnet50,nasnetlarge
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen.pipeline import load_report  # noqa: E402
from reportgen.render.graph import NODE_HEIGHT, NODE_WIDTH  # noqa: E402
from reportgen.render.graph_layout import Graph, layout  # noqa: E402

Box = tuple[float, float]  # centre


def flat_graph(report: Any) -> tuple[list[str], list[tuple[str, str]]]:
    names: dict[str, str] = {}
    keys = []
    for layer in report.layers:
        key = f"r{layer.index}"
        names.setdefault(layer.name, key)
        keys.append(key)
    edges = []
    for layer in report.layers:
        for source in dict.fromkeys(layer.inbound or ()):
            if source in names:
                edges.append((names[source], f"r{layer.index}"))
    return keys, list(dict.fromkeys(edges))


def own(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, Box]:
    graph = Graph()
    for key in keys:
        graph.add_vertex(key, NODE_WIDTH, NODE_HEIGHT, None)
    graph.edges = edges
    drawing = layout(graph)
    return {k: (x + w / 2, y + h / 2) for k, (x, y, w, h) in drawing.boxes.items()}


def grandalf(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, Box] | None:
    try:
        from grandalf.graphs import Edge, Vertex
        from grandalf.graphs import Graph as GGraph
        from grandalf.layouts import SugiyamaLayout
    except ImportError:
        return None

    class View:
        w, h = NODE_WIDTH, NODE_HEIGHT
        xy = (0.0, 0.0)

    vertices = {key: Vertex(key) for key in keys}
    for vertex in vertices.values():
        vertex.view = View()
    graph = GGraph(list(vertices.values()), [Edge(vertices[a], vertices[b]) for a, b in edges])
    offset = 0.0
    found: dict[str, Box] = {}
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.init_all()
        sugiyama.draw()
        xs = [v.view.xy[0] for v in component.sV]
        for vertex in component.sV:
            found[vertex.data] = (vertex.view.xy[0] - min(xs) + offset, vertex.view.xy[1])
        offset += max(xs) - min(xs) + NODE_WIDTH * 2
    return found


def dot(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, Box] | None:
    program = shutil.which("dot")
    if program is None:
        return None
    lines = ["digraph g {", "node [shape=box, fixedsize=true, width=2.667, height=0.972];"]
    lines += [f"{key};" for key in keys]
    lines += [f"{a} -> {b};" for a, b in edges]
    lines.append("}")
    out = subprocess.run(
        [program, "-Tplain"], input="\n".join(lines), capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, Box] = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            found[parts[1]] = (float(parts[2]) * 72, -float(parts[3]) * 72)
    return found


def crossings(boxes: dict[str, Box], edges: list[tuple[str, str]]) -> int:
    """Pairs of edges that cross, counted as straight segments between box centres."""
    segments = [(boxes[a], boxes[b]) for a, b in edges]
    count = 0
    for i, ((ax, ay), (bx, by)) in enumerate(segments):
        for (cx, cy), (dx, dy) in segments[i + 1 :]:
            if len({(ax, ay), (bx, by), (cx, cy), (dx, dy)}) < 4:
                continue
            if max(ay, by) <= min(cy, dy) or max(cy, dy) <= min(ay, by):
                continue
            d1 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
            d2 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
            d3 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            d4 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
            if d1 * d2 < 0 and d3 * d4 < 0:
                count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collected", type=Path)
    parser.add_argument("--models", help="comma-separated slugs (default: every one)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    slugs = args.models.split(",") if args.models else None
    dirs = sorted(p.parent for p in args.collected.glob("*/facts.json"))
    print(
        f"{'model':18} {'rows':>5} {'layout':9} {'seconds':>8} {'width':>6} {'height':>7} "
        f"{'same':>5} {'crossings':>9}"
    )
    for directory in dirs:
        if slugs and directory.name not in slugs:
            continue
        keys, edges = flat_graph(load_report(directory))
        for name, method in (("own", own), ("grandalf", grandalf), ("dot", dot)):
            best = float("inf")
            results = []
            for _ in range(max(args.repeat, 2)):
                started = time.perf_counter()
                result = method(keys, edges)
                best = min(best, time.perf_counter() - started)
                results.append(result)
            if results[0] is None:
                print(f"{directory.name:18} {len(keys):5} {name:9} (not installed)")
                continue
            boxes = results[0]
            xs = [x for x, _ in boxes.values()]
            ys = [y for _, y in boxes.values()]
            same = all(r == boxes for r in results)
            print(
                f"{directory.name:18} {len(keys):5} {name:9} {best:8.3f} "
                f"{max(xs) - min(xs) + NODE_WIDTH:6.0f} {max(ys) - min(ys) + NODE_HEIGHT:7.0f} "
                f"{'yes' if same else 'NO':>5} {crossings(boxes, edges):9}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
