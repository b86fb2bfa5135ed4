"""The golden site: the pages of two built-in models, rendered without TensorFlow.

``tests/gold/facts/<slug>/facts.json`` are what ``reportgen collect`` wrote for the Keras
LeNet and for ``lenet-tf`` (the same network in raw TensorFlow, reported by name scope),
profiled, on one machine; their articles are the packaged ones. Rendered here with
``SOURCE_DATE_EPOCH`` fixed, every page, chart and ``data/<slug>.json`` must equal
``tests/gold/site/`` byte for byte once the version numbers are scrubbed. Only the files a
build copies unchanged from the package (style sheet, script, JSON Schema) are left out.

After an intended change to what a page says or how it looks::

    REPORTGEN_UPDATE_GOLD=1 pytest tests/test_gold.py    # then review `git diff tests/gold`

The facts change only when collection changes. ``tests/test_tf_cli.py`` notices that: its
real build of the LeNet must publish the gold ``data/lenet.json``, measured times aside.
Refresh them with ``reportgen collect --models lenet,lenet-tf --out <tmp>`` and copy each
``facts.json`` over the one here (the traces and raw profiles are not needed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reportgen.config import builtin_config
from reportgen.pipeline import load_reports
from reportgen.render.site import render_site
from tests.goldtest import VERSION_SCRUBS, compare

GOLD = Path(__file__).parent / "gold"
GOLD_FACTS = GOLD / "facts"
GOLD_SITE = GOLD / "site"
SLUGS = ("lenet", "lenet-tf")

COPIED_FROM_THE_PACKAGE = ("assets/", "data/report.schema.json", ".nojekyll")


def collected(work: Path) -> list[Path]:
    """Collected folders as ``collect`` leaves them: the gold facts and the articles."""
    config = builtin_config()
    dirs = []
    for spec in config.select(list(SLUGS)):
        model_dir = work / spec.slug
        model_dir.mkdir(parents=True)
        shutil.copyfile(GOLD_FACTS / spec.slug / "facts.json", model_dir / "facts.json")
        for lang, article in (("en", spec.article_en), ("zh", spec.article_zh)):
            assert article is not None
            shutil.copyfile(article, model_dir / f"article.{lang}.md")
        dirs.append(model_dir)
    return dirs


def test_golden_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    config = builtin_config()
    reports, _ = load_reports(
        collected(tmp_path / "collected"),
        [spec.slug for spec in config.models],
        config.builtin_sources(),
    )
    assert [report.builtin for report in reports] == [True, True]
    render_site(reports, tmp_path / "site")
    compare(tmp_path / "site", GOLD_SITE, VERSION_SCRUBS, skip=COPIED_FROM_THE_PACKAGE)
