"""The published site, checked the way its readers meet it.

One real ``reportgen build --no-profile --models lenet`` (TensorFlow, about 5 s) is shared
by every test here, beside render-only sites made from hand-made facts (no TensorFlow): one
whose names and titles are made to break HTML, one of wide tables and graphs (ResNet50's
long names and 5-digit formulas, keras-hub blocks), and the same drawn as a large model's
(the graph by blocks, the whole graph on a page of its own). Checked: the W3C Nu HTML
checker, the link check, the external-request check, a second build for byte-for-byte
determinism, and in headless Chromium (driven by Playwright) at a phone's and a desktop's
width: the pages' layout, an axe-core accessibility audit of every kind of page in both
colour schemes, the architecture table fitting a desktop, and the model graph (rows, links,
size, contrast, escaping, keyboard). The checker needs Java and the browser tests need
Playwright and ``/usr/bin/chromium``: without them those tests skip, except where
``REPORTGEN_REQUIRE_BROWSER=1`` (CI) makes the skip a failure.

``REPORTGEN_UPDATE_SCREENSHOTS=1`` writes the screenshots to ``docs/screenshots/`` (for
the README); otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from reportgen.derive import derive_model
from reportgen.model import FlopsCheck, ModelReport, Profile, RuntimeMemory, Text
from reportgen.render.site import render_site
from tests.handmade import layer, lenet_facts
from tests.sitecheck import (
    axe_violations,
    broken_links,
    chromium,
    describe_messages,
    describe_violations,
    external_references,
    nu_check,
    parse,
    require_tool,
    visit,
    vnu_jar,
)
from tests.sitefacts import hub_facts, resnet_facts

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
EPOCH = "1700000000"
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")


def build_lenet(out: Path) -> None:
    """``reportgen build --no-profile --models lenet`` in a clean directory, repeatably."""
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    command = ["build", "--no-profile", "--models", "lenet", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "reportgen", *command],
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "site"
    build_lenet(out)
    return out


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A render-only site whose names and titles are made to break HTML."""
    out = tmp_path_factory.mktemp("hostile")
    evil = '<script>alert("x")</script> & "quotes" \'too\''
    facts = lenet_facts(
        layers=(
            layer("in<put>", "InputLayer", (None, 3), (None, 3)),
            layer(
                evil, "Dense", (None, 3), (None, 2), (("kernel", (3, 2)),), units=2, use_bias=False
            ),
            layer("odd&layer", "MysteryLayer", (None, 2), (None, 2), (("w", (2,)),)),
        ),
        slug="hostile",
        title_en='"><img src=x onerror=alert(1)>',
        title_zh="<b>粗</b> & 细",
    )
    reports = [derive_model(facts), _measured_report()]
    render_site(reports, out, failures={"broken": "a <b>bad</b> & failed build"})
    for href in ("traces/measured.trace.json.gz", "traces/measured.profile.zip"):
        (out / href).parent.mkdir(parents=True, exist_ok=True)
        (out / href).write_bytes(b"")  # stand-ins: only the links to them are checked
    return out


@pytest.fixture(scope="module")
def wide_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A render-only site of wide tables: ResNet50's long names and 5-digit formulas, and
    keras-hub blocks whose sub-layers are named ``transformer_layer_0/self_attention``."""
    out = tmp_path_factory.mktemp("wide")
    render_site([derive_model(resnet_facts()), derive_model(hub_facts())], out)
    return out


@pytest.fixture(scope="module")
def large_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same models drawn as a large model's are: one box per block on the model page,
    and the whole graph on a page of its own (``<slug>-graph.html``). The row count above
    which that happens is lowered, so the pages stay small."""
    out = tmp_path_factory.mktemp("large")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("reportgen.render.graph.INLINE_MAX_ROWS", 10)
        render_site([derive_model(resnet_facts()), derive_model(hub_facts())], out)
    assert (out / "en" / "gpt2-graph.html").is_file()
    return out


