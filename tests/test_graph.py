"""The model graph (reportgen/render/graph.py): what is drawn, once each, linked, escaped,
coloured, laid out deterministically, and small and fast enough for large models."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bs4 import BeautifulSoup

from reportgen.derive import derive_model
from reportgen.facts import LayerFacts, ModelFacts
from reportgen.model import Derivation, LayerReport, ModelReport, Text
from reportgen.render import graph as graph_module
from reportgen.render.graph import (
    INLINE_MAX_ROWS,
    ModelGraph,
    bucket_classes,
    compact_shape,
    graph_page_path,
    needs_graph_page,
)
from reportgen.render.graph_blocks import MAX_BLOCK_ROWS, is_keras_name, model_blocks, name_key
from reportgen.render.graph_layout import Graph, layout
from reportgen.render.site import render_site
from reportgen.resources import resource_dir
from reportgen.units import fmt_int
from tests.handmade import gpt2_facts, layer, lenet_facts
from tests.sitecheck import broken_links, parse
from tests.test_site_css import contrast

MARKUP = '<script>alert("x & y")</script>'
SHAPE = (None, 8, 8, 4)


def wired(
    name: str, reads: tuple[str, ...] | None, cls: str = "Activation", **extra: Any
) -> LayerFacts:
    """A hand-made layer that reads ``reads`` (None: not recorded)."""
    item = layer(name, cls, SHAPE, SHAPE)
    return replace(item, inbound=reads, **extra)


def branchy_facts() -> ModelFacts:
    """An input, a ResNet-like skip, an Inception-like branch and concatenation, a layer
    whose inputs were not recorded, a nested model, and a name with markup."""
    image = replace(layer("image", "InputLayer", SHAPE, SHAPE), inbound=())
    rows = (
        image,
        wired("stem", ("image",)),
        wired("res_a", ("stem",)),
        wired("res_b", ("res_a",)),
        replace(wired("res_add", ("res_b", "stem"), "Add"), input_shapes=(SHAPE, SHAPE)),
        wired("branch_1", ("res_add",)),
        wired("branch_2a", ("res_add",)),
        wired("branch_2b", ("branch_2a",)),
        wired("branch_3", ("res_add",)),
        replace(
            wired("mixed", ("branch_1", "branch_2b", "branch_3"), "Concatenate"),
            output_shapes=((None, 8, 8, 12),),
            input_shapes=(SHAPE, SHAPE, SHAPE),
            config={"axis": -1},
        ),
        wired("unknown_reads", None),
        wired("inner_a", ("unknown_reads",), parent="encoder"),
        wired("inner_b", ("inner_a",), parent="encoder"),
        wired(MARKUP, ("inner_b",)),
    )
    return lenet_facts(layers=rows, slug="branchy", title_en="Branchy <b>", title_zh="分支")


@pytest.fixture(scope="module")
def branchy() -> ModelReport:
    report = derive_model(branchy_facts())
    # hand-made facts read the row before where they do not say; this one was not recorded
    layers = tuple(
        replace(row, inbound=None) if row.name == "unknown_reads" else row for row in report.layers
    )
    return replace(report, layers=layers)


@pytest.fixture(scope="module")
def gpt2() -> ModelReport:
    return derive_model(gpt2_facts(length=8, wired=True))


def soup_of(svg: str) -> BeautifulSoup:
    return BeautifulSoup(svg, "html.parser")


def drawn_rows(svg: str) -> Counter[int]:
    """How often each row index is drawn: ``data-row`` or in a block's ``data-rows``."""
    soup = soup_of(svg)
    rows: Counter[int] = Counter()
    for tag in soup.find_all(attrs={"data-row": True}):
        rows[int(tag["data-row"])] += 1
    for tag in soup.find_all(attrs={"data-rows": True}):
        rows.update(int(i) for i in str(tag["data-rows"]).split())
    return rows


def edges(svg: str) -> list[str]:
    return [str(path["d"]) for path in soup_of(svg).select("g.ge path")]


# ---------------------------------------------------------------- what is drawn


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_row_is_drawn_once(branchy: ModelReport, gpt2: ModelReport, lang: str) -> None:
    for report in (branchy, gpt2, derive_model(lenet_facts())):
        svg = str(ModelGraph(report).figure(lang).svg)
        assert drawn_rows(svg) == Counter(layer.index for layer in report.layers)


