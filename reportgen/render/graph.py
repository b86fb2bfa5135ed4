"""The model's graph on its page: one box per row of the architecture table, as inline SVG.

Drawn in Python at render time, so the page needs no script and no server:

- **What is drawn.** Every row of the architecture table once. An ordinary row is a box
  (a link to its derivation, like the table's name cell) showing its name, kind, output
  shape and parameters; a composite row (a keras-hub block) is a labelled box around its
  sub-layers, a nested model a dashed one around its layers. Every box or group carries
  ``data-row="<index>"``. Edges are the tensors a row reads (``LayerReport.inbound``),
  one per reader and source, labelled once with the tensor's shape below its source
  (``28×28×32``: the batch axis left out). A row whose inputs were not recorded hangs
  from the row before it by a dashed edge. A tensor a block makes with its own
  operations (the residual stream) is a small circle inside the block; a block's own
  output leaves from the bottom of its box.
- **Node stats.** Each box's ``<title>`` says, in the page's language, what TensorBoard's
  "Node Stats" says: inputs with their shapes, outputs, output memory derived and
  measured, compute time, and the parameters and FLOPs: a number that is not known is
  said to be unknown (never 0), a time that was not measured says so.
- **Colour** by one quantity (parameters, output memory, FLOPs or measured time), chosen on
  the page by radio buttons and CSS alone: each box carries one bucket class per quantity
  (``p3 m1 f4 tu``), the style sheet colours the chosen one. Buckets are quantiles of the
  drawn boxes' non-zero values (up to five), plus zero and unknown; the legend gives each
  bucket's real range, formatted as the tables format it.
- **Large models.** Above :data:`INLINE_MAX_ROWS` rows the page draws each block
  (:mod:`reportgen.render.graph_blocks`) as one box with its totals and
  ``data-rows="<indices>"``, linked to the block on a page of its own that holds the
  whole graph (``<lang>/<slug>-graph.html``), whose boxes link back to the model page.
- **Layout** top to bottom by :mod:`reportgen.render.graph_layout` (layered, pure Python):
  once per model, shared by both languages; only the words differ.
- **Bytes.** Integer coordinates, short class names, styles in the site's style sheet, no
  inline ``style``; names escaped as XML text. The same report gives the same bytes.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

from markupsafe import Markup, escape

from reportgen.i18n import fill, fmt_names, translate
from reportgen.model import LayerReport, ModelReport, Msg, msg
from reportgen.render.charts import chart_label
from reportgen.render.graph_blocks import Block, model_blocks
from reportgen.render.graph_layout import Drawing, Graph, layout
from reportgen.units import fmt_bytes, fmt_int, fmt_us

INLINE_MAX_ROWS = 200
"""Up to this many rows the model page draws every row; above it, one box per block and a
page of its own for the whole graph. 200 rows drawn in full add about 120 KB to a page."""

NODE_WIDTH = 192
NODE_HEIGHT = 70
BLOCK_HEIGHT = 100
TENSOR_SIZE = 12
MARGIN = 8
_TEXT_X = 8
_LINES = (17, 33, 48, 63, 78, 93)
"""Baselines of the lines of text in a box."""
_NAME_UNITS = 22
"""Most character widths of a name in a box (a CJK character counts two)."""

QUANTITIES = ("p", "m", "f", "t")
"""The quantities a reader can colour by: parameters, output memory, FLOPs, measured time.
Each box's class names one bucket of each: ``p3`` (parameters, bucket 3) ``m0`` (no output
memory) ``tu`` (time unknown)."""
BUCKETS = 5
"""Colours for non-zero values, lightest to darkest; zero and unknown have their own."""

_INPUTS = msg("Inputs: %(inputs)s")
_NO_INPUTS = msg("Inputs: none, it is an input of the model")
_INPUTS_NOT_RECORDED = msg("Inputs: not recorded")
_OUTPUTS = msg("Outputs: %(shapes)s")
_PARAMETERS = msg("Parameters: %(count)s")
_MEMORY = msg("Output memory: %(derived)s derived, %(measured)s measured")
_BLOCK_MEMORY = msg(
    "Output memory: %(derived)s derived; %(measured)s measured for %(recorded)s of its "
    "%(count)s layers"
)
_FLOPS = msg("FLOPs: %(count)s")
_TIME = msg("Compute time: %(time)s")
_UNKNOWN = msg("unknown")
_NOT_MEASURED = msg("not measured")
_PARAMS_LINE = msg("params %(count)s")
_MEMORY_LINE = msg("output %(bytes)s")
_FLOPS_LINE = msg("FLOPs %(count)s")
_TIME_LINE = msg("time %(time)s")
_LAYERS_LINE = msg("%(count)s layers")
_BLOCK_HEAD = msg("Block %(name)s: %(count)s layers, from %(first)s to %(last)s")
_COMPOSITE = msg("A block of %(count)s sub-layers, drawn around them.")
_NESTED = msg("Nested model %(name)s: %(count)s layers, drawn around them.")
_TENSOR = msg("A tensor that %(block)s makes with its own operations (%(name)s).")
_GRAPH_TITLE = msg("Graph of %(title)s")
_GRAPH_DESC = msg(
    "%(layers)s layers, drawn from the inputs at the top to the outputs at the bottom. "
    "Inputs: %(inputs)s. Outputs: %(outputs)s."
)
_COLLAPSED_DESC = msg(
    "%(layers)s layers in %(boxes)s boxes, a block of layers in one box, drawn from the "
    "inputs at the top to the outputs at the bottom. Inputs: %(inputs)s. Outputs: "
    "%(outputs)s."
)


def _say(lang: str, sentence: Msg, **values: str) -> str:
    """A catalog sentence in ``lang`` with its fields already formatted."""
    template = translate(lang, sentence.msgid)
    return fill(template, values, lang) if values else template


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class LegendEntry:
    css: str
    """The colour's class: ``g0`` (zero), ``g1`` … ``g5``, ``gu`` (unknown)."""
    text: str
    """What the colour stands for: ``1,024 – 51,264``, ``0``, ``unknown``."""