@pytest.fixture(scope="module")
def rendered_sites(
    site: Path, hostile_site: Path, wide_site: Path, large_site: Path
) -> tuple[Path, ...]:
    return (site, hostile_site, wide_site, large_site)


def _measured_report() -> ModelReport:
    """A hand-made LeNet with every measurement a profiled build adds (no TensorFlow)."""
    report = derive_model(lenet_facts(slug="measured", title_en="Measured", title_zh="实测"))
    layers = tuple(
        dataclasses.replace(
            layer,
            time_us=12.5 * layer.index if layer.index else None,
            measured_bytes=layer.activation.value if layer.index % 2 else None,
            measured_note=None if layer.index % 2 else Text("No <op> ran.", "没有 <算子> 运行。"),
            measured_flops=layer.flops.value if layer.flops else None,
        )
        for layer in report.layers
    )
    return dataclasses.replace(
        report,
        layers=layers,
        runtime=RuntimeMemory("session <trace>", 1000, 2000, 4, 4),
        flops=FlopsCheck(report.totals.flops or 0, 27_000_000, (), (("Conv2D", 21_000_000),)),
        profile=Profile(
            steps=5,
            device="CPU <0>",
            step_time_us=812.5,
            trace_href="traces/measured.trace.json.gz",
            profile_href="traces/measured/",
            profile_zip_href="traces/measured.profile.zip",
            timed_layers=8,
        ),
        notes=(Text("a note with <markup> & more", "带 <markup> & 的备注"),),
    )


def _site_pages(root: Path) -> list[str]:
    """Every page of a site: the root page (the language chooser), and per language the
    index, each model's page and each full-graph page (``<slug>-graph.html``)."""
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    assert "index.html" in pages and "en/index.html" in pages and "zh/index.html" in pages
    assert [p for p in pages if p.startswith("en/")] == [
        "en/" + p.removeprefix("zh/") for p in pages if p.startswith("zh/")
    ], "a page exists in one language only"
    return pages


def _tree_digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# ------------------------------------------------------------------- structure


def test_pages_in_both_languages(site: Path) -> None:
    for lang, html_lang in (("en", "en"), ("zh", "zh-Hans")):
        for page in ("index.html", "lenet.html"):
            soup = parse(site / lang / page)
            assert soup.html["lang"] == html_lang
            alternates = {
                link["hreflang"]: link["href"] for link in soup.select('link[rel="alternate"]')
            }
            assert set(alternates) == {"en", "zh-Hans", "x-default"}
            switch = soup.select_one("nav.lang-switch a")
            assert switch["href"] == f"../{'zh' if lang == 'en' else 'en'}/{page}"


def test_every_relative_link_and_fragment_resolves(rendered_sites: tuple[Path, ...]) -> None:
    for root in rendered_sites:
        assert broken_links(root) == []


def test_pages_request_nothing_from_outside(rendered_sites: tuple[Path, ...]) -> None:
    for root in rendered_sites:
        assert external_references(root) == []


def test_model_page_reads_as_an_article(site: Path) -> None:
    soup = parse(site / "en" / "lenet.html")
    sections = [s["id"] for s in soup.select("article.report > section")]
    assert sections == [
        "introduction",
        "architecture",
        "derivations",
        "memory",
        "measured",
        "charts",
        "history",
        "reproduce",
    ]
    families = [s["id"] for s in soup.select("section.family")]
    assert families == [
        "family-input",
        "family-convolution",
        "family-pooling",
        "family-reshape",
        "family-dense",
        "family-dropout",
    ]
    assert "parameter sharing" in soup.select_one("#family-convolution").get_text()
    reproduce = soup.select_one("#reproduce pre").get_text()
    assert reproduce.splitlines()[-1] == "reportgen build --models lenet --no-profile"
    for figure in soup.select("figure.chart"):
        assert figure.img["alt"] and figure.figcaption.get_text(strip=True)