def test_edges_are_the_tensors_read(branchy: ModelReport) -> None:
    svg = str(ModelGraph(branchy).figure("en").svg)
    # one edge per reader and source read; the unrecorded reader hangs from the row before
    expected = sum(len(set(layer.inbound or ())) for layer in branchy.layers) + 1
    assert len(edges(svg)) == expected
    soup = soup_of(svg)
    assert len(soup.select("g.ge path.q")) == 1  # dashed: inputs not recorded
    labels = [text.get_text() for text in soup.select("g.gl text")]
    assert set(labels) == {"8×8×4"}
    # a tensor's shape is written once, below its source, however many read it
    assert len(labels) == len({name for layer in branchy.layers for name in layer.inbound or ()})


def test_composite_blocks_are_groups_around_their_sub_layers(gpt2: ModelReport) -> None:
    figure = ModelGraph(gpt2).figure("en")
    soup = soup_of(str(figure.svg))
    blocks = [layer for layer in gpt2.layers if layer.composite]
    groups = soup.select("g.graph-group[data-row]")
    assert sorted(int(g["data-row"]) for g in groups) == [b.index for b in blocks]
    for group in groups:  # the group's label links to the block's derivation
        row = next(b for b in blocks if b.index == int(group["data-row"]))
        assert group.select_one("a")["href"] == f"#{row.anchor}"
        assert row.name in group.select_one("a title").get_text()
    # each block's own tensors are small circles; sub-layers show their name in the block
    assert len(soup.select("g.graph-port")) == 4
    names = [a.select_one("text").get_text() for a in soup.select("a.graph-node")]
    assert "self_attention" in names and "transformer_layer_0/self_attention" not in names
    assert figure.groups and not figure.collapsed and figure.page is None


def test_nested_models_are_dashed_groups(branchy: ModelReport) -> None:
    soup = soup_of(str(ModelGraph(branchy).figure("en").svg))
    group = soup.select_one("g.graph-model")
    assert group["data-model"] == "encoder" and not group.has_attr("data-row")
    assert "encoder" in group.select_one("title").get_text()


def test_boxes_link_to_the_derivations_the_table_links_to(
    branchy: ModelReport, tmp_path: Path
) -> None:
    render_site([branchy], tmp_path)
    page = parse(tmp_path / "en" / "branchy.html")
    table = {
        int(str(row["id"]).removeprefix("row-")): row.select_one("th a")["href"]
        for row in page.select("table.layers tbody tr[id]")
    }
    graph = {int(a["data-row"]): a["href"] for a in page.select("a.graph-node[data-row]")}
    assert graph == table
    assert broken_links(tmp_path) == []
    figure = page.select_one("figure.model-graph#graph")
    assert figure.select_one(".graph-scroll[tabindex='0'][role='region'][aria-label]")
    assert figure.select_one("figcaption") and figure.select_one("fieldset legend")
    assert page.select_one("nav.toc a[href='#graph']")
    assert not figure.select("[style]") and not figure.select("script")
    data = json.loads((tmp_path / "data" / "branchy.json").read_text())
    jsonschema.validate(data, json.loads((tmp_path / "data" / "report.schema.json").read_text()))
    assert [row["inbound"] for row in data["layers"]][:2] == [[], ["image"]]
    assert data["layers"][10]["inbound"] is None


def test_node_stats_in_each_language(branchy: ModelReport) -> None:
    en = soup_of(str(ModelGraph(branchy).figure("en").svg))
    zh = soup_of(str(ModelGraph(branchy).figure("zh").svg))

    def title(soup: BeautifulSoup, row: int) -> str:
        return soup.select_one(f'a[data-row="{row}"] > title').get_text()

    mixed = next(layer for layer in branchy.layers if layer.name == "mixed")
    text = title(en, mixed.index)
    assert "Inputs: branch_1 8×8×4, branch_2b 8×8×4, branch_3 8×8×4" in text
    assert "Outputs: 8×8×12" in text
    assert "Output memory: 3 KiB derived, unknown measured" in text
    assert "Compute time: not measured" in text
    assert "Inputs: not recorded" in title(en, branchy.layers[10].index)
    assert "Inputs: none" in title(en, branchy.layers[0].index)
    assert "未测量" in title(zh, mixed.index) and "输入：" in title(zh, mixed.index)
    unknown = replace(mixed, params=Derivation(None, "unknown", Text("", "")))
    odd = replace(branchy, layers=tuple(unknown if x is mixed else x for x in branchy.layers))
    soup = soup_of(str(ModelGraph(odd).figure("zh").svg))
    assert "参数量：未知" in title(soup, mixed.index)
    assert "pu" in soup.select_one(f'a[data-row="{mixed.index}"]')["class"]


