"""Per-layer bar charts as SVG text: parameters, output memory, time.

Design choices, and why:

- Horizontal bars, one row per layer in model order top to bottom, layer names on the
  left and each bar's exact value on the right: the chart reads like the page's table,
  and the exact figures survive any axis scale.
- The figure grows with the layer count at a fixed row pitch instead of shrinking the
  text: every one of 200 layer names stays legible (7 pt above 40 layers, 9 pt below).
- The value axis turns logarithmic when the non-zero values span more than two decades
  (e.g. LeNet's parameters, 10,250 to 3,212,288): on a linear axis most bars would be
  invisible slivers next to the largest one. Bytes use a base-2 axis so that ticks fall
  on 1 KiB, 16 KiB, …; zero and missing values draw no bar, the right column says so.
- matplotlib's object API only (no pyplot state), every setting inside ``rc_context``:
  ``svg.fonttype = none`` keeps text as ``<text>`` so Chinese renders with the reader's
  fonts and the build needs no CJK font; ``svg.hashsalt`` and ``metadata={"Date": None}``
  make the output byte-identical across runs; ``text.parse_math = False`` so a ``$`` in
  a layer name is text, not TeX. matplotlib is imported lazily: only rendering pays for it.
- Layer names are untrusted: control characters (invalid in XML even when escaped) are
  replaced, long names are truncated with "…", and matplotlib's SVG writer escapes
  ``<``, ``&`` and quotes.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reportgen.model import ModelReport, Text
from reportgen.units import fmt_bytes, fmt_int, fmt_us

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Interface strings of the charts, in both site languages.
PARAMS_TITLE = Text("Parameters per layer", "每层参数量")
PARAMS_AXIS = Text("parameters", "参数个数")
MEMORY_TITLE = Text("Output memory per layer (batch {batch})", "每层输出内存（批大小 {batch}）")
MEMORY_AXIS = Text("bytes", "字节")
MEMORY_DERIVED = Text("derived (formula)", "推导值（公式）")
MEMORY_MEASURED = Text("measured (TensorFlow allocator)", "实测值（TensorFlow 分配器）")
MEMORY_MEASURED_PARTIAL = Text(
    "measured (TensorFlow allocator; none for {missing} of {total} layers)",
    "实测值（TensorFlow 分配器；{total} 层中有 {missing} 层无记录）",
)
MEMORY_MEASURED_NONE = Text(
    "measured: not available, derived values only",
    "实测值：无运行时测量，仅显示推导值",
)
TIME_TITLE = Text("Time per layer (forward pass)", "每层耗时（前向传播）")
TIME_AXIS = Text("time", "耗时")
LOG_AXIS = Text("{axis}, log scale", "{axis}（对数坐标）")

NO_VALUE = "—"
"""Right-column text for a layer without the quantity (not derived, not measured)."""

_COLORS = ("#4c72b0", "#dd8452")
_WIDTH_IN = 8.0
_HEADER_IN = 0.55  # title
_LEGEND_IN = 0.3  # one legend row under the title
_FOOTER_IN = 0.6  # x tick labels and axis label
_MAX_NAME_WIDTH = 32  # in character units: 32 Latin or 16 CJK (wide) characters
_LOG_SPAN = 100.0  # max/min of the non-zero values above which the axis turns logarithmic

# Typed loosely: matplotlib types rc keys as a Literal of every known name.
_RC: dict[Any, Any] = {
    "svg.hashsalt": "reportgen",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "text.usetex": False,
    "font.family": ["sans-serif"],
    # DejaVu Sans (which measured the layout) first; the browser falls back per glyph
    # to the CJK fonts that its system has.
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
    label: str | None
    values: tuple[float | None, ...]
    color: str


@dataclass(frozen=True)
class _ChartSpec:
    """Everything a bar chart shows, already localized and formatted: no model access."""

    title: str
    axis_label: str
    log_axis_label: str
    names: tuple[str, ...]
    series: tuple[_Series, ...]
    right_labels: tuple[str, ...]
    fmt_tick: Callable[[float], str]
    log_base: int = 10
    integer: bool = True
    """Whether the quantity is a whole number (no ticks between integers on a linear axis)."""
    extra_legend: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- public API


def params_chart(report: ModelReport, lang: str) -> str:
    """Derived parameters per layer as an SVG document."""
    values = tuple(_num(layer.params.value) for layer in report.layers)
    spec = _ChartSpec(
        title=PARAMS_TITLE.get(lang),
        axis_label=PARAMS_AXIS.get(lang),
        log_axis_label=LOG_AXIS.get(lang).format(axis=PARAMS_AXIS.get(lang)),
        names=tuple(layer.name for layer in report.layers),
        series=(_Series(None, values, _COLORS[0]),),
        right_labels=tuple(_fmt_or_dash(v, _fmt_count) for v in values),
        fmt_tick=_fmt_count,
    )
    return _render(spec)


def memory_chart(report: ModelReport, lang: str) -> str:
    """Output bytes per layer, derived and (where recorded) measured, as an SVG document."""
    derived = tuple(_num(layer.activation.value) for layer in report.layers)
    measured = tuple(_num(layer.measured_bytes) for layer in report.layers)
    missing = sum(1 for v in measured if v is None)
    series = [_Series(MEMORY_DERIVED.get(lang), derived, _COLORS[0])]
    extra: tuple[str, ...] = ()
    if missing == len(measured):
        extra = (MEMORY_MEASURED_NONE.get(lang),)
        right = tuple(_fmt_or_dash(d, _fmt_bytes) for d in derived)
    else:
        label = MEMORY_MEASURED if missing == 0 else MEMORY_MEASURED_PARTIAL
        text = label.get(lang).format(missing=missing, total=len(measured))
        series.append(_Series(text, measured, _COLORS[1]))
        right = tuple(
            f"{_fmt_or_dash(d, _fmt_bytes)} / {_fmt_or_dash(m, _fmt_bytes)}"
            for d, m in zip(derived, measured, strict=True)
        )
    spec = _ChartSpec(
        title=MEMORY_TITLE.get(lang).format(batch=report.batch_size),
        axis_label=MEMORY_AXIS.get(lang),
        log_axis_label=LOG_AXIS.get(lang).format(axis=MEMORY_AXIS.get(lang)),
        names=tuple(layer.name for layer in report.layers),
        series=tuple(series),
        right_labels=right,
        fmt_tick=_fmt_bytes,
        log_base=2,
        extra_legend=extra,
    )
    return _render(spec)


def time_chart(report: ModelReport, lang: str) -> str | None:
    """Profiled time per layer as an SVG document; None when no layer was timed."""
    times = tuple(layer.time_us for layer in report.layers)
    if all(t is None for t in times):
        return None
    spec = _ChartSpec(
        title=TIME_TITLE.get(lang),
        axis_label=TIME_AXIS.get(lang),
        log_axis_label=LOG_AXIS.get(lang).format(axis=TIME_AXIS.get(lang)),
        names=tuple(layer.name for layer in report.layers),
        series=(_Series(None, times, _COLORS[0]),),
        right_labels=tuple(_fmt_or_dash(t, fmt_us) for t in times),
        fmt_tick=fmt_us,
        integer=False,
    )
    return _render(spec)


# ---------------------------------------------------------------- formatting helpers


def _fmt_count(value: float) -> str:
    return fmt_int(round(value))


def _fmt_bytes(value: float) -> str:
    return fmt_bytes(round(value))


def _num(value: int | None) -> float | None:
    return None if value is None else float(value)


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
    font_pt: float
    pitch_in: float
    height_in: float
    left_in: float
    right_in: float
    top_in: float


def _layout(spec: _ChartSpec, names: Sequence[str]) -> _Layout:
    rows = max(len(names), 1)
    font_pt, pitch_in = (9.0, 0.3) if rows <= 40 else (7.0, 0.17)
    unit_in = 0.6 * font_pt / 72  # DejaVu Sans averages ~0.6 em per Latin character
    top_in = _HEADER_IN + (_LEGEND_IN if _has_legend(spec) else 0.0)
    left_in = max((_text_width(n) for n in names), default=4) * unit_in + 0.25
    right_in = max((_text_width(t) for t in spec.right_labels), default=4) * unit_in + 0.25
    return _Layout(
        font_pt=font_pt,
        pitch_in=pitch_in,
        height_in=top_in + rows * pitch_in + _FOOTER_IN,
        left_in=left_in,
        right_in=right_in,
        top_in=top_in,
    )


def _has_legend(spec: _ChartSpec) -> bool:
    return any(s.label for s in spec.series) or bool(spec.extra_legend)


def _render(spec: _ChartSpec) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    names = [chart_label(n) for n in spec.names]
    layout = _layout(spec, names)
    with matplotlib.rc_context({**_RC, "font.size": layout.font_pt}), warnings.catch_warnings():
        # Without a CJK font, matplotlib warns for every Chinese glyph it measures; the
        # text stays text and the reader's browser draws it, so the warning is noise.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig = Figure(figsize=(_WIDTH_IN, layout.height_in))
        fig.subplots_adjust(
            left=layout.left_in / _WIDTH_IN,
            right=1 - layout.right_in / _WIDTH_IN,
            top=1 - layout.top_in / layout.height_in,
            bottom=_FOOTER_IN / layout.height_in,
        )
        ax = fig.add_subplot()
        _draw_bars(ax, spec, names)
        ax.set_title(
            spec.title,
            loc="left",
            pad=_LEGEND_IN * 72 + 6 if _has_legend(spec) else 6,
            fontsize=layout.font_pt + 2,
            fontweight="bold",
        )
        if _has_legend(spec):
            _draw_legend(ax, spec)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _positive(spec: _ChartSpec) -> list[float]:
    return [v for s in spec.series for v in s.values if v is not None and v > 0]


def _draw_bars(ax: Axes, spec: _ChartSpec, names: Sequence[str]) -> None:
    positive = _positive(spec)
    log = bool(positive) and max(positive) / min(positive) > _LOG_SPAN
    # On a log axis bars start at the axis' left edge: half a step below the smallest value.
    floor = min(positive) / spec.log_base**0.5 if log else 0.0
    height = 0.8 / len(spec.series)
    for index, series in enumerate(spec.series):
        offset = (index - (len(spec.series) - 1) / 2) * height
        _bar_collection(ax, series, floor, offset, height * 0.92)
    _value_axis(ax, spec, positive, floor if log else None)
    ax.set_ylim(max(len(names), 1) - 0.5, -0.5)  # first layer at the top
    _row_labels(ax, names, spec.right_labels)


def _bar_collection(ax: Axes, series: _Series, floor: float, offset: float, height: float) -> None:
    """One series as a single PolyCollection of rectangles.

    ``barh`` makes one Rectangle artist per bar, each with its own transforms; for 200
    layers that alone took about a third of the render time.
    """
    from matplotlib.collections import PolyCollection

    boxes = []
    for row, value in enumerate(series.values):
        if value:  # zero and missing values draw no bar
            y0, y1 = row + offset - height / 2, row + offset + height / 2
            boxes.append([(floor, y0), (value, y0), (value, y1), (floor, y1)])
    ax.add_collection(
        PolyCollection(boxes, facecolors=series.color, edgecolors="none", label=series.label),
        autolim=False,
    )


def _value_axis(ax: Axes, spec: _ChartSpec, positive: Sequence[float], floor: float | None) -> None:
    """x axis: logarithmic from ``floor`` when given, else linear from 0; ticks formatted."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    if floor is not None:
        ax.set_xscale("log", base=spec.log_base)
        ax.set_xlim(floor, max(positive) * spec.log_base**0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())
    elif positive:
        ax.set_xlim(0, max(positive) * 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=spec.integer))
    else:
        # Nothing to draw (e.g. no layer has parameters): an axis of 0…1 would only
        # show made-up tick values; the right column still gives every layer's 0.
        ax.set_xlim(0, 1)
        ax.set_xticks([])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: spec.fmt_tick(v)))
    ax.set_xlabel(spec.log_axis_label if floor is not None else spec.axis_label)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _row_labels(ax: Axes, names: Sequence[str], values: Sequence[str]) -> None:
    """Layer names left of the bars, values right of them.

    Plain text artists rather than y ticks: a matplotlib Tick is several artists and is
    measured again for every layout pass, which made a 200-layer chart 3× slower.
    """
    from matplotlib.transforms import blended_transform_factory

    ax.set_yticks([])
    rows = blended_transform_factory(ax.transAxes, ax.transData)
    for row, (name, value) in enumerate(zip(names, values, strict=True)):
        ax.text(-0.01, row, name, transform=rows, ha="right", va="center", clip_on=False)
        ax.text(1.01, row, value, transform=rows, ha="left", va="center", clip_on=False)


def _draw_legend(ax: Axes, spec: _ChartSpec) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=s.color, label=s.label) for s in spec.series if s.label]
    # A note such as "measured: not available" is a legend row without a swatch.
    handles += [Patch(facecolor="none", edgecolor="none", label=note) for note in spec.extra_legend]
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=2,
        frameon=False,
        borderaxespad=0.2,
        handlelength=1.2,
        columnspacing=1.5,
    )