# --------------------------------------------------------------- determinism


def test_two_builds_are_byte_identical(site: Path, tmp_path: Path) -> None:
    again = tmp_path / "site"
    build_lenet(again)
    first, second = _tree_digests(site), _tree_digests(again)
    differing = sorted(p for p in first.keys() | second.keys() if first.get(p) != second.get(p))
    assert differing == [], f"these files differ between two identical builds: {differing}"


# ------------------------------------------------------------ Nu HTML checker


def test_nu_html_checker_finds_no_error(rendered_sites: tuple[Path, ...]) -> None:
    require_tool(vnu_jar() is not None, "vnu.jar is missing (pip install -e '.[test]')")
    require_tool(shutil.which("java") is not None, "Java is missing (apt-get install java)")
    roots = rendered_sites
    files = [
        path
        for root in roots
        for suffix in ("*.html", "*.css", "*.svg")
        for path in sorted(root.rglob(suffix))
    ]
    # Every page there is, full-graph pages included.
    pages = {f for f in files if f.suffix == ".html"}
    assert pages == {root / page for root in roots for page in _site_pages(root)}
    assert len([p for p in pages if p.name.endswith("-graph.html")]) == 4
    assert len(pages) >= 5 + 7 + 7 + 11
    messages = nu_check(files)
    errors = [m for m in messages if m.get("type") in ("error", "non-document-error")]
    assert errors == [], describe_messages(errors)


# ------------------------------------------------------------------- browser

PAGE_FACTS = """async () => {
  await document.fonts.ready;
  const root = document.documentElement;
  const maths = [...document.querySelectorAll("math")];
  const boxes = maths.map((m) => m.getBoundingClientRect());
  const wide = [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
    .filter((e) => !e.closest(".table-scroll, .math, pre, .skip-link"))
    .map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""));
  const scrollers = [...document.querySelectorAll(".table-scroll, .math")]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1).length;
  return {
    lang: root.lang,
    width: innerWidth,
    scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth),
    text: document.body.innerText.length,
    maths: maths.length,
    flatMaths: boxes.filter((r) => !(r.width > 0 && r.height > 0)).length,
    mathDisplay: maths.length ? getComputedStyle(maths[0]).display : "",
    brokenImages: [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0))
      .map((i) => i.getAttribute("src")),
    wide: wide.slice(0, 10),
    scrollersPastEdge: scrollers,
  };
}"""

STYLE_FACTS = """() => {
  const style = (selector, property) => {
    const element = document.querySelector(selector);
    return element ? getComputedStyle(element)[property] : null;
  };
  return {
    background: style("body", "backgroundColor"),
    toc: style(".toc", "display"),
    switch: style(".lang-switch", "display"),
  };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("REPORTGEN_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def _save_section(page: Page, selector: str, path: Path) -> None:
    """A screenshot of the window scrolled to an element's top (a full-page screenshot of a
    long page takes Chromium tens of seconds on a desktop's width)."""
    page.evaluate("(selector) => document.querySelector(selector).scrollIntoView()", selector)
    png = page.screenshot()
    path.write_bytes(png)
    assert not _blank(png), f"the screenshot of {selector} is blank"