def test_names_with_markup_stay_text(branchy: ModelReport) -> None:
    svg = str(ModelGraph(branchy).figure("en").svg)
    assert "<script" not in svg
    soup = soup_of(svg)
    node = next(a for a in soup.select("a.graph-node") if "alert" in a.select_one("title").text)
    assert node.select_one("title").get_text().startswith(MARKUP)
    assert soup.select_one("title#graph-t").get_text() == "Graph of Branchy <b>"


def test_same_report_same_bytes(branchy: ModelReport, gpt2: ModelReport) -> None:
    for report in (branchy, gpt2):
        for lang in ("en", "zh"):
            first = str(ModelGraph(report).figure(lang).svg)
            assert str(ModelGraph(replace(report)).figure(lang).svg) == first


def test_compact_shapes() -> None:
    assert compact_shape((None, 28, 28, 32)) == "28×28×32"
    assert compact_shape((None, None, 64)) == "?×64"
    assert compact_shape((4, 10)) == "4×10"
    assert compact_shape((None,)) == "()"


# ---------------------------------------------------------------- colours


def test_buckets_have_real_ranges_and_keep_unknown_apart() -> None:
    values = [0.0, None, 1.0, 2.0, 3.0, 4.0, 5.0, 1000.0]
    classes, legend = bucket_classes(values, lambda v: fmt_int(round(v)))
    assert classes[:2] == ["0", "u"]
    assert classes[2:] == ["1", "1", "2", "3", "4", "5"]  # quantiles of the six
    assert legend[0] == ("0", "0") and legend[-1] == ("u", None)
    assert ("1", "1 – 2") in legend and ("5", "1,000") in legend
    few, legend = bucket_classes([7.0, 7.0, 9.0], str)
    assert few == ["1", "1", "5"] and legend == [("1", "7.0"), ("5", "9.0")]


def test_figure_legends_per_quantity(branchy: ModelReport) -> None:
    figure = ModelGraph(branchy).figure("zh")
    legends = {legend.key: legend for legend in figure.legends}
    assert list(legends) == ["p", "m", "f", "t"]
    assert [(e.css, e.text) for e in legends["t"].entries] == [("gu", "未测量")]
    assert all(e.text for legend in figure.legends for e in legend.entries)


CSS = (resource_dir("templates") / "assets" / "style.css").read_text(encoding="utf-8")
GRAPH_CSS = CSS[CSS.index("/* Model graph */") :]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_box_colours_keep_text_readable(scheme: str) -> None:
    from tests.test_site_css import schemes

    block = GRAPH_CSS.split("@media (prefers-color-scheme: dark)")[scheme == "dark"]
    fills = dict(re.findall(r"--(g[0-5u]):\s*(#[0-9a-fA-F]{6})", block))
    assert sorted(fills) == ["g0", "g1", "g2", "g3", "g4", "g5", "gu"]
    text = schemes()[scheme]["fg"]
    low = {
        name: round(contrast(text, fill), 2)
        for name, fill in fills.items()
        if contrast(text, fill) < 4.5
    }
    assert low == {}


def test_graph_styles_are_one_section_at_the_end() -> None:
    assert CSS.count("/* Model graph */") == 1
    assert "url(" not in GRAPH_CSS and "@import" not in GRAPH_CSS
    for quantity in ("p", "m", "f", "t"):
        assert f".lq-{quantity}" in GRAPH_CSS