@dataclass(frozen=True)
class Legend:
    key: str
    """One of :data:`QUANTITIES`."""
    entries: tuple[LegendEntry, ...]


@dataclass(frozen=True)
class GraphFigure:
    """What the page's figure shows, in one language: the SVG, its legends and how to
    describe it. The template only arranges it."""

    svg: Markup
    legends: tuple[Legend, ...]
    layers: int
    """Rows of the architecture table."""
    boxes: int
    """Boxes drawn: rows and collapsed blocks."""
    blocks: int
    """Of those, collapsed blocks (several rows in one box)."""
    collapsed: bool
    page: str | None
    """The full graph's page beside the model page (``<slug>-graph.html``), when it has one."""
    model_page: str
    """The model page beside the full graph's page (``<slug>.html``)."""
    dashed: bool
    """Some edges only follow model order: those rows' inputs were not recorded."""
    groups: bool
    """Some boxes are drawn around others (composite blocks, nested models)."""
    timed: bool
    """Some row has a measured time."""


def needs_graph_page(report: ModelReport) -> bool:
    """Whether the model's graph is too large for its page and gets a page of its own."""
    return len(report.layers) > INLINE_MAX_ROWS


def graph_page_path(slug: str, lang: str) -> str:
    """The site path of a model's full-graph page."""
    return f"{lang}/{slug}-graph.html"


class ModelGraph:
    """A model's graph: laid out once (on first use), written in each language."""

    def __init__(self, report: ModelReport) -> None:
        self.report = report

    @property
    def collapsed(self) -> bool:
        return needs_graph_page(self.report)

    @cached_property
    def _inline(self) -> _Laid:
        if self.collapsed:
            blocks = model_blocks(self.report.layers, INLINE_MAX_ROWS)
            return _laid(_collapsed_view(self.report, blocks), self.report)
        return self._full

    @cached_property
    def _full(self) -> _Laid:
        return _laid(_full_view(self.report), self.report)

    def figure(self, lang: str, full_page: bool = False) -> GraphFigure:
        """The figure for the model page (``full_page`` False) or the full-graph page."""
        slug = self.report.slug
        laid = self._full if full_page else self._inline
        view = laid.view
        links = _Links(
            row=f"{slug}.html#" if full_page else "#",
            block=f"{slug}-graph.html#r" if self.collapsed and not full_page else None,
            ids=full_page,
        )
        svg = _svg(laid, self.report, lang, links)
        return GraphFigure(
            svg=Markup(svg),
            legends=tuple(
                Legend(key, tuple(LegendEntry(css, text(lang)) for css, text in entries))
                for key, entries in laid.legends
            ),
            layers=len(self.report.layers),
            boxes=sum(1 for v in view.vertices.values() if v.kind != "tensor"),
            blocks=sum(1 for v in view.vertices.values() if v.kind == "block"),
            collapsed=self.collapsed and not full_page,
            page=f"{slug}-graph.html" if self.collapsed else None,
            model_page=f"{slug}.html",
            dashed=any(edge.dashed and not edge.hidden for edge in view.edges),
            groups=bool(view.clusters),
            timed=any(layer.time_us is not None for layer in self.report.layers),
        )