def _blank(png: bytes) -> bool:
    """A screenshot with (almost) nothing on it: one colour, or a handful of pixels."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    background = max(histogram)
    return sum(histogram) - background < 0.02 * sum(histogram)


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lenet_page_renders_in_chromium(
    site: Path, browser: Browser, screenshot_dir: Path, lang: str, width: int
) -> None:
    height = 812 if width < 600 else 900
    with visit(browser, (site / lang / "lenet.html").as_uri(), width, height, width < 600) as tab:
        facts: dict[str, Any] = tab.page.evaluate(PAGE_FACTS)

        assert facts["lang"] == ("en" if lang == "en" else "zh-Hans")
        assert facts["text"] > 5000, "the page rendered (almost) no text"
        assert facts["scrollWidth"] <= facts["width"], (
            f"the page is wider than the {width}-px window; too wide: {facts['wide']}"
        )
        assert facts["scrollersPastEdge"] == 0
        assert facts["maths"] >= 20, "the page lost its MathML formulas"
        assert facts["flatMaths"] == 0, "a MathML formula has an empty box"
        assert "math" in facts["mathDisplay"], "the browser did not lay <math> out as MathML"
        assert facts["brokenImages"] == []

        png = tab.page.screenshot()
        (screenshot_dir / f"lenet-{lang}-{width}.png").write_bytes(png)
        assert not _blank(png), "the screenshot is blank"
        if width < 600:  # and the first convolution's derivation: prose, MathML, checks
            tab.page.evaluate("document.getElementById('layer-1').scrollIntoView()")
            png = tab.page.screenshot()
            (screenshot_dir / f"lenet-{lang}-{width}-formulas.png").write_bytes(png)
            assert not _blank(png), "the screenshot of the formulas is blank"

        # Checked last, so requests made while scrolling count too.
        assert tab.outside_requests() == [], "the page made requests outside the site"
        assert len(tab.requests) >= 4  # the page, its style sheet and two charts
        assert tab.errors == [], "the page logged errors in the browser's console"


def test_dark_scheme_and_print_styles_apply(site: Path, browser: Browser) -> None:
    with visit(browser, (site / "zh" / "lenet.html").as_uri(), 1280, 900, False) as tab:
        tab.page.emulate_media(media="screen", color_scheme="light")
        light = tab.page.evaluate(STYLE_FACTS)
        tab.page.emulate_media(color_scheme="dark")
        dark = tab.page.evaluate(STYLE_FACTS)
        tab.page.emulate_media(media="print", color_scheme="light")
        printed = tab.page.evaluate(STYLE_FACTS)
    assert light["background"] == "rgb(255, 255, 255)"
    assert dark["background"] == "rgb(13, 17, 23)"
    assert light["toc"] != "none" and printed["toc"] == "none"
    assert printed["switch"] == "none"


# ---------------------------------------------------------------- accessibility


def _axe_pages(site: Path, hostile_site: Path, wide_site: Path, large_site: Path) -> list[Path]:
    """Every page of the built site and of the site made to break HTML, and of the others
    one page of each kind: a model page with its whole graph, one with its graph drawn by
    blocks, and a full-graph page, in either language."""
    return [
        *(root / page for root in (site, hostile_site) for page in _site_pages(root)),
        wide_site / "en" / "resnet.html",
        wide_site / "zh" / "gpt2.html",
        large_site / "zh" / "gpt2.html",
        large_site / "en" / "gpt2-graph.html",
        large_site / "zh" / "resnet-graph.html",
    ]


# A box scrolls (and must take the keyboard's focus) only where it is too narrow: a phone;
# colours differ by scheme: the dark one is checked at a desktop's width.
@pytest.mark.parametrize(("scheme", "width"), [("light", 375), ("dark", 1280)])
def test_axe_finds_no_serious_violation(
    rendered_sites: tuple[Path, ...], browser: Browser, scheme: Scheme, width: int
) -> None:
    """axe-core, the accessibility engine, on every kind of page: root, index, model page,
    full-graph page; a serious or critical violation fails."""
    found = []
    for path in _axe_pages(*rendered_sites):
        with visit(browser, path.as_uri(), width, 900, width < 600) as tab:
            tab.page.emulate_media(color_scheme=scheme)
            violations = axe_violations(tab.page)
        if violations:
            found.append(f"{path.parent.parent.name}/{path.parent.name}/{path.name}:")
            found.append(describe_violations(violations))
    assert found == [], f"axe-core ({scheme}, {width} px):\n" + "\n".join(found)


# ------------------------------------------------------- the architecture table

TABLE_FACTS = """() => {
  const table = document.querySelector("table.layers");
  const box = table.closest(".table-scroll");
  return {
    scrollWidth: box.scrollWidth,
    clientWidth: box.clientWidth,
    pageWidth: document.scrollingElement.scrollWidth,
    headers: [...table.querySelectorAll("thead th")].map((th) => {
      const r = th.getBoundingClientRect();
      return { text: th.textContent.trim(), left: r.left, right: r.right };
    }),
  };
}"""


@pytest.mark.parametrize("page", ["en/resnet.html", "zh/resnet.html", "en/gpt2.html"])
def test_architecture_table_fits_a_desktop_and_scrolls_on_a_phone(
    wide_site: Path, browser: Browser, screenshot_dir: Path, page: str
) -> None:
    """Long layer names, 5-digit formulas and keras-hub sub-layer names: at 1280 px every
    column of the table is in view with no sideways scroll; at 375 px the table may scroll
    in its own box, and the page does not widen."""
    name = page.replace("/", "-").removesuffix(".html")
    with visit(browser, (wide_site / page).as_uri(), 1280, 900, False) as tab:
        desktop: dict[str, Any] = tab.page.evaluate(TABLE_FACTS)
        _save_section(tab.page, "#architecture", screenshot_dir / f"table-{name}-1280.png")
    with visit(browser, (wide_site / page).as_uri(), 375, 812, True) as tab:
        phone: dict[str, Any] = tab.page.evaluate(TABLE_FACTS)
        _save_section(tab.page, "#architecture", screenshot_dir / f"table-{name}-375.png")

    assert desktop["scrollWidth"] <= desktop["clientWidth"], (
        f"the table scrolls sideways at 1280 px: {desktop['scrollWidth']} px in a "
        f"{desktop['clientWidth']}-px box"
    )
    outside = [h["text"] for h in desktop["headers"] if h["left"] < 0 or h["right"] > 1280]
    assert outside == [], f"header cells outside the 1280-px window: {outside}"
    assert len(desktop["headers"]) == 5
    assert phone["pageWidth"] <= 375, f"the table widens the page to {phone['pageWidth']} px"


# ------------------------------------------------------------------ the model graph

GRAPH_ROWS = """() => {
  const figure = document.querySelector("figure.model-graph#graph");
  const drawn = [];
  for (const e of figure.querySelectorAll("[data-row]")) drawn.push(Number(e.dataset.row));
  for (const e of figure.querySelectorAll("[data-rows]")) {
    drawn.push(...e.dataset.rows.split(" ").map(Number));
  }
  const table = [...document.querySelectorAll("table.layers tbody tr[id^='row-']")]
    .map((tr) => Number(tr.id.slice(4)));
  return { drawn: drawn.sort((a, b) => a - b), table };
}"""

GRAPH_LINKS = """() => [...document.querySelectorAll("figure.model-graph a[href]")]
  .map((a) => {
    const url = new URL(a.getAttribute("href"), document.baseURI);
    const here = url.pathname === location.pathname;
    return {
      href: a.getAttribute("href"),
      page: url.pathname,
      id: decodeURIComponent(url.hash.slice(1)),
      found: here ? (url.hash === "" || document.getElementById(url.hash.slice(1)) !== null) : null,
      node: a.classList.contains("graph-node"),
    };
  })"""

GRAPH_BOX = """() => {
  const figure = document.querySelector("figure.model-graph#graph");
  const scroller = figure.querySelector(".graph-scroll");
  const svg = scroller.querySelector("svg");
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return [r.left, r.right, r.width, r.height];
  };
  const style = getComputedStyle(scroller);
  return {
    figure: box(figure),
    scroller: box(scroller),
    svg: box(svg),
    overflowX: style.overflowX,
    scrollWidth: scroller.scrollWidth,
    clientWidth: scroller.clientWidth,
    pageWidth: document.scrollingElement.scrollWidth,
    width: innerWidth,
  };
}"""

# WCAG 2 contrast of the text of each box (and block) against the box's fill, as painted.
GRAPH_CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => v / 255)
      .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const boxes = document.querySelectorAll("figure.model-graph :is(.graph-node, .graph-group)");
  return [...boxes].flatMap((node) => {
    const fill = getComputedStyle(node.querySelector(":scope > rect")).fill;
    if (!fill.startsWith("rgb")) return [];  // an outline only (a nested model)
    return [...node.querySelectorAll(":scope > text, :scope > a > text")].map((text) => ({
      row: node.dataset.row || node.dataset.rows,
      text: text.textContent,
      fill,
      colour: getComputedStyle(text).fill,
      ratio: ratio(getComputedStyle(text).fill, fill),
    }));
  });
}"""


