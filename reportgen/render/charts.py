"""Per-layer bar charts as SVG text: parameters, output memory, time.

Design choices, and why:

- Horizontal bars, one row per layer in model order top to bottom, layer names in a
  column on the left and each bar's exact value on the right: the chart reads like the
  page's table, and the exact figures survive any axis scale. Faint stripes on every
  other row lead the eye from a name across to its bar and value.
- No words inside the SVG, only layer names and numbers: the title, the legend and what
  the axis shows are in the page's ``<figcaption>``, in the page's language. So each chart
  is drawn once per model for both languages (it was drawn once per language), and the
  page's own text, not an image, carries everything a reader or a translator must read.
- At most ``MAX_ROWS`` bars. A model with more layers gets a chart of its ``MAX_ROWS``
  largest layers for that quantity, still in model order (the caption says so and how
  many layers there are; the page's table lists all of them): a 1,000-row chart would be
  170 inches tall and say less than the table. Up to ``MAX_ROWS`` layers every one of them
  is shown; the figure grows at a fixed row pitch instead of shrinking the text (7 pt
  above 40 rows, 9 pt below).
- The value axis turns logarithmic when the non-zero values span more than two decades
  (e.g. LeNet's parameters, 10,250 to 3,212,288): on a linear axis most bars would be
  invisible slivers next to the largest one. Bytes use a base-2 axis so that ticks fall
  on 1 KiB, 16 KiB, …; zero and missing values draw no bar, the right column says so.
  Tall charts repeat the tick labels above the bars.
- Cheap to draw, because a site can have tens of thousands of rows: all bars of a series
  are one path (one ``<path>``), all stripes another, and each text column is one artist
  that hands its strings straight to the renderer at a fixed baseline: a matplotlib
  ``Text`` per row measured every string with FreeType and cost ~1 ms a row. The names
  are left-aligned, which needs no measuring; nothing re-renders (no ``tight_layout``,
  no ``bbox_inches="tight"``): the layout is computed from character counts.
- matplotlib's object API only (no pyplot state), every setting inside ``rc_context``:
  ``svg.fonttype = none`` keeps text as ``<text>`` so any script renders with the
  reader's fonts and the build needs no CJK font; ``svg.hashsalt`` and
  ``metadata={"Date": None}`` make the output byte-identical across runs; text is drawn
  with ``ismath=False`` (and ``text.parse_math = False``) so a ``$`` in a layer name is
  text, not TeX. matplotlib is imported lazily: only rendering pays for it.
- Layer names are untrusted: control characters (invalid in XML even when escaped) are
  replaced, long names are truncated with "…", and matplotlib's SVG writer escapes
  ``<``, ``&`` and quotes.
"""

from __future__ import annotations

import functools
import io
import math
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reportgen.model import DecoderMemory, MemoryScaling, ModelReport
from reportgen.units import fmt_bytes, fmt_int, fmt_us

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_ROWS = 200
"""Most bars in one chart; a model with more layers gets its ``MAX_ROWS`` largest.

The model page's caption says so with this number, through :class:`ChartCaption`."""

NO_VALUE = "—"
"""Right-column text for a layer without the quantity (not derived, not measured)."""

COLORS = ("#4c72b0", "#dd8452")
"""Bar colours: the first series (the only one, or derived bytes), then measured bytes.
The page's legend shows them, through :class:`ChartCaption`."""

_STRIPE = "#f2f2f2"
_WIDTH_IN = 8.0
_EDGE_IN = 0.1  # blank margin left of the names and right of the values
_GAP_IN = 0.12  # between a text column and the plot
_TICKS_IN = 0.3  # a row of x tick labels
_PAD_IN = 0.12  # above the first row when there are no tick labels there
_TALL_ROWS = 40  # above this many rows: smaller type, tick labels above the bars too
_MAX_NAME_WIDTH = 32  # in character units: 32 Latin or 16 CJK (wide) characters
_LOG_SPAN = 100.0  # max/min of the non-zero values above which the axis turns logarithmic
_BASELINE_EM = 0.33  # text baseline below the row centre: centres lower case and digits

