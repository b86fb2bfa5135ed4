"""A report in a notebook: the site's partials and stylesheet in one HTML fragment, and a
plain-text table for terminals and logs.

The fragment is the model page's own architecture table, totals, measurements and
derivations (``templates/model/*.html``), rendered through the site's Jinja environment
(:func:`reportgen.render.site.render_fragment`) once per language. Both languages are in
the fragment, and a pair of radio buttons switches between them with CSS alone: a
notebook may run no script, and nothing is fetched. The site's stylesheet comes along
scoped under one wrapper class (:func:`scoped_css`), so it styles the report and nothing
else of the notebook.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from reportgen.i18n import HTML_LANG, translations
from reportgen.model import LANGUAGES, LayerReport, ModelReport
from reportgen.resources import resource_dir
from reportgen.units import fmt_bytes, fmt_int, fmt_shape

if TYPE_CHECKING:
    from reportgen.diff import Metric, ModelDiff

SCOPE = "reportgen-nb"
"""The wrapper's class: every rule of the site's stylesheet is scoped under it."""
_ROOT_SELECTORS = re.compile(r"^(:root|html|body)\b")
_ids = itertools.count(1)


# ------------------------------------------------------------------------------ styles


def scoped_css(css: str, scope: str = SCOPE) -> str:
    """``css`` with every selector put inside ``.scope``: ``:root``, ``html`` and ``body``
    become the wrapper itself, anything else a descendant of it. ``@media`` blocks keep
    their condition, their rules scoped the same way. Comments are dropped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return "".join(_scoped_rules(css, f".{scope}")).strip() + "\n"


def _scoped_rules(css: str, scope: str) -> Iterator[str]:
    pos = 0
    while True:
        brace = css.find("{", pos)
        if brace < 0:
            return
        head = css[pos:brace].strip()
        end = _matching_brace(css, brace)
        body = css[brace + 1 : end]
        if head.startswith("@"):
            yield f"{head} {{\n{''.join(_scoped_rules(body, scope))}}}\n"
        else:
            selectors = ", ".join(_scoped_selector(s.strip(), scope) for s in head.split(","))
            yield f"{selectors} {{{body}}}\n"
        pos = end + 1


