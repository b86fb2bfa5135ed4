"""Render the report models into a site directory: pages per language, data, assets.

Gathers every page first and writes only when all rendered (MkDocs' habit); a page that
fails to render is reported with its path. Refuses to write one path twice (Pelican's).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import markdown
import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, pass_context
from markupsafe import Markup

from reportgen.errors import RenderError, ReportgenError
from reportgen.facts import collected_path
from reportgen.i18n import HTML_LANG, translations
from reportgen.model import LANGUAGES, LayerReport, ModelReport, Profile
from reportgen.render.charts import HISTORY_KINDS, chart_caption
from reportgen.render.data import report_json
from reportgen.render.graph import ModelGraph, graph_page_path, needs_graph_page
from reportgen.render.math import formula_mathml, symbolic_mathml
from reportgen.resources import resource_dir
from reportgen.units import dtype_bytes, fmt_bytes, fmt_int, fmt_percent, fmt_shape, fmt_us
from reportgen.version import __version__

LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}


def build_date() -> str:
    """The build date, from ``SOURCE_DATE_EPOCH`` when set so builds are repeatable."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        if epoch and epoch.isdigit()
        else dt.datetime.now(tz=dt.UTC)
    )
    return when.strftime("%Y-%m-%d")


# A line break between two Chinese characters (or full-width punctuation) is where an
# author wrapped a line, not a space: browsers other than Firefox would show one, so the
# break is removed before rendering. Between Chinese and Latin text it stays a space.
# Curly quotes, dashes and the ellipsis serve both languages: they count as Chinese only
# next to a character that is Chinese for certain.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_SHARED = "\u2014\u2018-\u201d\u2026"
_CJK_LINE_BREAK = re.compile(
    f"(?<=[{_CJK}])[ \t]*\n[ \t]*(?=[{_CJK}{_SHARED}])"
    f"|(?<=[{_CJK}{_SHARED}])[ \t]*\n[ \t]*(?=[{_CJK}])"
)


# What an article's HTML may hold: what Markdown (with the extensions below) writes, and
# a few inline tags authors reach for. Everything else is removed by nh3 (ammonia).
_ARTICLE_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote"),
    *("ul", "ol", "li", "a", "img", "code", "pre", "em", "strong", "del", "sub", "sup"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
_ARTICLE_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
}
# The tables extension aligns a column with exactly these; no other style gets through.
_CELL_ALIGN = {
    "style": {f"text-align: {side};" for side in ("left", "center", "right")},
    "align": {"left", "center", "right"},
}
# Removed with their content (any other unknown tag is removed and its text kept).
_ARTICLE_DROPPED = {"script", "style", "template", "iframe", "object", "embed", "noscript"}
_CODE_LANGUAGE = re.compile(r"language-[\w+#.-]{1,40}")


def _article_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3's attribute filter: a fenced block's language class, a list's start number."""
    if name == "class":
        return value if _CODE_LANGUAGE.fullmatch(value) else None
    if name == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else None
    return value


def render_markdown(text: str) -> Markup:
    """A model article as HTML, sanitised: articles are untrusted text.

    An article comes from a collected folder, which in CI is another job's artifact, so
    the HTML Markdown makes of it goes through an allow-list (nh3): the tags Markdown
    writes for headings, paragraphs, lists, links, images, code, emphasis, quotes, rules
    and tables, plus ``del``, ``sub``, ``sup`` and ``br``; attributes only ``href`` and
    ``title`` on links, ``src``, ``alt`` and ``title`` on images, a ``language-…`` class
    on code, ``start`` on numbered lists and the tables extension's ``text-align`` on
    cells. A URL must be http, https, mailto or relative: a ``javascript:`` or ``data:``
    link keeps its text and loses the URL.

    Raw HTML in an article is allowed through the same list, not shown as escaped text:
    an author's ``<sup>2</sup>`` or ``<br>`` works, any other tag (``<div>``, ``<span
    onclick=…>``) is removed and its text kept, so no words are lost and no markup shows
    up on the page; ``script``, ``style``, ``iframe``, ``object``, ``embed``,
    ``template`` and ``noscript`` are removed with their content. Comments are removed.
    """
    text = _CJK_LINE_BREAK.sub("", text)
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=_ARTICLE_TAGS,
        clean_content_tags=_ARTICLE_DROPPED,
        attributes=_ARTICLE_ATTRIBUTES,
        attribute_filter=_article_attribute,
        tag_attribute_values={"th": _CELL_ALIGN, "td": _CELL_ALIGN},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )
    return Markup(clean)


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture": ␀ ␁ … ␟
    return "\u2421" if code == 0x7F else "\ufffd"


