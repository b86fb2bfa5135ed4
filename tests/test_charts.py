"""SVG charts from hand-made report models: well-formed, wordless, byte-stable, bounded."""

from __future__ import annotations

import itertools
import multiprocessing
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from reportgen.errors import RenderError
from reportgen.expr import Formula, Num
from reportgen.model import Derivation, LayerReport, ModelReport, Text, Totals
from reportgen.render import charts, site
from reportgen.render.charts import (
    COLORS,
    MAX_ROWS,
    ChartCaption,
    chart_caption,
    chart_label,
    memory_chart,
    model_charts,
    params_chart,
    shown_rows,
    time_chart,
)
from reportgen.render.site import render_site
from tests.sitecheck import parse as parse_html

SVG = "{http://www.w3.org/2000/svg}"
LANGS = ("en", "zh")
# What a chart may say besides layer names and right-column values: tick labels, numbers
# with an optional unit, or "—" for a missing value. No word in any language.
TICK = re.compile(r"^(—|[\d,.]+( (B|KiB|MiB|GiB|TiB|µs|ms|s))?)$")

# name, params, output bytes, measured bytes, time in µs: the LeNet of DESIGN.md.
LENET = (
    ("conv1", 832, 100_352, 100_352, 120.5),
    ("pool1", 0, 25_088, None, 15.2),
    ("conv2", 51_264, 50_176, 50_176, 850.0),
    ("pool2", 0, 12_544, None, 8.1),
    ("flatten", 0, 12_544, None, None),
    ("fc1", 3_212_288, 4_096, 4_096, 310.0),
    ("dropout", 0, 4_096, None, None),
    ("fc2", 10_250, 40, None, 4.2),
)


def derivation(value: int | None) -> Derivation:
    if value is None:
        return Derivation(None, "unknown", Text("?", "?"))
    return Derivation(value, "formula", Text("", ""), Formula(Num(value)))


def layer_report(
    index: int,
    name: str,
    params: int | None,
    out_bytes: int | None,
    measured: int | None = None,
    time_us: float | None = None,
) -> LayerReport:
    return LayerReport(
        index=index,
        anchor=f"layer-{index}",
        name=name,
        class_name="Conv2D",
        output_shapes=((None, 4),),
        dtype="float32",
        params=derivation(params),
        keras_params=params or 0,
        trainable_params=params or 0,
        non_trainable_params=0,
        activation=derivation(out_bytes),
        measured_bytes=measured,
        time_us=time_us,
    )


def model_report(layers: tuple[LayerReport, ...], batch_size: int = 1) -> ModelReport:
    params = sum(layer.params.value or 0 for layer in layers)
    totals = Totals(params, params, 0, 4 * params, 0, params, params, 0, len(layers))
    return ModelReport(
        slug="test",
        title=Text("Test", "测试"),
        source="hand-made",
        batch_size=batch_size,
        framework={"tensorflow": "0.0", "keras": "0.0"},
        layers=layers,
        totals=totals,
        mismatches=(),
    )


def lenet_report() -> ModelReport:
    return model_report(tuple(layer_report(i, *row) for i, row in enumerate(LENET)))


def big_report(count: int = 200) -> ModelReport:
    layers = tuple(
        layer_report(
            i,
            f"block{i // 10}_conv{i % 10}",
            (i * 7919) % 100_000 if i % 3 else 0,
            4_000 * (i + 1),
            4_000 * (i + 1) if i % 2 else None,
            i * 1.7 + 0.5,
        )
        for i in range(count)
    )
    return model_report(layers)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return root


def texts(svg: str) -> list[str]:
    return [el.text or "" for el in parse(svg).iter(f"{SVG}text")]


_TRANSLATE = re.compile(r"translate\(([-\d.e]+) ([-\d.e]+)\)")


def placed(svg: str) -> dict[str, tuple[float, float]]:
    """{text: (x, baseline y)} of the row labels (drawn with a translate transform)."""
    found = {}
    for el in parse(svg).iter(f"{SVG}text"):
        match = _TRANSLATE.search(el.get("transform", ""))
        if match:
            found[el.text or ""] = (float(match.group(1)), float(match.group(2)))
    return found


def height_pt(svg: str) -> float:
    return float(parse(svg).get("height", "0").rstrip("pt"))


