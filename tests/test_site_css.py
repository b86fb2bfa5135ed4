"""The style sheet: enough contrast in both colour schemes, and nothing fetched from outside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reportgen.resources import resource_dir

CSS = (resource_dir("templates") / "assets" / "style.css").read_text(encoding="utf-8")

# (text colour, background) pairs the style sheet actually puts together.
PAIRS = [
    ("fg", "bg"),
    ("fg", "panel"),
    ("fg", "bad-bg"),
    ("muted", "bg"),
    ("muted", "panel"),
    ("muted", "bad-bg"),
    ("link", "bg"),
    ("link", "panel"),
    ("link", "bad-bg"),
    ("ok", "bg"),
    ("bad", "bg"),
    ("bad", "bad-bg"),
]
AA_NORMAL_TEXT = 4.5


def _variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))


def _root_block(css: str) -> str:
    match = re.search(r":root\s*\{(.*?)\}", css, re.S)
    assert match
    return match.group(1)


def schemes() -> dict[str, dict[str, str]]:
    light = _variables(_root_block(CSS))
    dark_media = CSS.split("@media (prefers-color-scheme: dark)", 1)[1]
    dark = {**light, **_variables(_root_block(dark_media))}
    return {"light": light, "dark": dark}


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_meet_wcag_aa(scheme: str) -> None:
    colours = schemes()[scheme]
    low = {
        f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2)
        for fg, bg in PAIRS
        if contrast(colours[fg], colours[bg]) < AA_NORMAL_TEXT
    }
    assert low == {}, f"below {AA_NORMAL_TEXT}:1 in the {scheme} scheme"


def test_schemes_print_and_phones_are_styled() -> None:
    assert "color-scheme: light dark" in CSS
    assert "@media (prefers-color-scheme: dark)" in CSS
    assert "@media print" in CSS
    assert re.search(r"@media \(max-width: [\d.]+rem\)", CSS)
    assert re.search(r"\.table-scroll\s*\{[^}]*overflow-x:\s*auto", CSS)
    assert re.search(r"\.math\s*\{[^}]*overflow-x:\s*auto", CSS)


def test_fonts_are_the_systems_own_and_cover_chinese() -> None:
    font = re.search(r"--font:([^;]*);", CSS)
    assert font is not None
    for family in ("system-ui", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC"):
        assert family in font.group(1)
    assert "@font-face" not in CSS and "@import" not in CSS
    assert "url(" not in CSS


def test_assets_are_the_only_static_files() -> None:
    assets = sorted(p.name for p in Path(resource_dir("templates"), "assets").iterdir())
    assert assets == ["perfetto.js", "style.css"]


def test_architecture_columns_share_the_whole_width() -> None:
    """The architecture table's fixed columns add up to its width, one per header cell, so
    it fits the article's column (checked in a browser by tests/test_tf_site_build.py)."""
    widths = dict(re.findall(r"table\.layers col\.(col-[\w-]+) \{ width: (\d+)%; \}", CSS))
    assert sum(map(int, widths.values())) == 100
    assert re.search(r"table\.layers \{[^}]*table-layout: fixed", CSS)
    template = (resource_dir("templates") / "model" / "architecture.html").read_text("utf-8")
    columns = re.findall(r'<col class="([\w-]+)">', template)
    assert columns == list(widths)
    assert len(columns) == template.count('<th scope="col"')