# ---------------------------------------------------------------- what is drawn


@dataclass(frozen=True)
class _Vertex:
    key: str
    kind: str
    """``row`` (one row), ``block`` (several rows in one box) or ``tensor`` (a block's own)."""
    rows: tuple[int, ...]
    label: str = ""
    """A block's label; a tensor's name (``block#1``)."""


@dataclass(frozen=True)
class _Cluster:
    key: str
    kind: str
    """``composite`` (a composite row) or ``model`` (a nested model)."""
    row: int | None
    label: str
    rows: int
    """Rows inside it."""


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    shape: str
    """The tensor's shape, written once below its source; empty where not written."""
    dashed: bool = False
    hidden: bool = False
    """Not drawn: it only keeps a block's own tensor below the rows that run before it."""


@dataclass
class _View:
    """The graph to draw, before layout: boxes, groups and edges."""

    vertices: dict[str, _Vertex]
    clusters: dict[str, _Cluster]
    edges: list[_Edge]
    graph: Graph


def compact_shape(shape: Sequence[int | None]) -> str:
    """``(None, 28, 28, 32)`` → ``28×28×32``: the batch axis left out, unknown axes ``?``."""
    axes = list(shape[1:]) if shape and shape[0] is None else list(shape)
    if not axes:
        return "()" if shape else "—"
    return "×".join("?" if axis is None else str(axis) for axis in axes)


def _output_shape(layer: LayerReport) -> str:
    if not layer.output_shapes:
        return "—"
    text = compact_shape(layer.output_shape)
    extra = len(layer.output_shapes) - 1
    return f"{text} +{extra}" if extra else text


def _names(layers: Sequence[LayerReport]) -> dict[str, int]:
    """Row index by name (the first row of a name, should names repeat)."""
    found: dict[str, int] = {}
    for layer in layers:
        found.setdefault(layer.name, layer.index)
    return found


def _full_view(report: ModelReport) -> _View:
    """Every row: ordinary rows as boxes, composite rows and nested models as groups."""
    layers = report.layers
    position = {layer.index: i for i, layer in enumerate(layers)}
    by_name = _names(layers)
    graph = Graph()
    vertices: dict[str, _Vertex] = {}
    clusters: dict[str, _Cluster] = {}
    edges: dict[tuple[str, str], _Edge] = {}
    grouped = {layer.index for layer in layers if layer.composite and layer.sub_layers}

    def row_of(name: str | None) -> LayerReport | None:
        index = by_name.get(name) if name is not None else None
        return layers[position[index]] if index is not None else None

    def container(layer: LayerReport) -> str | None:
        block = row_of(layer.block)
        if block is not None and block.index in grouped and block.index != layer.index:
            return f"c{block.index}"
        if layer.parent:
            return _model_cluster(layer.parent)
        return None

    def _model_cluster(path: str) -> str:
        key = f"m:{path}"
        if key not in clusters:
            outer, _, _ = path.rpartition("/")
            parent = _model_cluster(outer) if outer else None
            inside = sum(
                1
                for layer in layers
                if layer.parent and (layer.parent + "/").startswith(path + "/")
            )
            clusters[key] = _Cluster(key, "model", None, path, inside)
            graph.add_cluster(key, parent)
        return key

    # the rows each composite's sub-layers read: not drawn again to the composite's box
    read_inside: dict[str, set[str]] = {}
    for layer in layers:
        outer = row_of(layer.block)
        guard = 0
        while outer is not None and guard < 64:
            read_inside.setdefault(f"c{outer.index}", set()).update(layer.inbound or ())
            outer = row_of(outer.block)
            guard += 1

    labelled: set[str] = set()
    placed: set[str] = set()
    last_in: dict[str | None, str] = {}
    for layer in layers:
        home = container(layer)
        key = f"c{layer.index}" if layer.index in grouped else f"r{layer.index}"
        sources: list[tuple[str, str]] = []
        for name in dict.fromkeys(layer.inbound or ()):
            if key.startswith("c") and name in read_inside.get(key, set()):
                continue
            source = _source(name, row_of, grouped, graph, vertices)
            if source is not None and source[0] != key:
                sources.append(source)
        if key.startswith("c"):
            count = len(layer.sub_layers)
            clusters[key] = _Cluster(key, "composite", layer.index, layer.name, count)
            graph.add_cluster(key, home)
        else:
            vertices[key] = _Vertex(key, "row", (layer.index,))
            graph.add_vertex(key, NODE_WIDTH, NODE_HEIGHT, home)
        if layer.inbound is None and layer.class_name != "InputLayer" and home in last_in:
            previous = last_in[home]
            edges.setdefault((previous, key), _Edge(previous, key, "", dashed=True))
        for origin, shape in sources:
            text = "" if origin in labelled else shape
            if origin.startswith("t") and origin not in placed and home in last_in:
                # a block's own tensor is made after the rows before its first reader
                edges[(last_in[home], origin)] = _Edge(last_in[home], origin, "", hidden=True)
            placed.add(origin)
            if (origin, key) not in edges:
                edges[(origin, key)] = _Edge(origin, key, text)
                labelled.add(origin)
        last_in[home] = key
    return _finished(vertices, clusters, list(edges.values()), graph)


