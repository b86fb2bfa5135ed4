"""The published site, checked the way its readers meet it.

One real ``reportgen build --no-profile --models lenet`` (TensorFlow, about 5 s) is shared
by every test here: the W3C Nu HTML checker, the link check, the external-request check,
a second build for byte-for-byte determinism, and headless Chromium (driven by Playwright)
at a phone's and a desktop's width. The checker needs Java and the browser tests need
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
from typing import TYPE_CHECKING, Any

import pytest

from reportgen.derive import derive_model
from reportgen.model import FlopsCheck, ModelReport, Profile, RuntimeMemory, Text
from reportgen.render.site import render_site
from tests.handmade import layer, lenet_facts
from tests.sitecheck import (
    broken_links,
    chromium,
    describe_messages,
    external_references,
    nu_check,
    parse,
    require_tool,
    visit,
    vnu_jar,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
EPOCH = "1700000000"


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


def test_every_relative_link_and_fragment_resolves(site: Path, hostile_site: Path) -> None:
    assert broken_links(site) == []
    assert broken_links(hostile_site) == []


def test_pages_request_nothing_from_outside(site: Path, hostile_site: Path) -> None:
    assert external_references(site) == []
    assert external_references(hostile_site) == []


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


def test_nu_html_checker_finds_no_error(site: Path, hostile_site: Path) -> None:
    require_tool(vnu_jar() is not None, "vnu.jar is missing (pip install -e '.[test]')")
    require_tool(shutil.which("java") is not None, "Java is missing (apt-get install java)")
    files = [
        path
        for root in (site, hostile_site)
        for suffix in ("*.html", "*.css", "*.svg")
        for path in sorted(root.rglob(suffix))
    ]
    assert len([f for f in files if f.suffix == ".html"]) == 12
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