def test_params_chart_is_valid_svg_with_layer_names_and_values() -> None:
    svg = params_chart(lenet_report())
    shown = texts(svg)
    for name, params, *_ in LENET:
        assert name in shown
        assert f"{params:,}" in shown
    # Model order top to bottom: conv1's label is above (smaller y than) fc2's, and
    # each layer's value sits on the same baseline as its name.
    at = placed(svg)
    assert at["conv1"][1] < at["pool1"][1] < at["fc2"][1]
    assert at["fc1"][1] == at["3,212,288"][1]
    assert at["conv1"][0] == at["fc2"][0] < at["3,212,288"][0]


def test_rows_have_an_even_pitch() -> None:
    at = placed(params_chart(big_report()))
    ys = [at[f"block{i // 10}_conv{i % 10}"][1] for i in range(200)]
    steps = {round(b - a, 3) for a, b in itertools.pairwise(ys)}
    assert len(steps) == 1 and steps.pop() > 10  # 0.17 in = 12.24 pt per row


@pytest.mark.parametrize("chart", [params_chart, memory_chart, time_chart])
def test_charts_hold_no_words(chart: object) -> None:
    # Titles, axis labels and legends are in the page (in its language): the SVG has
    # only layer names, values and tick labels, so one file serves both languages.
    assert callable(chart)
    report = lenet_report()
    svg = chart(report)
    names = {layer.name for layer in report.layers}
    for text in texts(svg):
        assert text in names or all(TICK.match(p) for p in text.split(" / ")), text


def test_chinese_names_stay_text() -> None:
    # svg.fonttype = none: the characters are a <text> element, not glyph paths, and the
    # font list lets the reader's browser pick a CJK font the build machine lacks.
    layers = (layer_report(0, "卷积层一", 10, 100), layer_report(1, "池化", 0, 50))
    svg = params_chart(model_report(layers))
    assert "卷积层一" in texts(svg) and "池化" in texts(svg)
    assert "Noto Sans CJK SC" in svg


@pytest.mark.parametrize("chart", [params_chart, memory_chart, time_chart])
def test_byte_stable(chart: object) -> None:
    assert callable(chart)
    first, second = chart(lenet_report()), chart(lenet_report())
    assert first is not None and first == second
    assert "<dc:date>" not in first  # metadata={"Date": None}


def test_memory_chart_measured_side_by_side() -> None:
    svg = memory_chart(lenet_report())
    shown = texts(svg)
    assert "98 KiB / 98 KiB" in shown  # conv1: derived / measured
    assert "24.5 KiB / —" in shown  # pool1: nothing measured
    assert f"fill: {COLORS[0]}" in svg and f"fill: {COLORS[1]}" in svg


def test_memory_chart_without_measurements_has_one_series() -> None:
    report = lenet_report()
    report = replace(report, layers=tuple(replace(x, measured_bytes=None) for x in report.layers))
    svg = memory_chart(report)
    shown = texts(svg)
    assert "98 KiB" in shown and not any(" / " in t for t in shown)
    assert f"fill: {COLORS[1]}" not in svg


def test_time_chart_none_without_times() -> None:
    report = lenet_report()
    report = replace(report, layers=tuple(replace(x, time_us=None) for x in report.layers))
    assert time_chart(report) is None
    assert set(model_charts(report)) == {"params", "memory"}


def test_time_chart_marks_untimed_layers() -> None:
    chart = time_chart(lenet_report())
    assert chart is not None
    shown = texts(chart)
    assert "850 µs" in shown and "—" in shown


def test_hostile_layer_names_keep_the_svg_well_formed() -> None:
    names = (
        '<script>alert("x")</script>&',
        "a$b$c",  # would be TeX if matplotlib parsed math
        "nul\x00esc\x1b",
        "line\nbreak",
        "]]><!-- -->",
        "lone\ud800surrogate",
    )
    layers = tuple(layer_report(i, n, 10 * (i + 1), 100) for i, n in enumerate(names))
    for chart in (params_chart, memory_chart):
        svg = chart(model_report(layers))
        shown = texts(svg)  # parses, so the XML is well formed
        assert '<script>alert("x")</script>&' in shown
        assert "<script>" not in svg
        assert "a$b$c" in shown
        assert "line break" in shown
        assert "nul\ufffdesc\ufffd" in shown


def test_long_names_are_truncated() -> None:
    long = "a_very_long_layer_name_that_goes_on_and_on_forever"
    assert chart_label(long) == long[:31] + "…"
    assert len(chart_label("卷积" * 20)) == 16  # wide characters count double
    assert chart_label("short") == "short"
    layers = (layer_report(0, long, 10, 100),)
    assert long[:31] + "…" in texts(params_chart(model_report(layers)))