# Typed loosely: matplotlib types rc keys as a Literal of every known name.
_RC: dict[Any, Any] = {
    "svg.hashsalt": "reportgen",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "text.usetex": False,
    "font.family": ["sans-serif"],
    # DejaVu Sans (which the layout assumes) first; the browser falls back per glyph
    # to the fonts that its system has, CJK ones included.
    "font.sans-serif": [
        "DejaVu Sans",
        "Helvetica",
        "Arial",
        "PingFang SC",
        "Hiragino Sans GB",
        "Microsoft YaHei",
        "Noto Sans CJK SC",
        "Source Han Sans SC",
    ],
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class _Series:
    values: tuple[float | None, ...]
    color: str


@dataclass(frozen=True)
class _ChartSpec:
    """Everything a bar chart shows, already formatted, for the rows shown: no model access."""

    names: tuple[str, ...]
    series: tuple[_Series, ...]
    right_labels: tuple[str, ...]
    fmt_tick: Callable[[float], str]
    log_base: int = 10
    integer: bool = True
    """Whether the quantity is a whole number (no ticks between integers on a linear axis)."""


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class ChartCaption:
    """What the model page says beside a model's charts, which hold no words of their own.

    The caption and the legend are the page's, in its language; what they say (how many
    rows, which colours, whether there is a measured series) is decided here, where the
    charts are drawn, so the template repeats no number and compares none.
    """

    layers: int
    """Layers of the model: the rows a chart would have without the cap."""
    unmeasured: int
    """Layers whose output the allocator kept no record of ("—" in the memory chart)."""
    rows: int = MAX_ROWS
    derived_color: str = COLORS[0]
    """The bars of the only series, or of the derived bytes in the memory chart."""
    measured_color: str = COLORS[1]
    inference_color: str = "#4c72b0"
    """The scaling chart's inference line (solid); training's is ``training_color``."""
    training_color: str = "#dd8452"
    memory_line_color: str = "#7f7f7f"
    budget_color: str = "#c44e52"

    @property
    def capped(self) -> bool:
        """Whether each chart shows only its ``rows`` largest layers."""
        return self.layers > self.rows

    @property
    def measured(self) -> bool:
        """Whether the memory chart has a measured series (any layer was measured)."""
        return self.unmeasured < self.layers


def chart_caption(report: ModelReport) -> ChartCaption:
    return ChartCaption(
        layers=len(report.layers),
        unmeasured=sum(1 for layer in report.layers if layer.measured_bytes is None),
    )


def shown_rows(sizes: Sequence[float | None], limit: int = MAX_ROWS) -> tuple[int, ...]:
    """Indices of the rows a chart shows, in model order: all of them up to ``limit``,
    else the ``limit`` largest (missing counts as 0; the earlier layer wins a tie)."""
    if len(sizes) <= limit:
        return tuple(range(len(sizes)))
    ranked = sorted(range(len(sizes)), key=lambda i: (-(sizes[i] or 0.0), i))
    return tuple(sorted(ranked[:limit]))


def params_chart(report: ModelReport) -> str:
    """Derived parameters per layer as an SVG document (no words: numbers and names)."""
    values = [_num(layer.params.value) for layer in report.layers]
    rows = shown_rows(values)
    shown = tuple(values[i] for i in rows)
    spec = _ChartSpec(
        names=tuple(report.layers[i].name for i in rows),
        series=(_Series(shown, COLORS[0]),),
        right_labels=tuple(_fmt_or_dash(v, _fmt_count) for v in shown),
        fmt_tick=_fmt_count,
    )
    return _render(spec)


def memory_chart(report: ModelReport) -> str:
    """Output bytes per layer, derived and (where recorded) measured, as an SVG document.

    Without any measurement there is one series (derived) and the right column shows
    only the derived bytes; otherwise it shows ``derived / measured``, ``—`` where a
    layer has no measurement. The rows shown are the largest by either figure.
    """
    derived = [_num(layer.activation.value) for layer in report.layers]
    measured = [_num(layer.measured_bytes) for layer in report.layers]
    rows = shown_rows([max(d or 0.0, m or 0.0) for d, m in zip(derived, measured, strict=True)])
    d_shown = tuple(derived[i] for i in rows)
    m_shown = tuple(measured[i] for i in rows)
    series = [_Series(d_shown, COLORS[0])]
    if all(m is None for m in measured):
        right = tuple(_fmt_or_dash(d, _fmt_bytes) for d in d_shown)
    else:
        series.append(_Series(m_shown, COLORS[1]))
        right = tuple(
            f"{_fmt_or_dash(d, _fmt_bytes)} / {_fmt_or_dash(m, _fmt_bytes)}"
            for d, m in zip(d_shown, m_shown, strict=True)
        )
    spec = _ChartSpec(
        names=tuple(report.layers[i].name for i in rows),
        series=tuple(series),
        right_labels=right,
        fmt_tick=_fmt_bytes,
        log_base=2,
    )
    return _render(spec)


def time_chart(report: ModelReport) -> str | None:
    """Profiled time per layer as an SVG document; None when no layer was timed."""
    times = [layer.time_us for layer in report.layers]
    if all(t is None for t in times):
        return None
    rows = shown_rows(times)
    shown = tuple(times[i] for i in rows)
    spec = _ChartSpec(
        names=tuple(report.layers[i].name for i in rows),
        series=(_Series(shown, COLORS[0]),),
        right_labels=tuple(_fmt_or_dash(t, fmt_us) for t in shown),
        fmt_tick=fmt_us,
        integer=False,
    )
    return _render(spec)


DECODER_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
"""Line colours of the decoder chart, one per batch size in the table's order."""
WEIGHTS_COLOR = "#7f7f7f"
"""The decoder chart's horizontal line of the weights."""


def decoder_chart(report: ModelReport) -> str | None:
    """A decoder's inference memory over sequence lengths as an SVG document; None for a
    model that is not a decoder.

    Both axes are logarithmic (base 2): lengths double from row to row of the table, and
    the cache doubles with them. Per batch size, in its colour: a solid line for weights +
    key/value cache + activations (where they are known), a dashed one for the cache
    alone, each labelled ``b=N`` at its right end; a grey dotted line for the weights. The
    configured length and batch size is a dot. Like the other charts it holds no words:
    the page's caption says what each line is, in the page's language.
    """
    decoder = report.decoder
    if decoder is None:
        return None
    return _svg(8.0, lambda: _decoder_figure(decoder))


def _decoder_figure(decoder: DecoderMemory) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig = Figure(figsize=(_WIDTH_IN, 4.5))
    fig.subplots_adjust(left=0.12, right=0.88, top=0.96, bottom=0.1)
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    plotted: list[float] = []
    for index, group in enumerate(decoder.batches):
        color = DECODER_COLORS[index % len(DECODER_COLORS)]
        lengths = [row.sequence_length for row in group.rows]
        kv = [_num(row.kv_cache_bytes) for row in group.rows]
        total = [_num(row.total_bytes) for row in group.rows]
        ends = []  # the last point of each line drawn, total first
        for values, style in ((total, "-"), (kv, "--")):
            points = [(x, y) for x, y in zip(lengths, values, strict=True) if y]
            if points:
                ax.plot(*zip(*points, strict=True), linestyle=style, color=color, linewidth=1.4)
                plotted += [y for _, y in points]
                ends.append(points[-1])
        if ends:  # label the batch size once, at the right end of its longest line
            x, y = max(ends, key=lambda point: point[0])  # the solid one on a tie
            ax.text(x * 1.08, y, f"b={group.batch_size}", color=color, va="center")
        for row in group.rows:
            if row.configured and row.total_bytes:
                ax.plot([row.sequence_length], [row.total_bytes], "o", color=color, markersize=4)
    if decoder.weights_bytes > 0:
        ax.axhline(decoder.weights_bytes, color=WEIGHTS_COLOR, linestyle=":", linewidth=1.2)
        plotted.append(float(decoder.weights_bytes))
    lengths = list(decoder.lengths)
    ax.set_xlim(lengths[0] / 1.2, lengths[-1] * 1.6)
    ax.xaxis.set_major_locator(
        FixedLocator(_thinned([x for x in lengths if x & (x - 1) == 0] or lengths))
    )
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_count(v)))
    if plotted:
        low = math.floor(math.log2(min(plotted)))
        high = math.ceil(math.log2(max(plotted)))
        step = max(1, math.ceil((high - low) / 7))
        ax.set_ylim(2.0 ** (low - 0.3), 2.0 ** (high + 0.3))
        ax.yaxis.set_major_locator(FixedLocator([2.0**e for e in range(low, high + 1, step)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_bytes(v)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())  # no minor ticks (and no TeX labels)
    ax.grid(color="#dddddd", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    return fig


def liveness_chart(report: ModelReport) -> str | None:
    """Live output bytes while each layer runs, in execution order, derived and (where the
    allocator's timeline was recorded) measured, as an SVG document; None without a
    timeline (the peak cannot be derived).

    The same bars as the memory chart: one row per layer as it runs, from the top, with
    ``derived / measured`` at the right (``—`` where a layer's ops allocated nothing).
    """
    peak = report.peak
    if peak is None or not peak.steps:
        return None
    derived = [_num(step.live_bytes) for step in peak.steps]
    measured = [_num(step.measured_bytes) for step in peak.steps]
    rows = shown_rows([max(d or 0.0, m or 0.0) for d, m in zip(derived, measured, strict=True)])
    d_shown = tuple(derived[i] for i in rows)
    m_shown = tuple(measured[i] for i in rows)
    series = [_Series(d_shown, COLORS[0])]
    if peak.measured_steps:
        series.append(_Series(m_shown, COLORS[1]))
        right = tuple(
            f"{_fmt_or_dash(d, _fmt_bytes)} / {_fmt_or_dash(m, _fmt_bytes)}"
            for d, m in zip(d_shown, m_shown, strict=True)
        )
    else:
        right = tuple(_fmt_or_dash(d, _fmt_bytes) for d in d_shown)
    spec = _ChartSpec(
        names=tuple(peak.steps[i].layer for i in rows),
        series=tuple(series),
        right_labels=right,
        fmt_tick=_fmt_bytes,
        log_base=2,
    )
    return _render(spec)


SCALING_COLORS = ("#4c72b0", "#dd8452")
"""The scaling chart's lines: inference (solid), then training (dashed)."""
MEMORY_LINE_COLOR = "#7f7f7f"
"""Its horizontal lines at the common memory sizes; the budget's is :data:`BUDGET_COLOR`."""
BUDGET_COLOR = "#c44e52"


def scaling_chart(report: ModelReport) -> str | None:
    """Inference and training memory over batch sizes, with horizontal lines at the common
    memory sizes and at the model's ``memory_budget_gib``, as an SVG document; None when
    neither total is known at any batch size.

    Both axes logarithmic (base 2): batch sizes double, and so (nearly) do the totals. Each
    memory line is labelled with its size at the right; the page's caption says which line
    is which, in its language.
    """
    scaling = report.scaling
    if scaling is None or not any(
        row.inference_bytes or row.training_bytes for row in scaling.rows
    ):
        return None
    return _svg(8.0, lambda: _scaling_figure(scaling))


def _scaling_figure(scaling: MemoryScaling) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig = Figure(figsize=(_WIDTH_IN, 4.5))
    fig.subplots_adjust(left=0.12, right=0.86, top=0.96, bottom=0.1)
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    batches = [row.batch_size for row in scaling.rows]
    plotted: list[float] = []
    lines = (
        ([_num(row.inference_bytes) for row in scaling.rows], "-", SCALING_COLORS[0]),
        ([_num(row.training_bytes) for row in scaling.rows], "--", SCALING_COLORS[1]),
    )
    for values, style, color in lines:
        points = [(x, y) for x, y in zip(batches, values, strict=True) if y]
        if points:
            ax.plot(*zip(*points, strict=True), linestyle=style, color=color, linewidth=1.4)
            plotted += [y for _, y in points]
    for row in scaling.rows:
        if row.configured:
            for value, color in (
                (row.inference_bytes, SCALING_COLORS[0]),
                (row.training_bytes, SCALING_COLORS[1]),
            ):
                if value:
                    ax.plot([row.batch_size], [value], "o", color=color, markersize=4)
    low = math.floor(math.log2(min(plotted)))
    high = math.ceil(math.log2(max(plotted)))
    for fit in scaling.fits:
        color = BUDGET_COLOR if fit.budget else MEMORY_LINE_COLOR
        ax.axhline(fit.memory_bytes, color=color, linestyle=":", linewidth=1.2)
        ax.text(
            batches[-1] * 1.15,
            fit.memory_bytes,
            _fmt_bytes(fit.memory_bytes),
            color=color,
            va="center",
        )
        high = max(high, math.ceil(math.log2(fit.memory_bytes)))
    step = max(1, math.ceil((high - low) / 7))
    ax.set_ylim(2.0 ** (low - 0.3), 2.0 ** (high + 0.3))
    ax.yaxis.set_major_locator(FixedLocator([2.0**e for e in range(low, high + 1, step)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_bytes(v)))
    ax.set_xlim(batches[0] / 1.2, batches[-1] * 1.1)
    ax.xaxis.set_major_locator(FixedLocator(_thinned(batches)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_count(v)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())
    ax.grid(color="#dddddd", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    return fig


def _thinned(ticks: Sequence[int], most: int = 12) -> list[int]:
    """At most ``most`` ticks, evenly: every second (third...) one, the last one kept."""
    step = max(1, math.ceil(len(ticks) / most))
    return list(ticks[::-1][::step][::-1])


def chart_kinds(report: ModelReport) -> tuple[str, ...]:
    """The charts a model has: ``params``, ``memory`` and, when any layer was timed, ``time``."""
    timed = any(layer.time_us is not None for layer in report.layers)
    kinds = ("params", "memory", "time") if timed else ("params", "memory")
    kinds = (*kinds, "decoder") if report.decoder is not None else kinds
    if report.peak is not None and report.peak.steps:
        kinds = (*kinds, "peak")
    if report.scaling is not None and any(
        row.inference_bytes or row.training_bytes for row in report.scaling.rows
    ):
        kinds = (*kinds, "scaling")
    return (*kinds, *history_chart_kinds(report))


def model_charts(report: ModelReport) -> dict[str, str]:
    """{kind: SVG} of one model, for each of :func:`chart_kinds`."""
    draw: dict[str, Callable[[ModelReport], str | None]] = {
        "params": params_chart,
        "memory": memory_chart,
        "time": time_chart,
        "decoder": decoder_chart,
        "peak": liveness_chart,
        "scaling": scaling_chart,
        **HISTORY_CHARTS,
    }
    charts = {kind: draw[kind](report) for kind in chart_kinds(report)}
    return {kind: svg for kind, svg in charts.items() if svg is not None}


# ---------------------------------------------------------------- formatting helpers


def _fmt_count(value: float) -> str:
    return fmt_int(round(value))


def _fmt_bytes(value: float) -> str:
    return fmt_bytes(round(value))


def _num(value: int | None) -> float | None:
    if value is None:
        return None
    return float(value)


def _fmt_or_dash(value: float | None, fmt: Callable[[float], str]) -> str:
    return NO_VALUE if value is None else fmt(value)


def _char_width(char: str) -> int:
    """Display width in character units: CJK and other wide characters take two."""
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _text_width(text: str) -> int:
    return sum(_char_width(c) for c in text)


def _safe_char(char: str) -> str:
    """XML 1.0 forbids control characters (even escaped), surrogates and U+FFFE/U+FFFF."""
    if char in "\t\n\r":
        return " "  # a label stays on one line
    if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
        return "\ufffd"
    return char


def chart_label(name: str, limit: int = _MAX_NAME_WIDTH) -> str:
    """A layer name as a safe, single-line axis label at most ``limit`` units wide."""
    clean = "".join(_safe_char(c) for c in name)
    if _text_width(clean) <= limit:
        return clean
    kept, width = [], 1  # 1 for the ellipsis
    for char in clean:
        width += _char_width(char)
        if width > limit:
            break
        kept.append(char)
    return "".join(kept) + "…"


# ---------------------------------------------------------------- layout and drawing


@dataclass(frozen=True)
class _Layout:
    rows: int
    font_pt: float
    pitch_in: float
    height_in: float
    names_in: float
    """Width of the names column."""
    values_in: float
    """Width of the values column."""
    top_in: float
    bottom_in: float

    @property
    def tall(self) -> bool:
        return self.rows > _TALL_ROWS


def _layout(spec: _ChartSpec, names: Sequence[str]) -> _Layout:
    rows = max(len(names), 1)
    tall = rows > _TALL_ROWS
    font_pt, pitch_in = (7.0, 0.17) if tall else (9.0, 0.3)
    unit_in = 0.6 * font_pt / 72  # DejaVu Sans averages ~0.6 em per Latin character
    names_in = max((_text_width(n) for n in names), default=4) * unit_in
    values_in = max((_text_width(t) for t in spec.right_labels), default=4) * unit_in
    top_in = _TICKS_IN if tall else _PAD_IN
    return _Layout(
        rows=rows,
        font_pt=font_pt,
        pitch_in=pitch_in,
        height_in=top_in + rows * pitch_in + _TICKS_IN,
        names_in=names_in,
        values_in=values_in,
        top_in=top_in,
        bottom_in=_TICKS_IN,
    )


def _render(spec: _ChartSpec) -> str:
    names = [chart_label(n) for n in spec.names]
    layout = _layout(spec, names)
    return _svg(layout.font_pt, lambda: _figure(spec, names, layout))


def _svg(font_pt: float, make_figure: Callable[[], Figure]) -> str:
    """The figure ``make_figure`` draws, as a byte-stable SVG document: every chart's
    settings (``_RC``) in effect while it is drawn and saved, no date in the file."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({**_RC, "font.size": font_pt}), warnings.catch_warnings():
        # Without a CJK font, matplotlib warns for every Chinese glyph it measures; the
        # text stays text and the reader's browser draws it, so the warning is noise.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig = make_figure()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _figure(spec: _ChartSpec, names: Sequence[str], layout: _Layout) -> Figure:
    """The chart as a matplotlib Figure (rc settings must already be in effect)."""
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    fig = Figure(figsize=(_WIDTH_IN, layout.height_in))
    left_in = _EDGE_IN + layout.names_in + _GAP_IN
    right_in = _GAP_IN + layout.values_in + _EDGE_IN
    fig.subplots_adjust(
        left=left_in / _WIDTH_IN,
        right=1 - right_in / _WIDTH_IN,
        top=1 - layout.top_in / layout.height_in,
        bottom=layout.bottom_in / layout.height_in,
    )
    ax = fig.add_subplot()
    ax.set_ylim(layout.rows - 0.5, -0.5)  # first layer at the top
    ax.yaxis.set_visible(False)  # no y ticks: the rows are labelled by the name column
    _draw_bars(ax, spec, layout)
    # Names from the figure's left edge, values right of the plot; rows in data units.
    rows = blended_transform_factory(fig.transFigure, ax.transData)
    column = _text_column_class()
    ax.add_artist(column(names, _EDGE_IN / _WIDTH_IN, rows, layout.font_pt))
    ax.add_artist(
        column(spec.right_labels, 1 - (right_in - _GAP_IN) / _WIDTH_IN, rows, layout.font_pt)
    )
    return fig


def _positive(spec: _ChartSpec) -> list[float]:
    return [v for s in spec.series for v in s.values if v is not None and v > 0]


def _draw_bars(ax: Axes, spec: _ChartSpec, layout: _Layout) -> None:
    from matplotlib.patches import PathPatch
    from matplotlib.transforms import blended_transform_factory

    positive = _positive(spec)
    log = bool(positive) and max(positive) / min(positive) > _LOG_SPAN
    # On a log axis bars start at the axis' left edge: half a step below the smallest value.
    floor = min(positive) / spec.log_base**0.5 if log else 0.0
    # Stripes on every other row, across the whole figure: names, bars and values.
    across = blended_transform_factory(ax.figure.transFigure, ax.transData)
    stripes = [(0.0, 1.0, row) for row in range(1, layout.rows, 2)]
    ax.add_artist(
        PathPatch(
            _boxes(stripes, 1.0),
            transform=across,
            facecolor=_STRIPE,
            edgecolor="none",
            linewidth=0,
            clip_on=False,
            zorder=0.1,
        )
    )
    height = 0.8 / len(spec.series)
    for index, series in enumerate(spec.series):
        offset = (index - (len(spec.series) - 1) / 2) * height
        boxes = [
            (floor, value, row + offset)
            for row, value in enumerate(series.values)
            if value  # zero and missing values draw no bar
        ]
        if boxes:
            ax.add_artist(
                PathPatch(
                    _boxes(boxes, height * 0.92),
                    transform=ax.transData,
                    facecolor=series.color,
                    edgecolor="none",
                    linewidth=0,
                    zorder=2,
                )
            )
    _value_axis(ax, spec, positive, floor if log else None, layout)


def _boxes(spans: Sequence[tuple[float, float, float]], height: float) -> Any:
    """One Path of rectangles ``(x0, x1, y-centre)`` ``height`` high: one ``<path>`` in the SVG.

    ``barh`` makes one Rectangle artist per bar (and a PolyCollection one ``<use>`` each);
    a single compound path is drawn, and written, in one go.
    """
    from matplotlib.path import Path

    half = height / 2
    vertices: list[tuple[float, float]] = []
    for x0, x1, y in spans:
        vertices += [(x0, y - half), (x1, y - half), (x1, y + half), (x0, y + half), (x0, y - half)]
    codes = [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY] * len(spans)
    return Path(vertices or [(0.0, 0.0)], codes or [Path.MOVETO])


def _value_axis(
    ax: Axes, spec: _ChartSpec, positive: Sequence[float], floor: float | None, layout: _Layout
) -> None:
    """x axis: logarithmic from ``floor`` when given, else linear from 0; ticks formatted."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator, NullLocator

    if floor is not None:
        ax.set_xscale("log", base=spec.log_base)
        ax.set_xlim(floor, max(positive) * spec.log_base**0.3)
        # No minor ticks: each is several artists (~1 ms), the right column is exact.
        ax.xaxis.set_minor_locator(NullLocator())
    elif positive:
        ax.set_xlim(0, max(positive) * 1.02)
        if spec.log_base == 2:  # bytes: ticks on multiples of a power of two (128 KiB…)
            step = 2 ** max(0, math.ceil(math.log2(max(positive) / 6)))
            ax.xaxis.set_major_locator(MultipleLocator(step))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=spec.integer))
    else:
        # Nothing to draw (e.g. no layer has parameters): an axis of 0…1 would only
        # show made-up tick values; the right column still gives every layer's 0.
        ax.set_xlim(0, 1)
        ax.set_xticks([])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: spec.fmt_tick(v)))
    if layout.tall:  # the bottom axis is far away: label the top one too
        ax.tick_params(axis="x", which="both", top=True, labeltop=True)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)


@functools.cache
def _text_column_class() -> Callable[[Sequence[str], float, Any, float], Artist]:
    """A matplotlib Artist that draws one string per row, left-aligned at a fixed x.

    One artist for a whole column, drawing each string with ``renderer.draw_text`` at a
    baseline computed from the row alone: unlike one ``Text`` per row, it never measures
    a string (FreeType layout was most of the chart's cost) and all rows share one
    graphics context and font. Defined on first use: matplotlib is imported lazily.
    """
    from matplotlib.artist import Artist
    from matplotlib.font_manager import FontProperties

    class TextColumn(Artist):
        def __init__(self, strings: Sequence[str], x: float, transform: Any, size: float) -> None:
            super().__init__()
            self.strings = tuple(strings)
            self.x = x
            self.set_transform(transform)
            self.font = FontProperties(size=size)  # family from the rc in effect
            self.set_zorder(3)

        def draw(self, renderer: Any) -> None:
            if not self.get_visible() or not self.strings:
                return
            transform = self.get_transform()
            points = transform.transform([(self.x, row) for row in range(len(self.strings))])
            baseline = renderer.points_to_pixels(self.font.get_size_in_points() * _BASELINE_EM)
            height = renderer.get_canvas_width_height()[1]
            gc = renderer.new_gc()
            gc.set_foreground("#000000")
            for (x, y), text in zip(points, self.strings, strict=True):
                if renderer.flipy():
                    y, offset = height - y, baseline
                else:
                    offset = -baseline
                renderer.draw_text(gc, x, y + offset, text, self.font, 0.0, ismath=False)
            gc.restore()
            self.stale = False

    return TextColumn


# ---------------------------------------------------------------- history across builds
#
# One line chart per whole-model figure over the builds of ``report.history``
# (:mod:`reportgen.history`): x is the builds in order, oldest at the left, labelled by
# short commit (or build date without one); y the figure. A build where the figure is
# unknown (or the time was not measured) is a gap in the line, never a zero. Like the
# other charts it holds no words: the page's caption says what each line is.

HISTORY_KINDS = ("history_params", "history_flops", "history_memory", "history_time")
"""The history charts, in page order. No ``-`` in a kind: ``<slug>-<kind>`` stays unique."""

_HISTORY_HEIGHT_IN = 3.2
_HISTORY_FONT_PT = 9.0
_HISTORY_TICKS = 10  # most x labels: every second (third…) build beyond that


@dataclass(frozen=True)
class _HistorySpec:
    """What a history chart draws: per series its values (None: unknown) and colour."""

    labels: tuple[str, ...]
    series: tuple[_Series, ...]
    fmt_tick: Callable[[float], str]
    exact_tick: Callable[[float], str]
    """Used instead when ``fmt_tick`` would print two ticks alike (1.5 MiB, 1.5 MiB)."""
    integer: bool = True
    binary: bool = False
    """Bytes: ticks at round numbers of KiB, MiB, … ."""


def _history_specs(report: ModelReport) -> dict[str, _HistorySpec]:
    """{kind: spec} of the history charts with a value to draw; none for one build."""
    history = report.history
    if history is None or len(history.entries) < 2:
        return {}
    entries = history.entries
    labels = tuple(chart_label(entry.label) for entry in entries)

    def series(name: str, color: str) -> _Series:
        return _Series(tuple(_num_or_none(getattr(entry, name)) for entry in entries), color)

    specs = {
        "history_params": _HistorySpec(
            labels, (series("params", COLORS[0]),), _fmt_count, _fmt_count
        ),
        "history_flops": _HistorySpec(
            labels, (series("flops", COLORS[0]),), _fmt_count, _fmt_count
        ),
        "history_memory": _HistorySpec(
            labels,
            (series("activation_bytes", COLORS[0]), series("peak_activation_bytes", COLORS[1])),
            _fmt_bytes,
            lambda v: f"{fmt_int(round(v))} B",
            binary=True,
        ),
        "history_time": _HistorySpec(
            labels,
            (series("step_time_us", COLORS[0]),),
            fmt_us,
            lambda v: f"{v:,.1f} µs",
            integer=False,
        ),
    }
    return {
        kind: spec
        for kind, spec in specs.items()
        if any(v is not None for s in spec.series for v in s.values)
    }


def _num_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def history_chart_kinds(report: ModelReport) -> tuple[str, ...]:
    """The history charts a model has: none without at least two builds, and none for a
    figure unknown in every build."""
    return tuple(_history_specs(report))


def history_chart(report: ModelReport, kind: str) -> str | None:
    """One history chart as an SVG document; None when the model has no such chart."""
    spec = _history_specs(report).get(kind)
    if spec is None:
        return None
    return _svg(_HISTORY_FONT_PT, lambda: _history_figure(spec))


def _history_ticks(spec: _HistorySpec, low: float, high: float) -> tuple[list[float], list[str]]:
    """y ticks inside ``low``…``high`` and their labels, exact where rounding repeats one.

    Bytes are ticked at round numbers of the unit of the largest value (120 KiB, 140 KiB),
    not at round numbers of bytes (which read 122.07 KiB).
    """
    from matplotlib.ticker import MaxNLocator

    unit = 1.0
    if spec.binary:
        while unit < 2.0**40 and high >= unit * 1024:
            unit *= 1024
    locator = MaxNLocator(nbins=5, integer=spec.integer and unit == 1.0)
    ticks = [
        float(t) * unit
        for t in locator.tick_values(low / unit, high / unit)
        if low <= t * unit <= high
    ]
    labels = [spec.fmt_tick(t) for t in ticks]
    if len(set(labels)) < len(labels):
        labels = [spec.exact_tick(t) for t in ticks]
    return ticks, labels


def _history_figure(spec: _HistorySpec) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    known = [v for s in spec.series for v in s.values if v is not None]
    low, high = min(known), max(known)
    pad = (high - low) * 0.08 if high > low else abs(low) * 0.05 or 1.0
    bottom, top = low - pad, high + pad
    if low >= 0:
        bottom = max(bottom, 0.0)  # counts and bytes are never negative
    ticks, tick_labels = _history_ticks(spec, bottom, top)
    unit_in = 0.6 * _HISTORY_FONT_PT / 72
    widest = max((_text_width(label) for label in tick_labels), default=4)
    left_in = _EDGE_IN + widest * unit_in + _GAP_IN
    longest = max((_text_width(label) for label in spec.labels), default=7)
    bottom_in = 0.25 + 0.5 * longest * unit_in  # labels turned 30°: sin 30° = 0.5
    fig = Figure(figsize=(_WIDTH_IN, _HISTORY_HEIGHT_IN + bottom_in))
    height_in = _HISTORY_HEIGHT_IN + bottom_in
    fig.subplots_adjust(
        left=left_in / _WIDTH_IN,
        right=1 - 0.3 / _WIDTH_IN,
        top=1 - 0.15 / height_in,
        bottom=bottom_in / height_in,
    )
    ax = fig.add_subplot()
    builds = list(range(len(spec.labels)))
    for series in spec.series:
        # NaN breaks the line: an unknown figure is a gap, not a zero.
        values = [math.nan if v is None else v for v in series.values]
        ax.plot(builds, values, color=series.color, linewidth=1.4, marker="o", markersize=3.5)
    ax.set_xlim(-0.5, len(builds) - 0.5)
    ax.set_ylim(bottom, top)
    shown = _thinned(builds, _HISTORY_TICKS)
    ax.set_xticks(
        shown,
        labels=[spec.labels[i] for i in shown],
        rotation=30,
        horizontalalignment="right",
        rotation_mode="anchor",
    )
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FixedFormatter(tick_labels))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())
    ax.grid(color="#dddddd", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    return fig


HISTORY_CHARTS: dict[str, Callable[[ModelReport], str | None]] = {
    kind: functools.partial(history_chart, kind=kind) for kind in HISTORY_KINDS
}
"""{kind: drawing function} of the history charts, for :func:`model_charts`."""
