"""SVG charts from hand-made report models: well-formed, localized, byte-stable."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from reportgen.expr import Formula, Num
from reportgen.model import Derivation, LayerReport, ModelReport, Text, Totals
from reportgen.render.charts import (
    MEMORY_MEASURED_NONE,
    MEMORY_TITLE,
    PARAMS_TITLE,
    TIME_TITLE,
    chart_label,
    memory_chart,
    params_chart,
    time_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
LANGS = ("en", "zh")

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
        framework={},
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


def test_params_chart_is_valid_svg_with_layer_names_and_values() -> None:
    shown = texts(params_chart(lenet_report(), "en"))
    assert PARAMS_TITLE.en in shown
    for name, params, *_ in LENET:
        assert name in shown
        assert f"{params:,}" in shown
    # Model order top to bottom: conv1's label is above (smaller y than) fc2's.
    root = parse(params_chart(lenet_report(), "en"))
    y = {el.text: float(el.get("y", "0")) for el in root.iter(f"{SVG}text")}
    assert y["conv1"] < y["pool1"] < y["fc2"]


@pytest.mark.parametrize("lang", LANGS)
def test_titles_are_localized(lang: str) -> None:
    report = lenet_report()
    assert PARAMS_TITLE.get(lang) in texts(params_chart(report, lang))
    assert MEMORY_TITLE.get(lang).format(batch=1) in texts(memory_chart(report, lang))
    chart = time_chart(report, lang)
    assert chart is not None and TIME_TITLE.get(lang) in texts(chart)


def test_chinese_stays_text() -> None:
    # svg.fonttype = none: the characters are a <text> element, not glyph paths, and the
    # font list lets the reader's browser pick a CJK font the build machine lacks.
    svg = params_chart(lenet_report(), "zh")
    assert "每层参数量" in texts(svg)
    assert "Noto Sans CJK SC" in svg


@pytest.mark.parametrize("chart", [params_chart, memory_chart, time_chart])
def test_byte_stable(chart: object) -> None:
    assert callable(chart)
    first, second = chart(lenet_report(), "zh"), chart(lenet_report(), "zh")
    assert first is not None and first == second
    assert "<dc:date>" not in first  # metadata={"Date": None}


def test_memory_chart_measured_side_by_side() -> None:
    shown = texts(memory_chart(lenet_report(), "en"))
    assert "98 KiB / 98 KiB" in shown  # conv1: derived / measured
    assert "24.5 KiB / —" in shown  # pool1: nothing measured
    assert any("none for 5 of 8 layers" in t for t in shown)


@pytest.mark.parametrize("lang", LANGS)
def test_memory_chart_without_measurements_says_so(lang: str) -> None:
    report = lenet_report()
    report = replace(report, layers=tuple(replace(x, measured_bytes=None) for x in report.layers))
    shown = texts(memory_chart(report, lang))
    assert MEMORY_MEASURED_NONE.get(lang) in shown
    assert "98 KiB" in shown


def test_time_chart_none_without_times() -> None:
    report = lenet_report()
    report = replace(report, layers=tuple(replace(x, time_us=None) for x in report.layers))
    assert time_chart(report, "en") is None
    assert time_chart(report, "zh") is None


def test_time_chart_marks_untimed_layers() -> None:
    chart = time_chart(lenet_report(), "en")
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
        svg = chart(model_report(layers), "en")
        shown = texts(svg)  # parses, so the XML is well formed
        assert '<script>alert("x")</script>&' in shown
        assert "<script>" not in svg
        assert "a$b$c" in shown
        assert "line break" in shown


def test_long_names_are_truncated() -> None:
    long = "a_very_long_layer_name_that_goes_on_and_on_forever"
    assert chart_label(long) == long[:31] + "…"
    assert len(chart_label("卷积" * 20)) == 16  # wide characters count double
    assert chart_label("short") == "short"
    layers = (layer_report(0, long, 10, 100),)
    assert long[:31] + "…" in texts(params_chart(model_report(layers), "en"))


def test_all_zero_chart_renders() -> None:
    layers = tuple(layer_report(i, f"pool{i}", 0, None) for i in range(3))
    shown = texts(params_chart(model_report(layers), "en"))
    assert shown.count("0") == 3


def test_200_layer_charts_render_and_grow() -> None:
    report = big_report()
    params_chart(lenet_report(), "en")  # import matplotlib outside the timing
    started = time.perf_counter()
    svgs = [params_chart(report, "zh"), memory_chart(report, "en"), time_chart(report, "en")]
    elapsed = time.perf_counter() - started
    for svg in svgs:
        assert svg is not None
        shown = texts(svg)
        assert "block0_conv0" in shown and "block19_conv9" in shown
    small = float(parse(params_chart(lenet_report(), "en")).get("height", "0").rstrip("pt"))
    large = float(parse(svgs[0] or "").get("height", "0").rstrip("pt"))
    assert large > 8 * small  # grows with the rows, not squeezed
    assert elapsed < 10  # about 0.25 s a chart; a generous bound for slow CI machines