def test_all_zero_chart_renders() -> None:
    layers = tuple(layer_report(i, f"pool{i}", 0, None) for i in range(3))
    shown = texts(params_chart(model_report(layers)))
    assert shown.count("0") == 3


def test_empty_model_renders() -> None:
    assert texts(params_chart(model_report(()))) == []


def test_200_layer_charts_show_every_layer_and_grow() -> None:
    report = big_report()
    params_chart(lenet_report())  # import matplotlib outside the timing
    started = time.perf_counter()
    svgs = [params_chart(report), memory_chart(report), time_chart(report)]
    elapsed = time.perf_counter() - started
    for svg in svgs:
        assert svg is not None
        shown = set(texts(svg))
        assert {f"block{i // 10}_conv{i % 10}" for i in range(200)} <= shown
    small, large = height_pt(params_chart(lenet_report())), height_pt(svgs[0] or "")
    assert large > 8 * small  # grows with the rows, not squeezed
    assert elapsed < 3  # about 0.05 s a chart; a generous bound for slow CI machines


def test_shown_rows_keeps_the_largest_in_model_order() -> None:
    assert shown_rows([3.0, None, 1.0], limit=5) == (0, 1, 2)
    assert shown_rows([3.0, None, 1.0, 7.0, 1.0], limit=3) == (0, 2, 3)  # tie: earlier wins
    assert shown_rows([None, 0.0, 2.0], limit=1) == (2,)


def test_1000_layer_chart_shows_the_largest_rows_and_stays_short() -> None:
    report = big_report(1000)
    svg = params_chart(report)
    values = [layer.params.value or 0 for layer in report.layers]
    rows = shown_rows([float(v) for v in values])
    assert len(rows) == MAX_ROWS
    at = placed(svg)
    names = [report.layers[i].name for i in rows]
    assert [n for n in at if n in set(names)] == names  # those rows, in model order
    assert min(values[i] for i in rows) >= max(v for i, v in enumerate(values) if i not in rows)
    assert height_pt(svg) < 40 * 72  # 200 rows at 0.17 in, not 170 inches
    # The 200-row chart and the 1,000-layer one are the same height.
    assert height_pt(svg) == height_pt(params_chart(big_report(MAX_ROWS)))


def _site_page(tmp_path: Path, report: ModelReport, lang: str):  # type: ignore[no-untyped-def]
    render_site([report], tmp_path)
    return parse_html(tmp_path / lang / f"{report.slug}.html")


@pytest.mark.parametrize("lang", LANGS)
def test_page_says_what_the_charts_show(tmp_path: Path, lang: str) -> None:
    page = _site_page(tmp_path, lenet_report(), lang)
    figures = page.select("figure.chart")
    assert [f.img["src"] for f in figures] == [
        f"../charts/test-{kind}.{lang}.svg" for kind in ("params", "memory", "time")
    ]
    captions = [f.figcaption.get_text(" ", strip=True) for f in figures]
    title = {"en": "Parameters per layer.", "zh": "每层参数量。"}[lang]
    assert captions[0] == title  # every layer shown: no note
    legend = {"en": "measured by the TensorFlow allocator", "zh": "TensorFlow 分配器实测"}[lang]
    assert legend in captions[1]
    assert {"en": "batch size 1", "zh": "批大小 1"}[lang] in captions[1]
    # The legend's swatches are the bars' colours.
    fills = [rect["fill"] for rect in figures[1].select("figcaption svg rect")]
    assert fills == list(COLORS)
    # One file per chart for both languages: the same bytes at each language's path.
    for kind in ("params", "memory", "time"):
        en = (tmp_path / "charts" / f"test-{kind}.en.svg").read_bytes()
        assert en == (tmp_path / "charts" / f"test-{kind}.zh.svg").read_bytes()


@pytest.mark.parametrize("lang", LANGS)
def test_page_says_when_a_chart_shows_only_the_largest(tmp_path: Path, lang: str) -> None:
    report = big_report(MAX_ROWS + 50)
    page = _site_page(tmp_path, report, lang)
    text = page.select_one("#charts").get_text(" ", strip=True)
    count, shown = f"{MAX_ROWS + 50:,}", f"{MAX_ROWS:,}"
    assert f"{count} " in text and f" {shown} " in text
    caption = page.select_one("figure.chart figcaption").get_text(" ", strip=True)
    assert count in caption and shown in caption
    svg = (tmp_path / "charts" / f"test-params.{lang}.svg").read_text(encoding="utf-8")
    names = {layer.name for layer in report.layers}
    assert sum(1 for t in texts(svg) if t in names) == MAX_ROWS
    # Without measurements the legend says so, and has no swatch for them.
    bare = replace(report, layers=tuple(replace(x, measured_bytes=None) for x in report.layers))
    page = _site_page(tmp_path / "bare", bare, lang)
    memory = page.select("figure.chart figcaption")[1]
    assert [rect["fill"] for rect in memory.select("svg rect")] == [COLORS[0]]
    assert {"en": "not available", "zh": "无运行时测量"}[lang] in memory.get_text()