def _source(
    name: str,
    row_of: Callable[[str | None], LayerReport | None],
    grouped: set[int],
    graph: Graph,
    vertices: dict[str, _Vertex],
) -> tuple[str, str] | None:
    """(vertex or cluster, shape) of what an inbound name names; a block's own tensor
    (``block#1``) becomes a small vertex inside its block, made on first use."""
    if "#" in name:
        block_name, _, number = name.rpartition("#")
        block = row_of(block_name)
        if block is None or block.index not in grouped:
            return None
        key = f"t{block.index}.{number}"
        if key not in vertices:
            vertices[key] = _Vertex(key, "tensor", (), name)
            graph.add_vertex(key, TENSOR_SIZE, TENSOR_SIZE, f"c{block.index}")
        return key, ""
    row = row_of(name)
    if row is None:
        return None
    prefix = "c" if row.index in grouped else "r"
    return f"{prefix}{row.index}", _output_shape(row)


def _collapsed_view(report: ModelReport, blocks: Sequence[Block]) -> _View:
    """One box per block (a block of one row is that row's box), edges between boxes."""
    layers = report.layers
    by_name = _names(layers)
    graph = Graph()
    vertices: dict[str, _Vertex] = {}
    item_of: dict[int, str] = {}
    for block in blocks:
        rows = tuple(layers[i].index for i in block.rows)
        if len(rows) == 1:
            key = f"r{rows[0]}"
            vertices[key] = _Vertex(key, "row", rows)
            graph.add_vertex(key, NODE_WIDTH, NODE_HEIGHT, None)
        else:
            key = f"b{rows[0]}"
            vertices[key] = _Vertex(key, "block", rows, block.label)
            graph.add_vertex(key, NODE_WIDTH, BLOCK_HEIGHT, None)
        for row in rows:
            item_of[row] = key
    position = {layer.index: i for i, layer in enumerate(layers)}
    edges: dict[tuple[str, str], _Edge] = {}
    labelled: set[str] = set()
    previous: str | None = None
    for layer in layers:
        target = item_of[layer.index]
        if layer.inbound is None:
            first = vertices[target].rows[0] == layer.index
            if first and layer.class_name != "InputLayer" and previous is not None:
                edges.setdefault((previous, target), _Edge(previous, target, "", dashed=True))
        for name in dict.fromkeys(layer.inbound or ()):
            index = by_name.get(name.rpartition("#")[0] if "#" in name else name)
            if index is None:
                continue
            source = item_of[index]
            if source == target or (source, target) in edges:
                continue
            read = layers[position[index]]
            shape = "" if source in labelled or "#" in name else _output_shape(read)
            edges[(source, target)] = _Edge(source, target, shape)
            if shape:
                labelled.add(source)
        previous = target
    return _finished(vertices, {}, list(edges.values()), graph)


def _finished(
    vertices: dict[str, _Vertex],
    clusters: dict[str, _Cluster],
    edges: list[_Edge],
    graph: Graph,
) -> _View:
    graph.edges = [(edge.source, edge.target) for edge in edges]
    return _View(vertices, clusters, edges, graph)


# ---------------------------------------------------------------- numbers and colours


@dataclass(frozen=True)
class _Totals:
    """A box's figures: one row's, or a block's sums (None: unknown, never a partial sum)."""

    params: int | None
    memory: int | None
    measured: int | None
    recorded: int
    """Rows with a measured output among those summed."""
    flops: int | None
    time: float | None