# ---------------------------------------------------------------- blocks


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("conv2_block1_1_conv", "conv2_block1"),  # ResNet
        ("conv2_block1_out", "conv2_block1"),
        ("conv3_block7_0_bn", "conv3_block7"),  # DenseNet
        ("pool2_conv", "pool2"),
        ("block2a_expand_conv", "block2a"),  # EfficientNet
        ("block_13_expand_BN", "block_13"),  # MobileNetV2
        ("mixed9_0", "mixed9"),  # Inception
        ("mixed_5b", "mixed_5b"),  # Inception-ResNet
        ("block35_1_mixed", "block35"),
        ("convnext_tiny_stage_0_block_2_gelu", "convnext_tiny_stage_0_block_2"),
        ("expanded_conv_3_squeeze_excite_conv_1", "expanded_conv_3"),  # MobileNetV3
        ("conv1_pad", "conv1"),
        ("stem_bn", "stem"),
        ("predictions", "predictions"),
    ],
)
def test_block_keys_of_real_layer_names(name: str, key: str) -> None:
    assert name_key(name) == key


def test_cell_suffixes_and_keras_names() -> None:
    assert name_key("normal_add_1_9", cells=True) == "…_9"  # NASNet
    assert name_key("reduction_concat_reduce_4", cells=True) == "…_reduce_4"
    assert name_key("separable_conv_1_bn_reduction_left1_stem_1", cells=True) == "…_stem_1"
    assert name_key("block35_1_mixed", extra=1) == "block35_1"
    assert is_keras_name("conv2d_15", "Conv2D")
    assert is_keras_name("batch_normalization", "BatchNormalization")
    assert is_keras_name("re_lu_3", "ReLU")
    assert not is_keras_name("conv1_conv", "Conv2D")


def report_of(names_and_classes: list[tuple[str, str]], **extra: object) -> tuple[LayerReport, ...]:
    zero = Derivation(0, "zero", Text("", ""))
    return tuple(
        LayerReport(
            index=i,
            anchor=f"layer-{i}",
            name=name,
            class_name=cls,
            output_shapes=(SHAPE,),
            dtype="float32",
            params=Derivation(10 * i, "formula", Text("", "")),
            keras_params=10 * i,
            trainable_params=10 * i,
            non_trainable_params=0,
            activation=zero,
            inbound=(names_and_classes[i - 1][0],) if i else (),
            **extra,  # type: ignore[arg-type]
        )
        for i, (name, cls) in enumerate(names_and_classes)
    )


def test_inception_branches_join_the_concatenation_they_lead_to() -> None:
    names = [
        ("mixed0", "Concatenate"),
        ("conv2d_12", "Conv2D"),
        ("batch_normalization_12", "BatchNormalization"),
        ("activation_12", "Activation"),
        ("average_pooling2d_1", "AveragePooling2D"),
        ("mixed1", "Concatenate"),
        ("avg_pool", "GlobalAveragePooling2D"),
        ("predictions", "Dense"),
    ]
    blocks = model_blocks(report_of(names), 200)
    assert [(b.label, b.rows) for b in blocks] == [
        ("mixed0", (0,)),
        ("mixed1", (1, 2, 3, 4, 5)),
        ("avg_pool", (6,)),
        ("predictions", (7,)),
    ]


def test_long_runs_split_and_too_many_blocks_merge() -> None:
    names = [(f"block35_{b}_conv_{k}", "Conv2D") for b in range(1, 11) for k in range(8)]
    blocks = model_blocks(report_of(names), 200)
    assert len(names) > MAX_BLOCK_ROWS
    assert [b.label for b in blocks] == [f"block35_{b}" for b in range(1, 11)]
    merged = model_blocks(report_of(names), 4)
    assert len(merged) == 4 and sum(len(b.rows) for b in merged) == len(names)
    assert merged[0].label == "block35_1 … block35_3"


def test_composites_and_small_nested_models_are_blocks_of_their_own(gpt2: ModelReport) -> None:
    blocks = model_blocks(gpt2.layers, 200)
    by_label = {b.label: b.rows for b in blocks}
    assert len(by_label["transformer_layer_0"]) == 8  # the block and its 7 sub-layers
    rows = [row for b in blocks for row in b.rows]
    assert rows == list(range(len(gpt2.layers)))


# ---------------------------------------------------------------- large models


