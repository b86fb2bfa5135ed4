"""The notebook view without TensorFlow: the scoped stylesheet, the HTML and text of a
hand-made LeNet report, and ``explain``'s argument errors that come before any model."""

from __future__ import annotations

import re

import pytest

import reportgen
from reportgen.api import Report
from reportgen.derive import derive_model
from reportgen.errors import ConfigError
from reportgen.render.notebook import SCOPE, notebook_css, scoped_css
from tests.handmade import lenet_facts


def test_scoped_css_puts_every_rule_inside_the_wrapper() -> None:
    css = (
        "/* c */ :root { --fg: #000; }\nbody { margin: 0; }\nh2, .a > b { x: 1; }\n"
        "@media (max-width: 30rem) { :root { --fg: #fff; } th, td { y: 2; } }\n"
    )
    assert scoped_css(css, "nb") == (
        ".nb { --fg: #000; }\n.nb { margin: 0; }\n.nb h2, .nb .a > b { x: 1; }\n"
        "@media (max-width: 30rem) {\n.nb { --fg: #fff; }\n.nb th, .nb td { y: 2; }\n}\n"
    )


def test_the_notebook_stylesheet_styles_nothing_outside_the_wrapper() -> None:
    css = re.sub(r"/\*.*?\*/", "", notebook_css(), flags=re.DOTALL)
    selectors = re.findall(r"(?:^|})\s*([^\s@{}][^{}]*?)\s*\{", css)
    assert len(selectors) > 50
    for group in selectors:
        for selector in group.split(","):
            assert selector.strip().startswith(f".{SCOPE}"), selector


@pytest.fixture(scope="module")
def report() -> Report:
    return Report(derive_model(lenet_facts()), "zh")


def test_the_html_holds_both_languages_chinese_first(report: Report) -> None:
    html = report._repr_html_()
    assert html.startswith(f'<div class="{SCOPE}" id="rg')
    assert "(5×5×1+1)×32 = 832" in html
    assert re.search(r'id="rg\d+-pick-zh" checked>', html)
    assert '<div class="rg-panel rg-panel-en" lang="en">' in html
    assert '<div class="rg-panel rg-panel-zh" lang="zh-Hans">' in html
    # Every id is unique on the page, and every in-page link finds its target.
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert set(re.findall(r'href="#([^"]+)"', html)) <= set(ids)
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_the_text_table_is_keras_summary_like(report: Report) -> None:
    text = str(report)
    assert "(5×5×1+1)×32 = 832" in text and "conv1" in text
    assert "参数量: 3,274,634" in text


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("model.txt", {}, "explain(): 'model.txt' is neither a Keras model nor a source"),
        ("frozen.pb", {}, "explain(): a frozen graph (.pb) needs the names of its input"),
        ("m.keras", {"sequence_length": 0}, "explain(): sequence_length must be a positive"),
        (
            "m.keras",
            {"input_shapes": {"ids": []}},
            "explain(): input_shapes.ids must be a non-empty",
        ),
        ("m.keras", {"measure": "yes"}, "explain(): measure must be True or False, got 'yes'"),
    ],
)
def test_bad_arguments_fail_before_any_model(
    model: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        reportgen.explain(model, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_a_missing_file_is_the_command_lines_line() -> None:
    with pytest.raises(reportgen.ReportgenError) as caught:
        reportgen.explain("missing.keras")
    assert str(caught.value).startswith("missing.keras: missing.keras (")
    assert str(caught.value).endswith("missing.keras): no such file")