def _totals(rows: Sequence[LayerReport]) -> _Totals:
    names = {layer.name for layer in rows}
    # a composite row's parameters are its whole block's: its sub-layers are not added again
    counted = [layer for layer in rows if layer.block is None or layer.block not in names]
    params = _sum([layer.params.value for layer in counted])
    memory = _sum([layer.activation.value for layer in rows])
    measured_values = [layer.measured_bytes for layer in rows if layer.measured_bytes is not None]
    derived_flops = [layer.flops.value for layer in rows if layer.flops is not None]
    times = [layer.time_us for layer in rows if layer.time_us is not None]
    return _Totals(
        params=params,
        memory=memory,
        measured=sum(measured_values) if measured_values else None,
        recorded=len(measured_values),
        flops=_sum(derived_flops) if derived_flops else None,
        time=sum(times) if times else None,
    )


def _sum(values: Sequence[int | None]) -> int | None:
    if any(value is None for value in values):
        return None
    return sum(value for value in values if value is not None)


def _quantity(totals: _Totals, key: str) -> float | None:
    value = {"p": totals.params, "m": totals.memory, "f": totals.flops, "t": totals.time}[key]
    return None if value is None else float(value)


def _formatter(key: str) -> Callable[[float], str]:
    if key == "m":
        return lambda value: fmt_bytes(round(value))
    if key == "t":
        return fmt_us
    return lambda value: fmt_int(round(value))


def _palette_index(bucket: int, buckets: int) -> int:
    """Bucket ``bucket`` (1…``buckets``) spread over the palette's 1…BUCKETS."""
    if buckets <= 1:
        return (BUCKETS + 1) // 2
    return round(1 + (bucket - 1) * (BUCKETS - 1) / (buckets - 1))


def bucket_classes(
    values: Sequence[float | None], fmt: Callable[[float], str]
) -> tuple[list[str], list[tuple[str, str | None]]]:
    """Each value's colour (``0``, ``1`` … ``5`` or ``u``) and the legend: (colour, range
    text) in order, with None as the text of the unknown colour (said in the page's
    language). Non-zero values fall into up to :data:`BUCKETS` quantiles; a range is the
    smallest to the largest value of its bucket."""
    positive = sorted(value for value in values if value is not None and value > 0)
    cuts: list[float] = []
    if positive:
        wanted = min(BUCKETS, len(set(positive)))
        for j in range(1, wanted + 1):
            cut = positive[max(0, math.ceil(j * len(positive) / wanted) - 1)]
            if not cuts or cut > cuts[-1]:
                cuts.append(cut)
    classes: list[str] = []
    members: dict[int, list[float]] = {}
    for value in values:
        if value is None:
            classes.append("u")
        elif value <= 0:
            classes.append("0")
        else:
            bucket = bisect.bisect_left(cuts, value) + 1
            members.setdefault(bucket, []).append(value)
            classes.append(str(_palette_index(bucket, len(cuts))))
    legend: list[tuple[str, str | None]] = []
    if "0" in classes:
        legend.append(("0", fmt(0)))
    for bucket in sorted(members):
        low, high = min(members[bucket]), max(members[bucket])
        text = fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)} – {fmt(high)}"
        legend.append((str(_palette_index(bucket, len(cuts))), text))
    if "u" in classes:
        legend.append(("u", None))
    return classes, legend


@dataclass
class _Laid:
    """A view laid out, with each box's totals and colours: everything but the words."""

    view: _View
    drawing: Drawing
    totals: dict[str, _Totals]
    colours: dict[str, str]
    """Each box's bucket classes, ``p3 m1 f4 tu``."""
    legends: list[tuple[str, list[tuple[str, Callable[[str], str]]]]]
    """Per quantity: (colour class, its text in a language) in legend order."""


def _constant(text: str) -> Callable[[str], str]:
    return lambda lang: text


def _said(sentence: Msg) -> Callable[[str], str]:
    return lambda lang: _say(lang, sentence)


def _laid(view: _View, report: ModelReport) -> _Laid:
    rows = {layer.index: layer for layer in report.layers}
    boxes = [vertex for vertex in view.vertices.values() if vertex.kind != "tensor"]
    totals = {vertex.key: _totals([rows[i] for i in vertex.rows]) for vertex in boxes}
    classes: dict[str, list[str]] = {vertex.key: [] for vertex in boxes}
    legends: list[tuple[str, list[tuple[str, Callable[[str], str]]]]] = []
    for key in QUANTITIES:
        values = [_quantity(totals[vertex.key], key) for vertex in boxes]
        colours, legend = bucket_classes(values, _formatter(key))
        for vertex, colour in zip(boxes, colours, strict=True):
            classes[vertex.key].append(key + colour)
        missing = _NOT_MEASURED if key == "t" else _UNKNOWN
        legends.append(
            (
                key,
                [
                    ("g" + colour, _said(missing) if text is None else _constant(text))
                    for colour, text in legend
                ],
            )
        )
    return _Laid(
        view=view,
        drawing=layout(view.graph),
        totals=totals,
        colours={key: " ".join(names) for key, names in classes.items()},
        legends=legends,
    )


