"""The Python API: ``explain(model)`` and ``compare(a, b)``, in the calling process.

A notebook user has the model object in hand; the command line's route (a factory module,
a configuration, a worker process, a site) is the same pipeline with the model given
directly. Nothing here computes a number: the collect stage describes (and, with
``measure=True``, measures) the model, :func:`reportgen.derive.derive_model` derives the
report, and the site's own code renders and publishes it. The arguments are checked by the
configuration's own rules, so a wrong one reads as the configuration's message does.

TensorFlow is imported only through :mod:`reportgen.collect.worker`, when ``explain`` runs
(a live model has loaded it by then anyway).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.config import SOURCE_RE, parse_config, source_kind
from reportgen.errors import CollectError, ConfigError, ReportgenError

if TYPE_CHECKING:
    from reportgen.config import ModelSpec
    from reportgen.diff import ModelDiff
    from reportgen.facts import ModelFacts
    from reportgen.model import LayerReport, ModelReport, Totals

LANGS = ("en", "zh")
WHERE = "explain()"
"""How an argument's error names its place, as the configuration's names a file."""
_LIVE_SOURCE = "explain:model"
"""A stand-in factory source: checks a live model's arguments by the configuration's rules."""


def explain(
    model: Any,
    *,
    batch_size: int = 1,
    sequence_length: int | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    input_shape: Sequence[int] | None = None,
    lang: str = "en",
    measure: bool = False,
    profile: bool = True,
) -> Report:
    """The report of ``model``: every layer's parameters, output memory and FLOPs, each
    with its formula, checked against Keras.

    ``model`` is a Keras model, a ``tf.Module`` or ``tf.function`` (with an input
    signature), or a source as the configuration writes one: ``"package.module:function"``
    or a path to a ``.keras``/``.h5`` file. ``batch_size``, ``sequence_length``,
    ``input_shapes`` (input name → shape without the batch) and ``input_shape`` (for a
    subclassed model never called) mean what they mean in ``reportgen.toml``.

    Without ``measure`` nothing runs: the figures come from the model's configuration and
    the shapes Keras infers (no graph is traced). ``measure=True`` also runs the model, in
    this process: TensorFlow's allocator bytes and FLOPs count, and the profiler's time per
    layer; the model, its weights and Keras's global state are left as they were.
    ``profile=False`` leaves the profiler out (the command line's ``--no-profile``): no
    times, and the same bytes on every run.

    Raises a :class:`ReportgenError` with the command line's one-line message when the
    arguments or the model are wrong.
    """
    if lang not in LANGS:
        raise ConfigError(f"{WHERE}: lang must be 'en' or 'zh', got {lang!r}")
    for key, flag in (("measure", measure), ("profile", profile)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{WHERE}: {key} must be True or False, got {flag!r}")
    given_source = _source_text(model)
    spec = _spec(
        given_source or _LIVE_SOURCE, batch_size, sequence_length, input_shapes, input_shape
    )
    built = _load(spec) if given_source is not None else _live_model(model)
    spec = _named(spec, built, given_source)
    profile = measure and profile
    folder = Path(tempfile.mkdtemp(prefix="reportgen-explain-")) if profile else None
    try:
        facts = _collect(built, spec, folder, measure, profile)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Report(_derive(facts), lang, folder)


def compare(a: Report, b: Report, *, lang: str | None = None) -> Comparison:
    """What changed from ``a`` to ``b``, layer by layer (``reportgen diff``'s engine).

    Layers are aligned by name; derived figures are exact, so any difference is a change;
    profiled times count only beyond ``reportgen diff``'s noise thresholds.
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, Report):
            raise ConfigError(
                f"compare(): {name} must be a report from reportgen.explain(), "
                f"got {type(value).__name__}"
            )
    lang = lang or a.lang
    if lang not in LANGS:
        raise ConfigError(f"compare(): lang must be 'en' or 'zh', got {lang!r}")
    from reportgen.diff import diff_sites

    # One key on both sides: two reports of one model under two names are still aligned.
    key = b.slug
    site = diff_sites({key: a.to_dict()}, {key: b.to_dict()})
    return Comparison(a, b, site.models[0], lang)


# --------------------------------------------------------------------------- arguments


def _source_text(model: Any) -> str | None:
    """``model`` as a configured ``source`` (a string or a path), or None for an object."""
    if isinstance(model, os.PathLike):
        return os.fspath(model)  # type: ignore[no-any-return]
    if isinstance(model, str):
        return model
    return None


def _spec(
    source: str,
    batch_size: Any,
    sequence_length: Any,
    input_shapes: Any,
    input_shape: Any,
) -> ModelSpec:
    """The arguments as one configured model, checked by the configuration's own rules."""
    raw: dict[str, Any] = {"slug": "model", "source": source, "batch_size": batch_size}
    if source_kind(source) is None:
        raise ConfigError(
            f"{WHERE}: {source!r} is neither a Keras model nor a source: give a model object, "
            "'package.module:function', or a path to a .keras or .h5 file"
        )
    if source_kind(source) == "frozen_graph":
        raise ConfigError(
            f"{WHERE}: a frozen graph (.pb) needs the names of its input and output tensors; "
            "build it with the command line (inputs = [...], outputs = [...] in reportgen.toml)"
        )
    for key, value in (("sequence_length", sequence_length), ("input_shape", input_shape)):
        if value is not None:
            raw[key] = list(value) if key == "input_shape" and _is_sequence(value) else value
    if input_shapes is not None:
        raw["input_shapes"] = (
            {str(k): list(v) if _is_sequence(v) else v for k, v in input_shapes.items()}
            if isinstance(input_shapes, Mapping)
            else input_shapes
        )
    try:
        return parse_config({"models": [raw]}, Path(WHERE)).models[0]
    except ConfigError as exc:
        # The configuration names the entry (models[0].batch_size); here there is one.
        raise ConfigError(str(exc).replace(": models[0].", ": ", 1)) from None


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _slug(name: str) -> str:
    """A model's name as a slug (it names the files :meth:`Report.save` writes)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:64].strip("-_")
    return slug or "model"


def _named(spec: ModelSpec, built: Any, given_source: str | None) -> ModelSpec:
    """The spec under the model's own name; a live model's source says what it was."""
    import dataclasses

    name = str(getattr(built, "name", None) or "model")
    source = given_source or f"<{type(built).__name__} {name!r}>"
    return dataclasses.replace(spec, slug=_slug(name), title_en=name, title_zh=name, source=source)


def _label(spec: ModelSpec) -> str:
    """What an error names: the model's slug, or for a source not yet loaded, the source."""
    return spec.slug if spec.slug != "model" or spec.source == _LIVE_SOURCE else spec.source


def _load(spec: ModelSpec) -> Any:
    """A source's model, as the collect worker loads it (safe mode for Keras files)."""
    from reportgen.collect.log import CollectFailure
    from reportgen.collect.worker import load_source

    try:
        return load_source(spec)
    except CollectFailure as exc:
        raise CollectError(_label(spec), str(exc)) from None


def _live_model(model: Any) -> Any:
    from reportgen.collect.worker import is_model_object

    if not is_model_object(model):
        raise ConfigError(
            f"{WHERE}: got {type(model).__name__}, not a Keras model, a tf.Module, a "
            "tf.function with an input_signature, nor a path to a .keras or .h5 file"
        )
    return model


def _collect(
    built: Any, spec: ModelSpec, folder: Path | None, measure: bool, profile: bool
) -> ModelFacts:
    """The collect worker's facts, in this process (one line per failure, as it writes)."""
    from reportgen.collect.log import CollectFailure, one_line
    from reportgen.collect.worker import collect_object

    try:
        return collect_object(built, spec, folder, measure=measure, profile=profile)
    except CollectFailure as exc:
        raise CollectError(spec.slug, str(exc)) from None
    except ReportgenError:
        raise
    except Exception as exc:  # as the worker writes it; the cause stays chained for a bug
        raise CollectError(spec.slug, one_line(exc, typed=True)) from exc


def _derive(facts: ModelFacts) -> ModelReport:
    """The report as ``reportgen render`` derives it: from the facts as ``facts.json`` holds
    them (a round trip through the same JSON, so that nothing differs from the site's)."""
    from reportgen.derive import derive_model
    from reportgen.facts import ModelFacts

    return derive_model(ModelFacts.from_dict(json.loads(facts.to_json())))


# --------------------------------------------------------------------------- results


class Report:
    """One model's report: shown as a table in a notebook, a text table in a terminal.

    ``report.totals.params``, ``report.layers[i].params.value``: the report model the site
    is rendered from (:class:`reportgen.model.ModelReport`); ``to_dict()`` is the site's
    ``data/<slug>.json``; ``save(folder)`` publishes the one-model site.
    """

    def __init__(self, model: ModelReport, lang: str = "en", folder: Path | None = None) -> None:
        self.model = model
        self.lang = lang
        self._folder = folder
        """The measured facts' folder (the profiler's trace), removed with the report."""
        if folder is not None:
            weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def slug(self) -> str:
        return self.model.slug

    @property
    def layers(self) -> tuple[LayerReport, ...]:
        return self.model.layers

    @property
    def totals(self) -> Totals:
        return self.model.totals

    @property
    def mismatches(self) -> list[str]:
        """Every derived number that disagrees with its reference, one line each."""
        return [mismatch.describe() for mismatch in self.model.mismatches]

    def to_dict(self) -> dict[str, Any]:
        """``data/<slug>.json`` of the site, as a dictionary (``report.schema.json``)."""
        from reportgen.render.data import report_data

        return report_data(self.model)

    def to_json(self) -> str:
        """``data/<slug>.json`` of the site, byte for byte."""
        from reportgen.render.data import report_json

        return report_json(self.model)

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Publish the one-model site into ``out`` (both languages), as ``reportgen build``
        does: the same pages, data and trace, with the same rules about what ``out`` may be
        (empty, or a site reportgen made), and a history of this one build (the commit of
        the current directory, as ``build`` records it for the built-in models). Returns the
        folder."""
        from reportgen.history import HistoryPlan, attach_histories, current_build
        from reportgen.pipeline import publish_site
        from reportgen.publish import check_out, protected_paths, publishing_lock

        target = Path(out)
        source_file = self.model.source if source_kind(self.model.source) else None
        what = f"the source of model {self.slug!r}"
        check_out(target, protected_paths(None, [(what, _absolute(source_file))]))
        collected = {self.slug: self._folder} if self._folder is not None else {}
        with publishing_lock(target, "save"):
            plan = HistoryPlan(build=current_build(Path.cwd().absolute()))
            (model,) = attach_histories([self.model], plan).reports
            publish_site([model], collected, target)
        return target

    def _repr_html_(self) -> str:
        from reportgen.render.notebook import report_html

        return report_html(self.model, self.lang)

    def _repr_markdown_(self) -> str:
        return "```text\n" + str(self) + "```\n"

    def __str__(self) -> str:
        from reportgen.render.notebook import report_text

        return report_text(self.model, self.lang)

    def __repr__(self) -> str:
        totals = self.totals
        params = "unknown" if totals.params is None else f"{totals.params:,}"
        return f"<reportgen.Report {self.slug!r}: {totals.layers} layers, {params} parameters>"


def _absolute(path: str | None) -> str | None:
    """A file source as the protected path :meth:`Report.save` must never replace."""
    if path is None or SOURCE_RE.match(path):
        return None
    return str(Path(path).absolute())


class Comparison:
    """``compare(a, b)``: the layer-aligned difference, as ``reportgen diff`` computes it."""

    def __init__(self, old: Report, new: Report, diff: ModelDiff, lang: str) -> None:
        self.old = old
        self.new = new
        self.diff = diff
        self.lang = lang

    @property
    def changed(self) -> bool:
        """Whether any derived figure or layer changed (profiled times beyond noise too)."""
        return self.diff.status != "same"

    def _repr_html_(self) -> str:
        from reportgen.render.notebook import comparison_html

        return comparison_html(self.old.model, self.new.model, self.diff, self.lang)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_markdown(self) -> str:
        """``reportgen diff``'s Markdown for the two reports."""
        from reportgen.diff import SiteDiff, TimeNoise, to_markdown

        return to_markdown(SiteDiff([self.diff], TimeNoise()), self.old.slug, self.new.slug)

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"<reportgen.Comparison {self.old.slug!r} → {self.new.slug!r}: {self.diff.status}>"