def show_literally(value: Any) -> Any:
    """Every value a template prints: control characters become visible symbols.

    Names come from models written by anyone. Escaping makes ``<script>`` harmless text;
    control characters and lone surrogates cannot be written as HTML text at all (the
    checker rejects them, UTF-8 cannot encode the latter), so they are shown as symbols.
    Markup (already-built MathML, rendered Markdown) is left as it is.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return _UNPRINTABLE.sub(_visible, value)
    return value


def _showing_literally(inner: Any) -> Any:
    @pass_context
    def gettext(context: Any, message: str, **variables: Any) -> Any:
        return inner(context, message, **{k: show_literally(v) for k, v in variables.items()})

    return gettext


@functools.cache
def make_environment(lang: str) -> Environment:
    """The Jinja environment of one site language, made once per process: compiling the
    templates costs more than rendering a small site, and nothing here changes per build."""
    env = Environment(
        finalize=show_literally,
        loader=FileSystemLoader(str(resource_dir("templates"))),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    # Values substituted into a translated string bypass ``finalize``: clean them too.
    gettext = _showing_literally(env.globals["gettext"])
    env.globals.update(gettext=gettext, _=gettext)
    unknown = translations(lang).gettext("cannot be derived")

    def fmt_bytes_or_unknown(value: int | None) -> str:
        # A model total may be unknown (None, never a partial sum): a page that prints it
        # without asking says so in its language rather than failing the build.
        return unknown if value is None else fmt_bytes(value)

    env.filters.update(
        fmt_int=fmt_int,
        fmt_bytes=fmt_bytes_or_unknown,
        fmt_shape=fmt_shape,
        fmt_us=fmt_us,
        fmt_percent=fmt_percent,
        mathml=formula_mathml,
        mathml_symbolic=symbolic_mathml,
        markdown=render_markdown,
    )
    return env


@dataclass(frozen=True)
class Page:
    path: str
    content: str


@dataclass(frozen=True)
class LayerFamily:
    """Layers of one family (``"convolution"``, ``"pooling"``…), in model order."""

    key: str
    class_names: tuple[str, ...]
    layers: tuple[LayerReport, ...]

    @property
    def anchor(self) -> str:
        return f"family-{self.key}"


def layer_families(report: ModelReport) -> list[LayerFamily]:
    """The report's layers grouped by family, families in the order they first appear.

    Each layer's family is derive's (the layer registry's); its prose is
    ``templates/families/<family>.html``."""
    grouped: dict[str, list[LayerReport]] = {}
    for layer in report.layers:
        grouped.setdefault(layer.family, []).append(layer)
    return [
        LayerFamily(
            key,
            tuple(dict.fromkeys(layer.class_name for layer in layers)),
            tuple(layers),
        )
        for key, layers in grouped.items()
    ]


@dataclass(frozen=True)
class ModelFigures:
    """The model page's whole-model figures and checks, worked out before it is rendered.

    coverage.py's ``Numbers`` habit: the template only chooses what to show; it does no
    arithmetic and compares no numbers, so the comparisons the page reports are made here.
    """

    params: int
    """The parameter count the page leads with: the derived total, or the reference's
    when the derived one is unknown."""
    params_equal: bool
    trainable_equal: bool
    non_trainable_equal: bool
    """Each derived total equals the reference's."""
    disagrees: bool
    """Some derived number differs from its reference (rather than being unknown)."""
    params_disagree: bool
    """A parameter count is among them (not only the FLOPs total)."""
    flops_equal: bool
    """The derived FLOPs total equals TensorFlow's profiler count exactly."""


def model_figures(report: ModelReport) -> ModelFigures:
    totals = report.totals
    disagreements = [mismatch for mismatch in report.mismatches if not mismatch.unknown]
    return ModelFigures(
        params=totals.keras_params if totals.params is None else totals.params,
        params_equal=totals.params == totals.keras_params,
        trainable_equal=totals.trainable_params == totals.keras_trainable_params,
        non_trainable_equal=totals.non_trainable_params == totals.keras_non_trainable_params,
        disagrees=bool(disagreements),
        params_disagree=any(mismatch.quantity != "FLOPs" for mismatch in disagreements),
        flops_equal=report.flops is not None and report.flops.difference == 0,
    )


def largest_output(report: ModelReport) -> LayerReport | None:
    """The layer whose derived output takes the most bytes (the first one on a tie)."""
    sized = [layer for layer in report.layers if layer.activation.value]
    return max(sized, key=lambda layer: layer.activation.value or 0) if sized else None


def model_dtypes(report: ModelReport) -> list[tuple[str, int | None]]:
    """Each compute dtype of the model's layers with its size in bytes, in order of use."""
    names = dict.fromkeys(layer.dtype for layer in report.layers)
    return [(name, dtype_bytes(name)) for name in names]


def reproduce_command(report: ModelReport) -> str:
    """The command that rebuilds this report: ``--no-profile`` when this build had none."""
    command = f"reportgen build --models {report.slug}"
    return command if report.profile is not None else command + " --no-profile"


def absolute(base_url: str, path: str) -> str:
    """``https://user.github.io/repo/`` + ``en/lenet.html``."""
    return base_url.rstrip("/") + "/" + path


def _page_context(
    lang: str, path: str, paths: dict[str, str], default: str, base_url: str | None = None
) -> dict[str, Any]:
    """What every page needs: its language, its depth, and the same page in each language.

    ``paths`` maps each site language to the site path of this page in that language;
    ``default`` is the site path for ``hreflang="x-default"`` (readers of neither). With a
    base URL the alternates and the canonical link are absolute, as search engines want
    them; without one they stay relative, so the site works from anywhere.
    """
    root = "../" * path.count("/")

    def alternate(target: str) -> str:
        return absolute(base_url, target) if base_url else root + target

    return {
        "canonical": absolute(base_url, path) if base_url else None,
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "root": root,
        "languages": [
            {
                "code": code,
                "label": LANGUAGE_NAMES[code],
                "hreflang": HTML_LANG[code],
                "href": root + paths[code],
                "current": code == lang and paths[code] == path,
            }
            for code in LANGUAGES
        ],
        "alternates": [
            *({"hreflang": HTML_LANG[code], "href": alternate(paths[code])} for code in LANGUAGES),
            {"hreflang": "x-default", "href": alternate(default)},
        ],
        "version": __version__,
        "build_date": build_date(),
    }


def _render(env: Environment, template: str, path: str, **context: Any) -> Page:
    try:
        return Page(path, env.get_template(template).render(**context))
    except TemplateError as exc:
        raise RenderError(f"rendering {path} from {template}: {exc}") from exc


def render_fragment(template: str, lang: str, **context: Any) -> str:
    """A piece of HTML in ``lang`` from the site's own environment (its partials, macros,
    filters and catalogs): the notebook view (:mod:`reportgen.render.notebook`)."""
    env = make_environment(lang)
    page = _render(
        env, template, f"{template} ({lang})", lang=lang, html_lang=HTML_LANG[lang], **context
    )
    return page.content


CHART_KINDS = ("params", "memory", "time", "decoder", "peak", "scaling", *HISTORY_KINDS)


def chart_path(slug: str, kind: str, lang: str) -> str:
    return f"charts/{slug}-{kind}.{lang}.svg"


def gather_charts(report: ModelReport) -> dict[str, str]:
    """{site path: SVG} for the report's charts in every language (no time chart untimed).

    A chart holds no words, only layer names and numbers (its title and legend are in the
    page): it is drawn once and the same bytes serve each language's path.
    """
    from reportgen.render.charts import model_charts

    return {
        chart_path(report.slug, kind, lang): svg
        for kind, svg in model_charts(report).items()
        for lang in LANGUAGES
    }


def chart_paths(report: ModelReport) -> list[str]:
    """The site paths :func:`gather_charts` will return, without drawing anything."""
    from reportgen.render.charts import chart_kinds

    return [
        chart_path(report.slug, kind, lang) for kind in chart_kinds(report) for lang in LANGUAGES
    ]


BACKGROUND_CHART_LAYERS = 2_000
"""From this many layers in all, :class:`ChartDrawing` draws in a worker process."""


def _can_fork() -> bool:
    """Whether a chart worker may be forked: Linux, a second CPU, and no other thread.

    ``fork`` hands the reports over for free (pickling 16,000 layers to a spawned worker
    costs more than the worker saves), but is only safe where no other thread may hold a
    lock at the time, and on macOS not at all.
    """
    import multiprocessing
    import sys
    import threading

    return (
        sys.platform == "linux"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and len(os.sched_getaffinity(0)) > 1
    )


def _draw_in_worker(reports: list[ModelReport], send: Any) -> None:
    """The forked worker: every report's {kind: SVG}, or the exception, down the pipe."""
    import traceback

    from reportgen.render.charts import model_charts

    try:
        message: tuple[str, Any] = ("ok", [model_charts(report) for report in reports])
    except ReportgenError as exc:
        message = ("error", exc)
    except BaseException as exc:  # a bug: the parent says so, with this traceback as a note
        error = RenderError(f"drawing the charts: {exc!r}")
        error.add_note(traceback.format_exc())
        message = ("error", error)
    send.send(message)
    send.close()


class ChartDrawing:
    """Every report's charts, being drawn: :meth:`result` waits for them, :meth:`stop` quits.

    For a large site (``BACKGROUND_CHART_LAYERS`` layers or more) where :func:`_can_fork`,
    the charts are drawn in one forked worker process while this one renders the pages,
    so the two take about as long as the pages alone. Otherwise they are drawn here, at
    once. Either way the result is the same bytes, in report order.
    """

    def __init__(self, reports: list[ModelReport]) -> None:
        self.reports = reports
        self._drawn: dict[str, str] | None = None
        self._worker: ForkedWorker | None = None
        if sum(len(r.layers) for r in reports) < BACKGROUND_CHART_LAYERS or not _can_fork():
            self._drawn = {path: svg for r in reports for path, svg in gather_charts(r).items()}
            return
        self._worker = ForkedWorker("chart", _draw_in_worker, (reports,))

    def paths(self) -> list[str]:
        """The site paths of the charts, known before they are drawn."""
        return [path for report in self.reports for path in chart_paths(report)]

    def result(self) -> dict[str, str]:
        """{site path: SVG}, waiting for the worker if there is one."""
        if self._drawn is not None:
            return self._drawn
        assert self._worker is not None  # either drawn here or started in __init__
        status, payload = self._worker.receive()
        if status != "ok":
            raise payload
        self._drawn = {
            chart_path(report.slug, kind, lang): svg
            for report, by_kind in zip(self.reports, payload, strict=True)
            for kind, svg in by_kind.items()
            for lang in LANGUAGES
        }
        return self._drawn

    def stop(self) -> None:
        """Abandon the charts (the pages failed, or Ctrl-C): the worker is killed at once."""
        if self._worker is not None:
            self._worker.stop()


class ForkedWorker:
    """A forked process that runs ``target(*args, send)`` and sends one message back.

    Forked, the worker has its arguments already: they are not pickled. :meth:`receive`
    waits for the message; :meth:`stop` kills the worker at once (an error or Ctrl-C in
    this process), so none is left behind.
    """

    def __init__(self, what: str, target: Any, args: tuple[Any, ...]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.what = what
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=target, args=(*args, send), daemon=True)
        self._process.start()
        send.close()

    def receive(self) -> Any:
        """The worker's message; a worker that ended without one is a RenderError."""
        try:
            message = self._receive.recv()
        except EOFError:
            self._process.join()
            raise RenderError(
                f"the {self.what} worker ended without a result "
                f"(exit code {self._process.exitcode})"
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        return message

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._receive.close()


def perfetto_url(report: ModelReport, base_url: str | None) -> str | None:
    """``https://ui.perfetto.dev/#!/?url=<absolute trace URL>``, only with a base URL."""
    if base_url is None or report.profile is None or report.profile.trace_href is None:
        return None
    trace = base_url.rstrip("/") + "/" + report.profile.trace_href
    return "https://ui.perfetto.dev/#!/?url=" + quote(trace, safe=":/")


INDEX_PATHS = {code: f"{code}/index.html" for code in LANGUAGES}


BACKGROUND_PAGE_LAYERS = 400
"""From this many layers in all, :func:`gather_pages` renders the pages of a share of the
models in a forked worker process (:class:`PageRendering`)."""

Unit = tuple[int, int]
"""A piece of the page rendering, as ``(language index, model index)``: a model's page (and
its graph page) in one language; the model index ``len(reports)`` is the language's index
page, and ``(len(LANGUAGES), 0)`` the root page. Sorted, units are in the serial order."""


def _render_units(
    units: list[Unit],
    reports: list[ModelReport],
    failures: dict[str, str],
    charts: dict[str, str],
    base_url: str | None,
) -> tuple[dict[Unit, list[Page]], tuple[Unit, Exception] | None]:
    """The pages of ``units`` (taken in the order given), up to the first that fails.

    Returns the pages rendered and, when a unit failed, that unit with its exception: the
    caller that merges two shares raises the failure that comes first in the serial order.
    """
    graphs = {report.slug: ModelGraph(report) for report in reports}  # laid out once, if used
    rendered: dict[Unit, list[Page]] = {}
    for unit in units:
        try:
            rendered[unit] = _render_unit(unit, reports, failures, charts, base_url, graphs)
        except Exception as exc:
            return rendered, (unit, exc)
    return rendered, None


def _render_unit(
    unit: Unit,
    reports: list[ModelReport],
    failures: dict[str, str],
    charts: dict[str, str],
    base_url: str | None,
    graphs: dict[str, ModelGraph],
) -> list[Page]:
    lang_index, index = unit
    if lang_index == len(LANGUAGES):
        env = make_environment("en")
        context = _page_context("en", "index.html", INDEX_PATHS, "index.html", base_url)
        return [
            _render(env, "root.html", "index.html", reports=reports, failures=failures, **context)
        ]
    lang = LANGUAGES[lang_index]
    env = make_environment(lang)
    if index == len(reports):
        path = f"{lang}/index.html"
        context = _page_context(lang, path, INDEX_PATHS, "index.html", base_url)
        return [_render(env, "index.html", path, reports=reports, failures=failures, **context)]
    report = reports[index]
    path = f"{lang}/{report.slug}.html"
    paths = {code: f"{code}/{report.slug}.html" for code in LANGUAGES}
    context = _page_context(lang, path, paths, paths[LANGUAGES[0]], base_url)
    prev_report = reports[index - 1] if index > 0 else None
    next_report = reports[index + 1] if index + 1 < len(reports) else None
    chart_hrefs = {
        kind: context["root"] + chart_path(report.slug, kind, lang)
        for kind in CHART_KINDS
        if chart_path(report.slug, kind, lang) in charts
    }
    pages = [
        _render(
            env,
            "model.html",
            path,
            report=report,
            reports=reports,
            prev=prev_report,
            next=next_report,
            charts=chart_hrefs,
            families=layer_families(report),
            figures=model_figures(report),
            chart=chart_caption(report),
            largest=largest_output(report),
            dtypes=model_dtypes(report),
            reproduce=reproduce_command(report),
            builtin=report.builtin,
            perfetto_url=perfetto_url(report, base_url),
            model_graph=graphs[report.slug].figure(lang),
            **context,
        )
    ]
    if needs_graph_page(report):
        pages.append(_graph_page(env, lang, report, graphs[report.slug], base_url))
    return pages


def _all_units(reports: list[ModelReport]) -> list[Unit]:
    """Every unit of the site, in the serial order (per language: models, then index)."""
    units = [(lang, index) for lang in range(len(LANGUAGES)) for index in range(len(reports) + 1)]
    return [*units, (len(LANGUAGES), 0)]


def _worker_share(reports: list[ModelReport]) -> set[int]:
    """The models whose pages the worker renders: about half the layers, the larger models
    first to whichever side has fewer so far (a page costs about its model's layers)."""
    here = there = 0
    share: set[int] = set()
    for index in sorted(range(len(reports)), key=lambda i: (-len(reports[i].layers), i)):
        if there < here:
            share.add(index)
            there += len(reports[index].layers)
        else:
            here += len(reports[index].layers)
    return share


def _render_pages_in_worker(
    units: list[Unit],
    reports: list[ModelReport],
    failures: dict[str, str],
    charts: dict[str, str],
    base_url: str | None,
    send: Any,
) -> None:
    """The forked worker: ``(pages by unit, failure or None)`` down the pipe.

    A failing page's exception goes as it is, so it surfaces in the parent as it would
    have here (a bug's with its traceback from this process as a note); one that cannot
    be pickled goes as a :class:`RenderError` that names it. An interrupt ends the worker.
    """
    import traceback

    try:
        rendered, failure = _render_units(units, reports, failures, charts, base_url)
    except KeyboardInterrupt:  # the parent raises it too: an interrupt stops the render
        send.send(None)
        send.close()
        return
    if failure is not None and not isinstance(failure[1], ReportgenError):
        failure[1].add_note(
            "in the page worker:\n" + "".join(traceback.format_exception(failure[1]))
        )
    try:
        send.send((rendered, failure))
    except Exception as exc:  # pages are text: only an exception can fail to pickle
        if failure is None:
            raise
        error = RenderError(f"rendering the pages: {failure[1]!r}")
        error.add_note(f"(the worker could not send it: {exc!r})")
        send.send((rendered, (failure[0], error)))
    send.close()


class PageRendering:
    """The pages of a share of the models, being rendered in a forked worker process.

    For a large site (``BACKGROUND_PAGE_LAYERS`` layers or more, two models or more) where
    :func:`_can_fork`, the worker renders about half the models' pages while this process
    renders the rest; otherwise :attr:`there` is empty and no worker is started. The
    pages are the same bytes either way: each is rendered from the same reports.
    """

    def __init__(
        self,
        reports: list[ModelReport],
        failures: dict[str, str],
        charts: dict[str, str],
        base_url: str | None,
    ) -> None:
        units = _all_units(reports)
        self._worker: ForkedWorker | None = None
        share: set[int] = set()
        layers = sum(len(report.layers) for report in reports)
        if len(reports) > 1 and layers >= BACKGROUND_PAGE_LAYERS and _can_fork():
            share = _worker_share(reports)
        self.there = [unit for unit in units if unit[0] < len(LANGUAGES) and unit[1] in share]
        there = set(self.there)
        self.here = [unit for unit in units if unit not in there]
        if not self.there:
            return
        self._worker = ForkedWorker(
            "page", _render_pages_in_worker, (self.there, reports, failures, charts, base_url)
        )

    def result(self) -> tuple[dict[Unit, list[Page]], tuple[Unit, Exception] | None]:
        """The worker's pages and its failure, if any, waiting for it (none: nothing)."""
        if self._worker is None:
            return {}, None
        message = self._worker.receive()
        if message is None:
            raise KeyboardInterrupt
        rendered, failure = message
        return rendered, failure

    def stop(self) -> None:
        """Abandon the worker's pages (Ctrl-C, or an error here): it is killed at once."""
        if self._worker is not None:
            self._worker.stop()


def gather_pages(
    reports: list[ModelReport],
    failures: dict[str, str],
    charts: dict[str, str],
    base_url: str | None = None,
) -> list[Page]:
    """Every page, in the serial order: per language each model's pages then the index
    page, then the root page. A failure raises the exception of the first page (in that
    order) that failed, wherever it was rendered."""
    rendering = PageRendering(reports, failures, charts, base_url)
    try:
        rendered, failure = _render_units(rendering.here, reports, failures, charts, base_url)
        if failure is not None and all(failure[0] < unit for unit in rendering.there):
            rendering.stop()  # no page of the worker's comes before this one: not needed
            raise failure[1]
        theirs, their_failure = rendering.result()
    except BaseException:
        rendering.stop()  # no worker is left behind
        raise
    failures_seen = [f for f in (failure, their_failure) if f is not None]
    if failures_seen:
        raise min(failures_seen, key=lambda f: f[0])[1]
    rendered.update(theirs)
    return [page for unit in _all_units(reports) for page in rendered[unit]]


def _graph_page(
    env: Environment, lang: str, report: ModelReport, graph: ModelGraph, base_url: str | None
) -> Page:
    """A large model's whole graph, on a page of its own (:mod:`reportgen.render.graph`)."""
    paths = {code: graph_page_path(report.slug, code) for code in LANGUAGES}
    path = paths[lang]
    context = _page_context(lang, path, paths, paths[LANGUAGES[0]], base_url)
    figure = graph.figure(lang, full_page=True)
    return _render(env, "model_graph.html", path, report=report, model_graph=figure, **context)


class SiteWriter:
    """Writes files under one directory, at most once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: set[str] = set()

    def write(self, relpath: str, content: str | bytes) -> None:
        if relpath in self.written:
            raise RenderError(f"two outputs want the same path {relpath!r}")
        self.written.add(relpath)
        target = self.root / relpath
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                target.write_text(content, encoding="utf-8", newline="\n")
            else:
                target.write_bytes(content)
        except OSError as exc:
            if exc.filename is None:  # a failed write() names no file: name the one written
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise


def copy_trace_files(model_dir: Path, profile: Profile, dest: Path) -> None:
    """The Chrome trace and the raw profile directory, under ``traces/`` of the site."""
    if profile.trace_href is not None and profile.trace_source is not None:
        target = dest / profile.trace_href
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_collected_file(model_dir, profile.trace_source, "trace"), target)
    if profile.profile_href is not None and profile.profile_source is not None:
        source = inside(model_dir, profile.profile_source)
        if not source.is_dir():
            raise RenderError(
                f"{model_dir}: its facts name the profile folder {profile.profile_source!r}, "
                "which is missing"
            )
        shutil.copytree(source, dest / profile.profile_href, ignore=_links)
        if profile.profile_zip_href is not None:
            write_zip(source, dest / profile.profile_zip_href, profile.profile_href.strip("/"))
    if profile.events_href is not None and profile.events_source is not None:
        _check_events_copied(model_dir, profile.events_source, dest / profile.events_href)


def _collected_file(model_dir: Path, relative: str, what: str) -> Path:
    """A file the collected facts name: inside the folder, and there (a folder copied
    without it is one clear line, not a failed write)."""
    source = inside(model_dir, relative)
    if not source.is_file():
        raise RenderError(f"{model_dir}: its facts name the {what} {relative!r}, which is missing")
    return source


def _check_events_copied(model_dir: Path, source: str, target: Path) -> None:
    """The page tells the reader to open the events file: it must have come with the
    profile folder (a missing file, or a link, which is never copied, is refused)."""
    inside(model_dir, source)
    if not target.is_file():
        raise RenderError(f"{model_dir}: the TensorBoard events file {source!r} is missing")


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing a path (``..``, absolute, a link) that leads out of it.

    Collected directories can come from another machine (a CI artifact); what they name
    must not make the site publish a file from elsewhere.
    """
    target = collected_path(root, relative)
    if target is None:
        raise RenderError(f"{root}: refusing {relative!r}, which leads outside the collected model")
    return target


def _links(directory: str, names: list[str]) -> list[str]:
    """copytree's ignore: symbolic links are never followed into the site."""
    return [name for name in names if os.path.islink(os.path.join(directory, name))]


def write_zip(source: Path, target: Path, top: str) -> None:
    """Zip a directory with sorted entries and fixed timestamps: same files, same bytes."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
            name = f"{top.rsplit('/', 1)[-1]}/{path.relative_to(source).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())


def _copy_assets(writer: SiteWriter) -> None:
    assets = resource_dir("templates") / "assets"
    for source in sorted(assets.rglob("*")):
        if source.is_file():
            writer.write(f"assets/{source.relative_to(assets).as_posix()}", source.read_bytes())


def sitemap(reports: list[ModelReport], base_url: str) -> str:
    """``sitemap.xml``: every page, with its other-language alternates (needs a base URL)."""
    groups = [
        INDEX_PATHS,
        *({code: f"{code}/{r.slug}.html" for code in LANGUAGES} for r in reports),
        *(
            {code: graph_page_path(r.slug, code) for code in LANGUAGES}
            for r in reports
            if needs_graph_page(r)
        ),
    ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:xhtml="http://www.w3.org/1999/xhtml">',
    ]
    for paths in groups:
        alternates = [(HTML_LANG[code], absolute(base_url, paths[code])) for code in LANGUAGES] + [
            ("x-default", absolute(base_url, paths[LANGUAGES[0]]))
        ]
        for code in LANGUAGES:
            lines.append(f"  <url><loc>{xml_escape(absolute(base_url, paths[code]))}</loc>")
            lines.append(f"    <lastmod>{build_date()}</lastmod>")
            lines.extend(
                f'    <xhtml:link rel="alternate" hreflang="{hreflang}" '
                f'href="{xml_escape(href, {chr(34): "&quot;"})}"/>'
                for hreflang, href in alternates
            )
            lines.append("  </url>")
    lines.append(f"  <url><loc>{xml_escape(absolute(base_url, 'index.html'))}</loc>")
    lines.append(f"    <lastmod>{build_date()}</lastmod>")
    lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def render_site(
    reports: Iterable[ModelReport],
    dest: Path,
    failures: dict[str, str] | None = None,
    base_url: str | None = None,
) -> list[str]:
    """Render every page and chart, then write them, ``data/*.json`` and assets into ``dest``."""
    report_list = list(reports)
    # Charts are drawn meanwhile where they can be; the pages need only their paths.
    drawing = ChartDrawing(report_list)
    planned = {path: "" for path in drawing.paths()}
    try:
        pages = gather_pages(report_list, failures or {}, planned, base_url)
    except BaseException:
        drawing.stop()  # no worker is left behind
        raise
    charts = drawing.result()
    if charts.keys() != planned.keys():  # the pages link exactly the charts there are
        differ = sorted(charts.keys() ^ planned.keys())
        raise RenderError(f"the charts drawn and the charts linked differ: {differ}")
    writer = SiteWriter(dest)
    for page in pages:
        writer.write(page.path, page.content)
    for path, svg in charts.items():
        writer.write(path, svg)
    for report in report_list:
        writer.write(f"data/{report.slug}.json", report_json(report))
    schema = resources.files("reportgen.schema").joinpath("report.schema.json").read_bytes()
    writer.write("data/report.schema.json", schema)
    # Each model's builds so far, for the next build's --history-from (reportgen.history).
    histories = [report.history for report in report_list if report.history is not None]
    for history in histories:
        writer.write(f"history/{history.slug}.json", history.file_text())
    if histories:
        schema = resources.files("reportgen.schema").joinpath("history.schema.json").read_bytes()
        writer.write("history/history.schema.json", schema)
    _copy_assets(writer)
    if base_url:
        writer.write("sitemap.xml", sitemap(report_list, base_url))
    writer.write(".nojekyll", b"")  # GitHub Pages: serve files as they are
    return sorted(writer.written)