# ---------------------------------------------------------------- SVG


@dataclass(frozen=True)
class _Links:
    row: str
    """Prefix of a row's link: ``#`` on the model page, ``<slug>.html#`` elsewhere."""
    block: str | None
    """Prefix of a collapsed block's link to its first row in the full graph."""
    ids: bool
    """Give each box ``id="r<index>"`` (the full graph, which blocks link to)."""


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _shown(match: re.Match[str]) -> str:
    return " " if match.group() in "\t\n\r" else "\ufffd"


def _text(value: str, units: int | None = None) -> str:
    """Text for the SVG: one line, control characters replaced (XML cannot hold them),
    cut to ``units`` character widths, escaped. Plain ASCII takes the fast way: a large
    model's graph writes tens of thousands of these."""
    if not (value.isascii() and value.isprintable()):
        value = _UNPRINTABLE.sub(_shown, value)
    if units is not None and len(value) * 2 > units:  # may be too wide: measure it
        value = chart_label(value, units)
    return str(escape(value))


def _lines(lines: Sequence[str]) -> str:
    """A ``<title>``'s text: each line cleaned and escaped, one per line."""
    return "\n".join(_text(line) for line in lines)


def _path(points: Sequence[tuple[int, int]]) -> str:
    """An edge through ``points``: vertical-tangent curves between them (straight where
    they are one above the other), an open arrowhead at the end."""
    x0, y0 = points[0]
    parts = [f"M{x0} {y0}"]
    for (xa, ya), (xb, yb) in pairwise(points):
        if xa == xb:
            parts.append(f"V{yb}")
        else:
            middle = (ya + yb) // 2
            parts.append(f"C{xa} {middle} {xb} {middle} {xb} {yb}")
    (_, ya), (_, yb) = points[-2], points[-1]
    parts.append("m-4-6l4 6 4-6" if yb >= ya else "m-4 6l4-6 4 6")
    return "".join(parts)