def test_the_caption_says_what_the_charts_draw() -> None:
    """The page's words about a chart and the chart itself come from one decision."""
    lenet = lenet_report()
    caption = chart_caption(lenet)
    assert (caption.layers, caption.rows, caption.capped) == (8, MAX_ROWS, False)
    assert (caption.unmeasured, caption.measured) == (5, True)
    assert (caption.derived_color, caption.measured_color) == COLORS
    assert chart_caption(big_report(MAX_ROWS + 1)).capped
    assert not chart_caption(big_report(MAX_ROWS)).capped
    bare = replace(lenet, layers=tuple(replace(x, measured_bytes=None) for x in lenet.layers))
    for report in (lenet, bare):
        # A measured series in the legend exactly when the chart draws one.
        drawn = f"fill: {COLORS[1]}" in memory_chart(report)
        assert chart_caption(report).measured == drawn


def test_page_takes_the_cap_and_colours_from_the_caption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No chart setting is copied into the template: another caption, another page."""
    caption = ChartCaption(layers=8, unmeasured=5, rows=3, derived_color="#010203")
    monkeypatch.setattr(site, "chart_caption", lambda report: caption)
    page = _site_page(tmp_path, lenet_report(), "en")
    text = page.select_one("#charts").get_text(" ", strip=True)
    assert "each chart shows the 3 largest for its quantity" in text
    memory = page.select("figure.chart figcaption")[1]
    fills = [rect["fill"] for rect in memory.select("svg rect")]
    assert fills == ["#010203", COLORS[1]]
    assert "no record for 5 of the 8 layers" in memory.get_text(" ", strip=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_charts_drawn_in_a_worker_are_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not site._can_fork():
        pytest.skip("no forked chart worker here (one CPU, threads, or not Linux)")
    reports = [replace(lenet_report(), slug=f"m{i}") for i in range(3)]
    render_site(reports, tmp_path / "here")
    monkeypatch.setattr(site, "BACKGROUND_CHART_LAYERS", 0)

    def here_again(report: ModelReport) -> dict[str, str]:
        raise AssertionError("drawn in this process, not in the worker")

    monkeypatch.setattr(site, "gather_charts", here_again)
    render_site(reports, tmp_path / "worker")
    here, worker = _tree(tmp_path / "here"), _tree(tmp_path / "worker")
    assert here == worker
    assert len([p for p in worker if p.startswith("charts/")]) == 3 * 3 * len(LANGS)


def test_a_chart_failing_in_the_worker_fails_the_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not site._can_fork():
        pytest.skip("no forked chart worker here (one CPU, threads, or not Linux)")

    def broken(report: ModelReport) -> dict[str, str]:
        raise RuntimeError(f"cannot draw {report.slug}")

    monkeypatch.setattr(charts, "model_charts", broken)
    monkeypatch.setattr(site, "BACKGROUND_CHART_LAYERS", 0)
    with pytest.raises(RenderError, match=r"drawing the charts: RuntimeError.*cannot draw test"):
        render_site([lenet_report()], tmp_path)
    assert multiprocessing.active_children() == []


def test_a_failing_page_stops_the_chart_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not site._can_fork():
        pytest.skip("no forked chart worker here (one CPU, threads, or not Linux)")

    def slow(report: ModelReport) -> dict[str, str]:
        time.sleep(60)
        return {}

    def failing(*args: object) -> list[site.Page]:
        raise RenderError("a page failed")

    monkeypatch.setattr(charts, "model_charts", slow)
    monkeypatch.setattr(site, "gather_pages", failing)
    monkeypatch.setattr(site, "BACKGROUND_CHART_LAYERS", 0)
    started = time.perf_counter()
    with pytest.raises(RenderError, match="a page failed"):
        render_site([lenet_report()], tmp_path)
    assert time.perf_counter() - started < 30  # the worker was killed, not waited for
    assert multiprocessing.active_children() == []