def _graph_pages(site: Path, wide_site: Path, large_site: Path) -> list[Path]:
    return [
        site / "en" / "lenet.html",  # as a real build draws it
        wide_site / "en" / "resnet.html",  # a skip connection and a nested model
        wide_site / "zh" / "gpt2.html",  # keras-hub blocks of sub-layers
        large_site / "en" / "gpt2.html",  # drawn by blocks...
        large_site / "en" / "gpt2-graph.html",  # ...and in full on a page of its own
        large_site / "zh" / "resnet-graph.html",
    ]


def _page_ids(path: Path) -> set[str]:
    return {str(tag["id"]) for tag in parse(path).find_all(id=True)}


def test_graph_draws_each_row_of_the_table_once(
    site: Path, wide_site: Path, large_site: Path, browser: Browser
) -> None:
    for path in _graph_pages(site, wide_site, large_site):
        model_page = path.with_name(path.name.replace("-graph.html", ".html"))
        with visit(browser, model_page.as_uri(), 1280, 900, False) as tab:
            table = tab.page.evaluate(GRAPH_ROWS)["table"]
        with visit(browser, path.as_uri(), 1280, 900, False) as tab:
            drawn = tab.page.evaluate(GRAPH_ROWS)["drawn"]
        assert table and drawn == table, f"{path.name}: the graph's rows are not the table's"