class _Words:
    """The sentences of one language, with the report's names and shapes at hand."""

    def __init__(self, report: ModelReport, lang: str) -> None:
        self.lang = lang
        self.layers = report.layers
        self.position = {layer.index: i for i, layer in enumerate(report.layers)}
        self.by_name = _names(report.layers)
        self.unknown = _say(lang, _UNKNOWN)
        self.not_measured = _say(lang, _NOT_MEASURED)
        readers: dict[str, list[int]] = {}
        for layer in report.layers:
            for name in dict.fromkeys(layer.inbound or ()):
                readers.setdefault(name, []).append(layer.index)
        self.readers = readers

    def row(self, index: int) -> LayerReport:
        return self.layers[self.position[index]]

    def count(self, value: int | None) -> str:
        return self.unknown if value is None else fmt_int(value)

    def size(self, value: int | None) -> str:
        return self.unknown if value is None else fmt_bytes(value)

    def time(self, value: float | None) -> str:
        return self.not_measured if value is None else fmt_us(value)

    def named(self, name: str) -> str:
        """An input by name, with its shape when it is a row's output."""
        index = self.by_name.get(name)
        return name if index is None else f"{name} {_output_shape(self.row(index))}"

    def listed(self, items: Sequence[str]) -> str:
        return fmt_names(items, self.lang, 8)

    def inputs(self, layer: LayerReport) -> str:
        if layer.inbound is None:
            return _say(self.lang, _INPUTS_NOT_RECORDED)
        if not layer.inbound:
            return _say(self.lang, _NO_INPUTS)
        names = [self.named(name) for name in dict.fromkeys(layer.inbound)]
        return _say(self.lang, _INPUTS, inputs=self.listed(names))

    def figures(self, totals: _Totals, rows: int = 1) -> list[str]:
        lang = self.lang
        if rows == 1:
            memory = _say(
                lang, _MEMORY, derived=self.size(totals.memory), measured=self.size(totals.measured)
            )
        else:
            memory = _say(
                lang,
                _BLOCK_MEMORY,
                derived=self.size(totals.memory),
                measured=self.size(totals.measured),
                recorded=fmt_int(totals.recorded),
                count=fmt_int(rows),
            )
        return [
            _say(lang, _PARAMETERS, count=self.count(totals.params)),
            memory,
            _say(lang, _FLOPS, count=self.count(totals.flops)),
            _say(lang, _TIME, time=self.time(totals.time)),
        ]

    def row_title(self, layer: LayerReport) -> list[str]:
        outputs = ", ".join(compact_shape(shape) for shape in layer.output_shapes) or "—"
        return [
            f"{layer.name} ({layer.class_name})",
            self.inputs(layer),
            _say(self.lang, _OUTPUTS, shapes=outputs),
            *self.figures(_totals([layer])),
        ]

    def block_title(self, vertex: _Vertex, totals: _Totals) -> list[str]:
        rows = [self.row(i) for i in vertex.rows]
        names = {layer.name for layer in rows}
        inside = set(vertex.rows)
        sources = [
            name
            for layer in rows
            for name in (layer.inbound or ())
            if (name.rpartition("#")[0] if "#" in name else name) not in names
        ]
        outputs = [
            layer.name
            for layer in rows
            if any(reader not in inside for reader in self.readers.get(layer.name, ()))
        ] or [rows[-1].name]
        return [
            _say(
                self.lang,
                _BLOCK_HEAD,
                name=vertex.label,
                count=fmt_int(len(rows)),
                first=rows[0].name,
                last=rows[-1].name,
            ),
            _say(
                self.lang,
                _INPUTS,
                inputs=self.listed([self.named(n) for n in dict.fromkeys(sources)]) or "—",
            ),
            _say(self.lang, _OUTPUTS, shapes=self.listed([self.named(n) for n in outputs])),
            *self.figures(totals, len(rows)),
        ]

    def description(self, view: _View, collapsed: bool, title: str) -> tuple[str, str]:
        layers = self.layers
        inputs = [
            self.named(layer.name)
            for layer in layers
            if layer.class_name == "InputLayer" or layer.inbound == ()
        ]
        if any(layer.inbound is None and layer.class_name != "InputLayer" for layer in layers):
            outputs = [layers[-1].name] if layers else []
        else:
            outputs = [
                layer.name
                for layer in layers
                if layer.block is None and layer.name not in self.readers
            ]
        fields = {
            "layers": fmt_int(len(layers)),
            "inputs": self.listed(inputs) or "—",
            "outputs": self.listed([self.named(name) for name in outputs]) or "—",
        }
        if collapsed:
            boxes = sum(1 for vertex in view.vertices.values() if vertex.kind != "tensor")
            text = _say(self.lang, _COLLAPSED_DESC, boxes=fmt_int(boxes), **fields)
        else:
            text = _say(self.lang, _GRAPH_DESC, **fields)
        return _say(self.lang, _GRAPH_TITLE, title=title), text


def _svg(laid: _Laid, report: ModelReport, lang: str, links: _Links) -> str:
    view, drawing = laid.view, laid.drawing
    words = _Words(report, lang)
    width, height = drawing.width + 2 * MARGIN, drawing.height + 2 * MARGIN
    title, description = words.description(
        view, any(v.kind == "block" for v in view.vertices.values()), report.title.get(lang)
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
        'aria-labelledby="graph-t" aria-describedby="graph-d">',
        f'<title id="graph-t">{_text(title)}</title><desc id="graph-d">{_text(description)}</desc>',
        f'<g transform="translate({MARGIN},{MARGIN})">',
        '<g class="gg">',
    ]
    for cluster in view.clusters.values():
        out.append(_group(cluster, drawing, words, links))
    out.append('</g><g class="ge">')
    labels: list[str] = []
    for edge, route in zip(view.edges, drawing.routes, strict=True):
        if len(route) < 2 or edge.hidden:
            continue
        dashed = ' class="q"' if edge.dashed else ""
        out.append(f'<path{dashed} d="{_path(route)}"/>')
        if edge.shape:
            x, y = route[0]
            labels.append(f'<text x="{x + 5}" y="{y + 13}">{_text(edge.shape)}</text>')
    out.append('</g><g class="gl">')
    out.extend(labels)
    out.append('</g><g class="gn">')
    for vertex in view.vertices.values():
        x, y, w, h = drawing.boxes[vertex.key]
        if vertex.kind == "tensor":
            block = words.row(int(vertex.key[1:].split(".")[0]))
            tip = _say(lang, _TENSOR, block=block.name, name=vertex.label)
            out.append(
                f'<g class="graph-port"><title>{_text(tip)}</title>'
                f'<circle cx="{x + w // 2}" cy="{y + h // 2}" r="{w // 2}"/></g>'
            )
        elif vertex.kind == "row":
            out.append(_row_box(words.row(vertex.rows[0]), (x, y, w, h), laid, words, links))
        else:
            out.append(_block_box(vertex, (x, y, w, h), laid, words, links))
    out.append("</g></g></svg>")
    return "".join(out)