def _matching_brace(css: str, start: int) -> int:
    depth = 0
    for index in range(start, len(css)):
        if css[index] == "{":
            depth += 1
        elif css[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced braces in the stylesheet")


def _scoped_selector(selector: str, scope: str) -> str:
    if _ROOT_SELECTORS.match(selector):
        return _ROOT_SELECTORS.sub(scope, selector)
    return f"{scope} {selector}"


@functools.cache
def notebook_css() -> str:
    """The site's stylesheet scoped to the wrapper, then the notebook's own rules."""
    templates = resource_dir("templates")
    site = (templates / "assets" / "style.css").read_text(encoding="utf-8")
    own = (templates / "notebook.css").read_text(encoding="utf-8")
    return scoped_css(site) + own


# ------------------------------------------------------------------------------ HTML

_ID_ATTRIBUTES = re.compile(r'\b(id|for|aria-labelledby|aria-describedby)="([^"]*)"')
_FRAGMENT_LINKS = re.compile(r'\bhref="#([^"]*)"')


def _prefixed_ids(html: str, prefix: str) -> str:
    """Every id (and what refers to one) prefixed: a notebook shows many reports, each in
    two languages, on one page, and an id must be unique on it."""
    html = _ID_ATTRIBUTES.sub(
        lambda m: f'{m[1]}="{" ".join(prefix + part for part in m[2].split())}"', html
    )
    return _FRAGMENT_LINKS.sub(lambda m: f'href="#{prefix}{m[1]}"', html)


def _for_notebook(report: ModelReport) -> ModelReport:
    """The report without links to trace files: a notebook has no site to hold them."""
    if report.profile is None:
        return report
    profile = replace(
        report.profile, trace_href=None, profile_href=None, profile_zip_href=None, events_href=None
    )
    return replace(report, profile=profile)


def _switched(uid: str, lang: str, panels: dict[str, str], template: str) -> str:
    """Both languages' panels in the wrapper, ``lang`` shown first, one click to the other."""
    from reportgen.render.site import LANGUAGE_NAMES, render_fragment

    languages = [
        {"code": code, "label": LANGUAGE_NAMES[code], "hreflang": HTML_LANG[code]}
        for code in LANGUAGES
    ]
    return render_fragment(
        template,
        lang,
        uid=uid,
        shown=lang,
        languages=languages,
        panels={code: _prefixed_ids(html, f"{uid}-{code}-") for code, html in panels.items()},
        css=notebook_css(),
    )


def report_html(report: ModelReport, lang: str) -> str:
    """The notebook view of one report (``Report._repr_html_``)."""
    from reportgen.render.site import layer_families, model_figures, render_fragment

    shown = _for_notebook(report)
    panels = {
        code: render_fragment(
            "notebook_model.html",
            code,
            report=shown,
            families=layer_families(shown),
            figures=model_figures(shown),
            root="",
            perfetto_url=None,
        )
        for code in LANGUAGES
    }
    return _switched(f"rg{next(_ids)}", lang, panels, "notebook.html")


@dataclass(frozen=True)
class DiffRow:
    """One layer of a comparison: its cells, and whether it changed."""

    name: str
    class_text: str
    status: str
    """``same``, ``changed``, ``added`` or ``removed``."""
    cells: dict[str, str]
    """Metric key → the value, or ``old → new (±change)`` where it changed."""


def _cell(metric: Metric, value: Any) -> str:
    if value is None:
        return "—"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "unknown"
    return metric.fmt(value)


def diff_rows(old: ModelReport, new: ModelReport, diff: ModelDiff) -> list[DiffRow]:
    """Every layer of the new report (in its order), then the removed ones; a changed
    layer's cells say how it changed, as ``reportgen diff`` does."""
    from reportgen.diff import METRICS
    from reportgen.render.data import layer_data

    changed = {layer.name: layer for layer in diff.layers}
    rows = []
    for layer in new.layers:
        found = changed.get(layer.name)
        data = layer_data(layer)
        cells = {
            m.key: found.changes[m.key].text()
            if found is not None and m.key in found.changes
            else _cell(m, data.get(m.layer_field))
            for m in METRICS
        }
        status = found.status if found is not None else "same"
        class_text = found.class_text() if found is not None else layer.class_name
        rows.append(DiffRow(layer.name, class_text, status, cells))
    for layer_diff in diff.layers:
        if layer_diff.status == "removed":
            cells = {
                m.key: layer_diff.changes[m.key].text() if m.key in layer_diff.changes else "—"
                for m in METRICS
            }
            rows.append(DiffRow(layer_diff.name, layer_diff.class_text(), "removed", cells))
    return rows


def comparison_html(old: ModelReport, new: ModelReport, diff: ModelDiff, lang: str) -> str:
    """The notebook view of ``compare(a, b)``: changed rows highlighted."""
    from reportgen.diff import METRICS
    from reportgen.render.site import render_fragment

    rows = diff_rows(old, new, diff)
    totals = {m.key: diff.totals[m.key].text() for m in METRICS}
    panels = {
        code: render_fragment(
            "notebook_compare.html",
            code,
            old=old,
            new=new,
            status=diff.status,
            metrics=[(m.key, m.label) for m in METRICS],
            rows=rows,
            totals=totals,
        )
        for code in LANGUAGES
    }
    return _switched(f"rg{next(_ids)}", lang, panels, "notebook.html")


# ------------------------------------------------------------------------------ text


def _indented(layer: LayerReport) -> str:
    return "  " * layer.depth + (layer.name.rsplit("/", 1)[-1] if layer.block else layer.name)


def _count_cell(value: int | None, formula: str | None, unknown: str) -> str:
    if value is None:
        return unknown
    shown = fmt_int(value)
    return f"{shown}\n{formula}" if formula and formula != shown else shown


def report_text(report: ModelReport, lang: str) -> str:
    """A plain-text table like Keras's ``model.summary()``, with each formula under its
    number, then the totals checked against the reference (``Report.__str__``)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    _ = translations(lang).gettext
    unknown = _("cannot be derived")
    reference = report.reference.get(lang)
    table = Table(title=report.title.get(lang), box=box.ROUNDED, show_lines=True)
    table.add_column(_("Layer"))
    table.add_column(_("Output shape"))
    table.add_column(_("Parameters"), justify="right")
    table.add_column(_("Output memory"), justify="right")
    table.add_column(_("FLOPs"), justify="right")
    for layer in report.layers:
        params = _count_cell(layer.params.value, _formula(layer.params), unknown)
        if not layer.params_match:
            params += f"\n≠ {reference}: {fmt_int(layer.keras_params)}"
        activation = layer.activation
        memory = unknown if activation.value is None else fmt_bytes(activation.value)
        if activation.value is not None and activation.formula is not None:
            memory += f"\n{activation.formula.text}"
        flops = (
            "—"
            if layer.flops is None
            else _count_cell(layer.flops.value, _formula(layer.flops), unknown)
        )
        table.add_row(
            f"{_indented(layer)}\n({layer.class_name})",
            fmt_shape(layer.output_shape) if layer.output_shapes else "—",
            params,
            memory,
            flops,
        )
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=140, color_system=None, force_terminal=False, force_jupyter=False
    )
    console.print(table)
    for label, value in _total_lines(report, lang):
        console.print(f"{label}: {value}", highlight=False, soft_wrap=True)
    return buffer.getvalue()


def _formula(derivation: Any) -> str | None:
    return derivation.formula.text if derivation.formula is not None else None


def _total_lines(report: ModelReport, lang: str) -> list[tuple[str, str]]:
    _ = translations(lang).gettext
    totals = report.totals
    unknown = _("cannot be derived")
    reference = report.reference.get(lang)
    if totals.params is None:
        params = f"{unknown} ({reference}: {fmt_int(totals.keras_params)})"
    elif totals.params == totals.keras_params:
        params = f"{fmt_int(totals.params)} (= {reference})"
    else:
        params = f"{fmt_int(totals.params)} (≠ {reference}: {fmt_int(totals.keras_params)})"
    lines = [
        (_("Parameters"), params),
        (_("Parameter memory"), fmt_bytes(totals.param_bytes)),
        (
            _("Output memory"),
            unknown if totals.activation_bytes is None else fmt_bytes(totals.activation_bytes),
        ),
        (_("FLOPs"), unknown if totals.flops is None else fmt_int(totals.flops)),
    ]
    return lines