def synthetic(rows: int, slug: str = "big") -> ModelReport:
    """A ResNet-like model of ``rows`` rows: blocks of four, each with a skip."""
    names: list[tuple[str, str]] = [("input_layer", "InputLayer")]
    while len(names) < rows:
        b = len(names) // 4
        for part in ("1_conv", "1_bn", "2_conv", "add"):
            names.append((f"conv{b // 8 + 2}_block{b % 8 + 1}_{part}", "Conv2D"))
    names = names[:rows]
    layers = list(report_of(names))
    for i, row in enumerate(layers):
        if row.name.endswith("_add") and i >= 4:
            layers[i] = replace(row, inbound=(names[i - 1][0], names[i - 4][0]))
    base = derive_model(lenet_facts(slug=slug, title_en=slug, title_zh=slug))
    return replace(base, slug=slug, layers=tuple(layers))


def test_a_large_model_collapses_into_blocks_with_a_page_for_the_whole() -> None:
    report = synthetic(1000)
    graph = ModelGraph(report)
    started = time.perf_counter()
    inline = graph.figure("en")
    full = graph.figure("en", full_page=True)
    elapsed = time.perf_counter() - started
    # measured about 0.3 s on the 2-core development machine: 4 s leaves room for CI
    assert elapsed < 4.0
    assert needs_graph_page(report) and inline.collapsed and inline.page == "big-graph.html"
    assert inline.blocks and inline.boxes <= INLINE_MAX_ROWS
    every = Counter(range(1000))
    assert drawn_rows(str(inline.svg)) == every
    assert drawn_rows(str(full.svg)) == every
    soup = soup_of(str(inline.svg))
    block = soup.select_one("a.graph-block[data-rows]")
    first = str(block["data-rows"]).split()[0]
    assert block["href"] == f"big-graph.html#r{first}"
    full_soup = soup_of(str(full.svg))
    assert full_soup.select_one(f'[id="r{first}"]') is not None
    assert full_soup.select_one('a[data-row="5"]')["href"] == "big.html#layer-5"
    assert graph_page_path("big", "zh") == "zh/big-graph.html"


def test_two_hundred_rows_stay_under_300_kb() -> None:
    report = synthetic(INLINE_MAX_ROWS)
    figure = ModelGraph(report).figure("en")
    assert not figure.collapsed and figure.page is None
    # measured: 119 KB (en), 123 KB (zh)
    assert len(str(figure.svg).encode()) < 300_000
    assert len(str(ModelGraph(report).figure("zh").svg).encode()) < 300_000


def test_full_graph_pages_are_part_of_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_module, "INLINE_MAX_ROWS", 12)  # a small site, quickly
    report = synthetic(20, "wide")
    render_site([report], tmp_path, base_url="https://example.org/site/")
    for lang, other in (("en", "zh"), ("zh", "en")):
        page = parse(tmp_path / lang / "wide-graph.html")
        assert page.select_one("figure.model-graph a.graph-node[data-row]")
        assert page.select_one(f'nav.lang-switch a[href="../{other}/wide-graph.html"]')
        model = parse(tmp_path / lang / "wide.html")
        assert model.select_one('figure.model-graph a[href="wide-graph.html"]')
    assert broken_links(tmp_path) == []
    sitemap = (tmp_path / "sitemap.xml").read_text()
    assert "https://example.org/site/zh/wide-graph.html" in sitemap


# ---------------------------------------------------------------- layout


def test_layout_keeps_boxes_apart_and_clusters_around_their_members() -> None:
    graph = Graph()
    graph.add_cluster("c", None)
    graph.add_vertex("a", 100, 40, None)
    graph.add_vertex("b", 100, 40, "c")
    graph.add_vertex("d", 100, 40, "c")
    graph.add_vertex("e", 100, 40, None)
    graph.edges = [("a", "b"), ("b", "d"), ("a", "e"), ("d", "e"), ("a", "c"), ("c", "e")]
    drawing = layout(graph)
    cx, cy, cw, ch = drawing.boxes["c"]
    for key in ("b", "d"):
        x, y, w, h = drawing.boxes[key]
        assert cx <= x and x + w <= cx + cw and cy <= y and y + h <= cy + ch
    for one, two in (("a", "c"), ("a", "e"), ("c", "e")):
        x1, y1, w1, h1 = drawing.boxes[one]
        x2, y2, w2, h2 = drawing.boxes[two]
        assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    assert all(len(route) >= 2 for route in drawing.routes)
    assert drawing.routes[0][0][1] == 40 and drawing.routes[0][-1][1] == drawing.boxes["b"][1]
    assert layout(graph) == drawing