def test_graph_links_lead_to_the_layers(
    site: Path, wide_site: Path, large_site: Path, browser: Browser
) -> None:
    for path in _graph_pages(site, wide_site, large_site):
        with visit(browser, path.as_uri(), 1280, 900, False) as tab:
            links: list[dict[str, Any]] = tab.page.evaluate(GRAPH_LINKS)
        assert any(link["node"] for link in links), f"{path.name}: no node links"
        broken = [link["href"] for link in links if link["found"] is False]
        for link in links:
            if link["found"] is None:  # another page: the model page, or the full graph
                target = Path(link["page"])
                assert target.is_file(), f"{path.name}: {link['href']} -> missing page"
                if link["id"] and link["id"] not in _page_ids(target):
                    broken.append(link["href"])
        assert broken == [], f"{path.name}: links to nothing: {broken[:10]}"


@pytest.mark.parametrize("width", [375, 1280])
def test_graph_fits_its_figure_on_a_phone_and_a_desktop(
    site: Path,
    wide_site: Path,
    large_site: Path,
    browser: Browser,
    screenshot_dir: Path,
    width: int,
) -> None:
    for path in _graph_pages(site, wide_site, large_site):
        with visit(browser, path.as_uri(), width, 812, width < 600) as tab:
            box: dict[str, Any] = tab.page.evaluate(GRAPH_BOX)
            if path.name == "resnet.html":
                _save_section(tab.page, "#graph", screenshot_dir / f"graph-resnet-{width}.png")
        name = f"{path.parent.name}/{path.name} at {width} px"
        assert box["figure"][2] > 0 and box["figure"][3] > 0, f"{name}: the figure has no box"
        assert box["svg"][2] > 0 and box["svg"][3] > 0, f"{name}: the drawing has no box"
        assert box["pageWidth"] <= width, f"{name}: the graph widens the page"
        assert box["scroller"][1] <= width, f"{name}: the graph's box runs past the window"
        fits = box["scrollWidth"] <= box["clientWidth"]
        assert fits or box["overflowX"] in ("auto", "scroll"), f"{name}: cut, not scrolled"


