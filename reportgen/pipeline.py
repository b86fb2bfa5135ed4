"""The stages glued together: collected directories → report models → a published site."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reportgen.articles import read_article
from reportgen.derive import derive_model
from reportgen.errors import CheckError, ReportgenError
from reportgen.facts import read_facts
from reportgen.model import ModelReport, Text
from reportgen.publish import publish
from reportgen.render.site import copy_trace_files, render_site


def find_collected(dirs: Iterable[Path]) -> list[Path]:
    """Model directories (holding ``facts.json``) under each given directory, or itself."""
    found: list[Path] = []
    for root in dirs:
        if (root / "facts.json").is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise ReportgenError(f"{root}: no such directory of collected models")
        children = sorted(p.parent for p in root.glob("*/facts.json"))
        if not children:
            raise ReportgenError(f"{root}: holds no collected model (no */facts.json)")
        found.extend(children)
    return found


def _article(model_dir: Path) -> Text | None:
    """The collected articles: regular UTF-8 files inside ``model_dir``, or none at all.

    A collected folder may come from another machine (a CI artifact); an article that is a
    link, a directory or anything but a plain file is refused rather than published.
    """
    texts = {}
    for lang in ("en", "zh"):
        path = model_dir / f"article.{lang}.md"
        texts[lang] = read_article(path, model_dir) if os.path.lexists(path) else ""
    if not any(texts.values()):
        return None
    return Text(texts["en"] or texts["zh"], texts["zh"] or texts["en"])


def load_report(model_dir: Path) -> ModelReport:
    facts = read_facts(model_dir / "facts.json")
    return derive_model(facts, _article(model_dir))


def load_reports(
    model_dirs: Iterable[Path],
    order: list[str] | None = None,
    builtin: Mapping[str, str] | None = None,
) -> tuple[list[ModelReport], dict[str, Path]]:
    """The reports, in the configuration's order, and the directory each was read from.

    ``builtin`` maps the slug of each built-in reference model to its source
    (:meth:`reportgen.config.Config.builtin_sources`): a report of that slug collected
    from that source is marked :attr:`ModelReport.builtin`.
    """
    builtin = builtin or {}
    loaded = []
    for model_dir in model_dirs:
        report = load_report(model_dir)
        if builtin.get(report.slug) == report.source:
            report = dataclasses.replace(report, builtin=True)
        loaded.append((report, model_dir))
    slugs = [report.slug for report, _ in loaded]
    duplicates = {s for s in slugs if slugs.count(s) > 1}
    if duplicates:
        raise ReportgenError(f"the slug {sorted(duplicates)[0]!r} was collected twice")
    # The configuration's order, as build lists them; models it does not name, by name.
    rank = {slug: i for i, slug in enumerate(order or ())}
    loaded.sort(key=lambda item: (rank.get(item[0].slug, len(rank)), item[0].slug))
    return [report for report, _ in loaded], {report.slug: d for report, d in loaded}


def check_reports(reports: Iterable[ModelReport], strict: bool) -> list[str]:
    """Every disagreement as one line; with ``strict`` any of them is a :class:`CheckError`."""
    problems = [f"{r.slug}: {m.describe()}" for r in reports for m in r.mismatches]
    if strict and problems:
        raise CheckError(
            f"{problems[0]} (and {len(problems) - 1} more)" if len(problems) > 1 else problems[0]
        )
    return problems


def publish_site(
    reports: list[ModelReport],
    dirs_by_slug: dict[str, Path],
    out: Path,
    base_url: str | None = None,
    failures: dict[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> None:
    """Render into a temporary directory, copy each model's trace files, swap into ``out``.

    ``files`` (site path → text) are written too: the histories of models that failed.
    """

    def build(tmp: Path) -> None:
        written = set(render_site(reports, tmp, failures, base_url))
        for path, text in (files or {}).items():
            if path in written:
                raise ReportgenError(f"two outputs want the same path {path!r}")
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / path).write_text(text, encoding="utf-8", newline="\n")
        for report in reports:
            if report.profile is not None:
                copy_trace_files(dirs_by_slug[report.slug], report.profile, tmp)

    publish(out, build)