_BOLD = ' class="n"'


def _box_text(lines: Sequence[str]) -> str:
    """A box's lines of text, the first one (its name) bold, each cut to the box's width."""
    return "".join(
        f'<text x="{_TEXT_X}" y="{baseline}"{_BOLD if i == 0 else ""}>'
        f"{_text(line, _NAME_UNITS if i == 0 else _NAME_UNITS + 4)}</text>"
        for i, (baseline, line) in enumerate(zip(_LINES, lines, strict=False))
    )


def _row_box(
    layer: LayerReport,
    box: tuple[int, int, int, int],
    laid: _Laid,
    words: _Words,
    links: _Links,
) -> str:
    x, y, w, h = box
    ident = f' id="r{layer.index}"' if links.ids else ""
    colours = laid.colours[f"r{layer.index}"]
    params = _say(words.lang, _PARAMS_LINE, count=words.count(layer.params.value))
    return (
        f'<a href="{links.row}{escape(layer.anchor)}"{ident} class="graph-node {colours}" '
        f'data-row="{layer.index}" transform="translate({x},{y})">'
        f"<title>{_lines(words.row_title(layer))}</title>"
        f'<rect width="{w}" height="{h}" rx="4"/>'
        + _box_text([layer.short_name, layer.class_name, _output_shape(layer), params])
        + "</a>"
    )


def _block_box(
    vertex: _Vertex,
    box: tuple[int, int, int, int],
    laid: _Laid,
    words: _Words,
    links: _Links,
) -> str:
    x, y, w, h = box
    totals = laid.totals[vertex.key]
    lang = words.lang
    lines = [
        vertex.label,
        _say(lang, _LAYERS_LINE, count=fmt_int(len(vertex.rows))),
        _say(lang, _PARAMS_LINE, count=words.count(totals.params)),
        _say(lang, _MEMORY_LINE, bytes=words.size(totals.memory)),
        _say(lang, _FLOPS_LINE, count=words.count(totals.flops)),
        _say(lang, _TIME_LINE, time=words.time(totals.time)),
    ]
    href = f"{links.block}{vertex.rows[0]}" if links.block else f"{links.row}r{vertex.rows[0]}"
    rows = " ".join(str(row) for row in vertex.rows)
    return (
        f'<a href="{escape(href)}" class="graph-node graph-block {laid.colours[vertex.key]}" '
        f'data-rows="{rows}" transform="translate({x},{y})">'
        f"<title>{_lines(words.block_title(vertex, totals))}</title>"
        f'<rect width="{w}" height="{h}" rx="4"/>' + _box_text(lines) + "</a>"
    )


def _group(cluster: _Cluster, drawing: Drawing, words: _Words, links: _Links) -> str:
    x, y, w, h = drawing.boxes[cluster.key]
    units = max(4, (w - 2 * _TEXT_X) // 7)
    label_y = y + 15
    if cluster.kind == "model":
        tip = _say(words.lang, _NESTED, name=cluster.label, count=fmt_int(cluster.rows))
        return (
            f'<g class="graph-group graph-model" data-model="{_text(cluster.label)}">'
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>'
            f"<title>{_text(tip)}</title>"
            f'<text x="{x + _TEXT_X}" y="{label_y}" class="n">'
            f"{_text(cluster.label, units)}</text></g>"
        )
    assert cluster.row is not None
    layer = words.row(cluster.row)
    ident = f' id="r{layer.index}"' if links.ids else ""
    title = [*words.row_title(layer), _say(words.lang, _COMPOSITE, count=fmt_int(cluster.rows))]
    label = f"{layer.name} · {layer.class_name}"
    return (
        f'<g class="graph-group" data-row="{layer.index}"{ident}>'
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>'
        f'<a href="{links.row}{escape(layer.anchor)}"><title>{_lines(title)}</title>'
        f'<text x="{x + _TEXT_X}" y="{label_y}" class="n">{_text(label, units)}</text></a></g>'
    )
