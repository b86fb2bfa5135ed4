"""Rendering and publishing on hand-made facts: structure, languages, links, escaping."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from reportgen.derive import derive_model
from reportgen.errors import CheckError, RenderError
from reportgen.facts import FlopsMeasurement, ModelFacts
from reportgen.model import Text
from reportgen.pipeline import check_reports
from reportgen.publish import publish
from reportgen.render.site import (
    ModelFigures,
    layer_families,
    model_figures,
    render_markdown,
    render_site,
)
from tests.handmade import layer, lenet_facts, previous_site
from tests.sitecheck import broken_links, external_references, parse

ARTICLE = Text("## Why\n\nEnglish *article*.", "## 为什么\n\n中文**文章**。")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    reports = [
        derive_model(lenet_facts(), ARTICLE),
        derive_model(lenet_facts(slug="second", title_en="Second", title_zh="第二个")),
    ]
    render_site(reports, out)
    return out


def test_layout(site: Path) -> None:
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {
        "index.html",
        "en/index.html",
        "zh/index.html",
        "en/lenet.html",
        "zh/lenet.html",
        "en/second.html",
        "zh/second.html",
        "data/lenet.json",
        "data/second.json",
        "data/report.schema.json",
        "assets/style.css",
    } <= files


@pytest.mark.parametrize(
    ("lang", "html_lang", "other"), [("en", "en", "zh"), ("zh", "zh-Hans", "en")]
)
def test_model_page_language_and_switch(site: Path, lang: str, html_lang: str, other: str) -> None:
    soup = parse(site / lang / "lenet.html")
    assert soup.html["lang"] == html_lang
    switch = soup.select_one("nav.lang-switch a")
    assert switch["href"] == f"../{other}/lenet.html"
    alternates = {link["hreflang"]: link["href"] for link in soup.select('link[rel="alternate"]')}
    assert alternates == {
        "en": "../en/lenet.html",
        "zh-Hans": "../zh/lenet.html",
        "x-default": "../en/lenet.html",
    }
    current = soup.select_one("nav.lang-switch [aria-current]")
    assert current.name == "span" and current["lang"] == html_lang


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            "index.html",
            {"en": "en/index.html", "zh-Hans": "zh/index.html", "x-default": "index.html"},
        ),
        (
            "zh/index.html",
            {"en": "../en/index.html", "zh-Hans": "../zh/index.html", "x-default": "../index.html"},
        ),
    ],
)
def test_index_pages_point_at_each_other(site: Path, page: str, expected: dict[str, str]) -> None:
    soup = parse(site / page)
    alternates = {link["hreflang"]: link["href"] for link in soup.select('link[rel="alternate"]')}
    assert alternates == expected
    switch = {a["hreflang"]: a["href"] for a in soup.select("nav.lang-switch a")}
    assert set(switch.values()) <= set(expected.values())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_layers_are_explained_by_family(site: Path, lang: str) -> None:
    soup = parse(site / lang / "lenet.html")
    families = {
        section["id"]: [s["id"] for s in section.select("section.derivation")]
        for section in soup.select("section.family")
    }
    assert families == {
        "family-input": ["layer-0"],
        "family-convolution": ["layer-1", "layer-3"],
        "family-pooling": ["layer-2", "layer-4"],
        "family-reshape": ["layer-5"],
        "family-dense": ["layer-6", "layer-8"],
        "family-dropout": ["layer-7"],
    }
    toc = [a["href"] for a in soup.select("nav.toc a")]
    assert toc[:4] == ["#introduction", "#architecture", "#graph", "#derivations"]
    assert "#family-convolution" in toc and toc[-1] == "#reproduce"
    # the largest output (conv1) explains what bytes of output are, with its formula
    memory = soup.select_one("#memory")
    assert [m["alttext"] for m in memory.find_all("math")] == ["28×28×32×4 B = 100,352 B = 98 KiB"]
    assert "float32" in memory.get_text()


def test_reproduce_gives_the_exact_command(site: Path) -> None:
    soup = parse(site / "en" / "lenet.html")
    command = soup.select_one("#reproduce pre").get_text().splitlines()
    # hand-made facts have no profile, as after --no-profile; not a built-in model either
    assert command == ["reportgen build --models lenet --no-profile"]


def test_lede_sentences_are_spaced_per_language(site: Path) -> None:
    english = parse(site / "en" / "lenet.html").select_one("p.lede").get_text()
    assert "3,274,634 parameters. Every parameter" in english
    chinese = parse(site / "zh" / "lenet.html").select_one("p.lede").get_text()
    assert "个参数。本页" in chinese


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_layer_table_rows(site: Path, lang: str) -> None:
    soup = parse(site / lang / "lenet.html")
    rows = soup.select("table.layers tbody tr")
    names = [row.select_one("th").get_text(strip=True) for row in rows]
    assert names == [
        "image",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "flatten",
        "fc1",
        "dropout",
        "fc2",
    ]
    conv1 = rows[1].get_text(" ", strip=True)
    assert "(5×5×1+1)×32 = 832" in conv1
    assert "28×28×32×4 B = 100,352 B = 98 KiB" in conv1
    assert "3136×1024+1024 = 3,212,288" in rows[6].get_text(" ", strip=True)
    assert not soup.select("tr.mismatch")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_derivation_sections_have_mathml(site: Path, lang: str) -> None:
    soup = parse(site / lang / "lenet.html")
    sections = soup.select("section.derivation")
    assert len(sections) == 9
    conv1 = soup.select_one("#layer-1")
    maths = conv1.find_all("math")
    assert [m["alttext"] for m in maths] == [
        "(k_h×k_w×c_in+1)×c_out",
        "(5×5×1+1)×32 = 832",
        "28×28×32×4 B = 100,352 B = 98 KiB",
        "Conv2D 2×k_h×k_w×c_in×c_out×H_out×W_out + BiasAdd H_out×W_out×c_out",
        "Conv2D 2×5×5×1×32×28×28 + BiasAdd 28×28×32 = 1,279,488",
    ]


def test_chinese_page_reads_chinese(site: Path) -> None:
    soup = parse(site / "zh" / "lenet.html")
    text = soup.get_text(" ", strip=True)
    for phrase in ("网络结构", "每个数字从何而来", "参数量", "输出内存", "权值共享", "为什么"):
        assert phrase in text
    assert "Architecture" not in text and "Where each number" not in text
    assert soup.title.get_text() == "LeNet 网络 · reportgen"


def test_english_page_has_article_and_totals(site: Path) -> None:
    soup = parse(site / "en" / "lenet.html")
    assert soup.select_one("#introduction h2").get_text() == "Why"
    totals = soup.select_one("table.totals").get_text(" ", strip=True)
    assert "3,274,634" in totals and "12.49 MiB" in totals


def test_index_lists_models_with_both_languages(site: Path) -> None:
    soup = parse(site / "index.html")
    hrefs = {a["href"] for a in soup.find_all("a")}
    assert {"en/lenet.html", "zh/lenet.html", "en/second.html", "zh/second.html"} <= hrefs
    assert "3,274,634" in soup.get_text()
    zh_index = parse(site / "zh" / "index.html")
    assert zh_index.html["lang"] == "zh-Hans"
    assert "zh/lenet.html" not in {a["href"] for a in zh_index.find_all("a")}
    assert "lenet.html" in {a["href"].rsplit("/", 1)[-1] for a in zh_index.find_all("a")}


def test_every_relative_link_resolves(site: Path) -> None:
    assert broken_links(site) == []


def test_pager_links_models(site: Path) -> None:
    soup = parse(site / "en" / "lenet.html")
    assert soup.select_one('a[rel="next"]')["href"] == "second.html"


def test_data_json_matches_schema(site: Path) -> None:
    schema = json.loads((site / "data" / "report.schema.json").read_text())
    data = json.loads((site / "data" / "lenet.json").read_text())
    jsonschema.validate(data, schema)
    assert data["totals"]["params"] == 3_274_634
    fc1 = next(item for item in data["layers"] if item["name"] == "fc1")
    assert fc1["params_formula"] == "3136×1024+1024 = 3,212,288"
    assert fc1["measured_bytes"] is None and fc1["time_us"] is None


def test_hostile_names_are_shown_literally(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    facts = lenet_facts(
        layers=(
            layer(
                evil, "Dense", (None, 3), (None, 2), (("kernel", (3, 2)),), units=2, use_bias=False
            ),
        ),
        title_en='"><img src=x onerror=alert(1)>',
        title_zh="<b>粗</b>",
    )
    render_site([derive_model(facts)], tmp_path)
    for page in ("en/lenet.html", "zh/lenet.html", "index.html", "en/index.html"):
        html = (tmp_path / page).read_text()
        assert "<script>" not in html and "<img src=x" not in html and "<b>粗" not in html
    for chart in tmp_path.glob("charts/*.svg"):
        if "-scaling." in chart.name:  # batch sizes and bytes only: no layer name in it
            assert "<script>" not in chart.read_text()
            continue
        assert "<script>" not in chart.read_text() and "&lt;script&gt;" in chart.read_text()
    soup = parse(tmp_path / "en" / "lenet.html")
    assert soup.select_one("table.layers tbody th").get_text() == evil
    assert external_references(tmp_path) == []


def test_chinese_markdown_line_breaks_are_not_spaces() -> None:
    html = render_markdown("第一行，\n第二行。\n\n- 一\n- 二\n\nEnglish\nline 中文\n接着")
    assert "<p>第一行，第二行。</p>" in html
    assert "<li>一</li>" in html and "English\nline 中文接着" in html


def test_mismatch_is_shown_and_strict_fails(tmp_path: Path) -> None:
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], keras_params=999)
    report = derive_model(lenet_facts(layers=tuple(layers)))
    render_site([report], tmp_path)
    soup = parse(tmp_path / "en" / "lenet.html")
    assert soup.select_one(".alert") is not None
    assert len(soup.select("tr.mismatch")) == 1
    assert check_reports([report], strict=False)
    with pytest.raises(CheckError, match="conv1"):
        check_reports([report], strict=True)


def _figures(facts: ModelFacts) -> tuple[bool, ...]:
    figures = model_figures(derive_model(facts))
    return dataclasses.astuple(figures)[1:]  # every field but the leading count


def test_model_figures_make_every_comparison_the_page_shows() -> None:
    """The template compares no numbers: each check it shows is a ModelFigures boolean."""
    lenet = derive_model(lenet_facts())
    assert model_figures(lenet) == ModelFigures(
        params=3_274_634,
        params_equal=True,
        trainable_equal=True,
        non_trainable_equal=True,
        disagrees=False,
        params_disagree=False,
        flops_equal=False,  # nothing measured
    )
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], keras_params=999)
    assert _figures(lenet_facts(layers=tuple(layers))) == (False, False, True, True, True, False)
    # FLOPs: equal to TensorFlow's count, or a disagreement that is not a parameter's.
    assert lenet.totals.flops is not None
    for measured, disagrees, flops_equal in ((lenet.totals.flops, False, True), (1, True, False)):
        flops = FlopsMeasurement(total=measured, by_op_type={}, by_layer={})
        figures = _figures(lenet_facts(flops=flops))
        assert figures == (True, True, True, disagrees, False, flops_equal)
    # A Dense without shapes: the total is unknown (not a disagreement), the page leads
    # with the reference's count.
    layers = list(lenet_facts().layers)
    layers[6] = dataclasses.replace(layers[6], input_shapes=(), output_shapes=())
    unknown = derive_model(lenet_facts(layers=tuple(layers)))
    assert unknown.totals.params is None
    assert model_figures(unknown).params == unknown.totals.keras_params == 3_274_634
    assert _figures(lenet_facts(layers=tuple(layers))) == (False, True, True, False, False, False)


def test_a_layer_says_whether_its_measurements_equal_its_derivation() -> None:
    conv = derive_model(lenet_facts()).layers[1]
    assert conv.activation.value is not None and conv.flops is not None
    derived = conv.activation.value
    assert dataclasses.replace(conv, measured_bytes=derived).measured_bytes_match
    assert not dataclasses.replace(conv, measured_bytes=derived + 1).measured_bytes_match
    assert not conv.measured_bytes_match  # nothing measured
    with_flops = dataclasses.replace(conv, measured_flops=conv.flops.value)
    assert with_flops.measured_flops_match and not conv.measured_flops_match
    assert conv.other_output_shapes == ()
    two = dataclasses.replace(conv, output_shapes=((None, 2), (None, 3)))
    assert two.other_output_shapes == ((None, 3),)


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_input_renders_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    reports = [derive_model(lenet_facts(), ARTICLE)]
    render_site(reports, tmp_path / "a")
    render_site(reports, tmp_path / "b")
    assert _tree_hash(tmp_path / "a") == _tree_hash(tmp_path / "b")
    assert "2023-11-14" in (tmp_path / "a" / "en" / "lenet.html").read_text()


def test_failed_build_leaves_previous_site(tmp_path: Path) -> None:
    out = previous_site(tmp_path / "site", "old")

    def failing(tmp: Path) -> None:
        (tmp / "index.html").write_text("half")
        raise RenderError("boom")

    with pytest.raises(RenderError):
        publish(out, failing)
    assert (out / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    publish(out, lambda tmp: (tmp / "index.html").write_text("new"))
    assert (out / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_layer_families_group_in_order_of_appearance() -> None:
    facts = lenet_facts(
        layers=(
            layer("tokens", "InputLayer", (None, 5), (None, 5)),
            layer("embed", "Embedding", (None, 5), (None, 5, 4), (("embeddings", (100, 4)),)),
            layer("odd", "MysteryLayer", (None, 5, 4), (None, 5, 4)),
            layer("lstm", "LSTM", (None, 5, 4), (None, 8), (("kernel", (4, 32)),)),
            layer("odd2", "MysteryLayer", (None, 8), (None, 8)),
        )
    )
    families = layer_families(derive_model(facts))
    assert [(f.key, [x.name for x in f.layers]) for f in families] == [
        ("input", ["tokens"]),
        ("embedding", ["embed"]),
        ("other", ["odd", "odd2"]),
        ("recurrent", ["lstm"]),
    ]
    assert families[2].anchor == "family-other" and families[2].class_names == ("MysteryLayer",)


def test_english_line_breaks_next_to_curly_quotes_stay_spaces() -> None:
    assert "Keras’\n“quoted”" in render_markdown("Keras’\n“quoted” word")
    assert "中文“引号”" in render_markdown("中文“\n引号”")


@pytest.mark.parametrize("measured", [27_800_000, 20_000_000])
def test_flops_difference_is_shown_within_and_beyond_tolerance(
    tmp_path: Path, measured: int
) -> None:
    facts = lenet_facts(flops=FlopsMeasurement(total=measured, by_op_type={}, by_layer={}))
    report = derive_model(facts)
    render_site([report], tmp_path)
    for lang, within in (("en", "within 1%"), ("zh", "在 1% 以内")):
        text = parse(tmp_path / lang / "lenet.html").select_one("table.flops").get_text(" ")
        assert (within in text) == (measured == 27_800_000)
    assert bool(report.mismatches) == (measured == 20_000_000)


def test_base_url_makes_alternates_absolute_and_writes_a_sitemap(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    base = "https://user.github.io/repo/"
    render_site([derive_model(lenet_facts())], tmp_path, base_url=base)
    soup = parse(tmp_path / "zh" / "lenet.html")
    assert soup.select_one('link[rel="canonical"]')["href"] == base + "zh/lenet.html"
    alternates = {link["hreflang"]: link["href"] for link in soup.select('link[rel="alternate"]')}
    assert alternates == {
        "en": base + "en/lenet.html",
        "zh-Hans": base + "zh/lenet.html",
        "x-default": base + "en/lenet.html",
    }
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.parse(tmp_path / "sitemap.xml").getroot()
    locs = [loc.text for loc in root.findall("s:url/s:loc", ns)]
    assert base + "en/lenet.html" in locs and base + "index.html" in locs
    for loc in locs:
        assert loc is not None and (tmp_path / loc.removeprefix(base)).is_file()


def test_without_base_url_links_stay_relative(tmp_path: Path) -> None:
    render_site([derive_model(lenet_facts())], tmp_path)
    soup = parse(tmp_path / "en" / "lenet.html")
    assert soup.select_one('link[rel="canonical"]') is None
    assert not (tmp_path / "sitemap.xml").exists()