def test_graph_text_is_readable_in_both_schemes(
    wide_site: Path, large_site: Path, browser: Browser
) -> None:
    low = []
    for path in (wide_site / "zh" / "gpt2.html", large_site / "en" / "gpt2.html"):
        for scheme in SCHEMES:
            with visit(browser, path.as_uri(), 1280, 900, False) as tab:
                tab.page.emulate_media(color_scheme=scheme)
                # Every colouring the reader can choose: parameters, memory, FLOPs, time.
                for value in ("p", "m", "f", "t"):
                    tab.page.check(f"#graph input[value='{value}']")
                    texts: list[dict[str, Any]] = tab.page.evaluate(GRAPH_CONTRAST)
                    assert texts, f"{path.name}: no node text"
                    low += [
                        f"{path.name} {scheme} by {value}: row {t['row']} {t['text']!r} "
                        f"{t['colour']} on {t['fill']} = {t['ratio']:.2f}"
                        for t in texts
                        if t["ratio"] < 4.5
                    ]
    assert low == [], "node text below 4.5:1:\n" + "\n".join(low[:20])


def test_graph_shows_markup_in_names_as_text(hostile_site: Path, browser: Browser) -> None:
    evil = '<script>alert("x")</script> & "quotes" \'too\''
    with visit(browser, (hostile_site / "en" / "hostile.html").as_uri(), 1280, 900, False) as tab:
        dialogs: list[str] = []

        def dismissed(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        tab.page.on("dialog", dismissed)
        tab.page.reload(wait_until="load")
        node = tab.page.evaluate(
            """() => {
              const figure = document.querySelector("figure.model-graph#graph");
              const node = figure.querySelector(".graph-node[data-row='1']");
              return {
                title: node.querySelector("title").textContent,
                label: node.querySelector("text").textContent,
                markup: figure.querySelectorAll("script, img, b, foreignObject").length,
              };
            }"""
        )
        assert node["title"].startswith(evil), node["title"]
        label = node["label"].removesuffix("…")
        assert label and evil.startswith(label), node["label"]
        assert node["markup"] == 0, "a name's markup became elements"
        assert dialogs == [] and tab.errors == [], "a script ran"


def test_graph_is_reached_by_keyboard_and_named(wide_site: Path, browser: Browser) -> None:
    with visit(browser, (wide_site / "en" / "resnet.html").as_uri(), 1280, 900, False) as tab:
        reached = None
        for _ in range(400):  # past the table of contents and the table's links
            tab.page.keyboard.press("Tab")
            reached = tab.page.evaluate(
                """() => {
                  const e = document.activeElement;
                  return e && e.closest(".graph-node") ? e.getAttribute("href") : null;
                }"""
            )
            if reached:
                break
        assert reached, "Tab never reached a box of the graph"
        names = tab.page.evaluate(
            """() => {
              const text = (ids) => (ids || "").split(" ").filter(Boolean)
                .map((id) => document.getElementById(id)?.textContent.trim() || "").join(" ");
              const figure = document.querySelector("figure.model-graph#graph");
              const svg = figure.querySelector("svg");
              return {
                figure: text(figure.getAttribute("aria-labelledby")),
                svg: svg.getAttribute("aria-label") || text(svg.getAttribute("aria-labelledby")),
                description: text(svg.getAttribute("aria-describedby")),
                role: svg.getAttribute("role"),
              };
            }"""
        )
    assert names["figure"] or names["svg"], "the graph has no accessible name"
    assert names["description"], "the graph has no description for screen readers"
    assert names["role"], "the drawing has no role (a screen reader would skip it)"
