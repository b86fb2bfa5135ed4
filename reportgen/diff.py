"""``reportgen diff OLD NEW``: what changed between two builds, as a Markdown table.

Reads ``data/<slug>.json`` from two sites (or two ``data`` directories, or two files) and
compares, per model and per layer, the derived parameters, activation bytes and FLOPs, and
the profiled time. Pure Python over the published JSON: no TensorFlow, no report model, so
it also compares a site built by an older reportgen.

Derived numbers are exact: any difference is a change, and ``--fail-on`` can gate a pull
request on it. Profiled times are not: they move with the machine's load from one run to
the next, so a time change is only shown beyond a relative and an absolute threshold, is
labelled as possible noise, and never fails the command.

A derived total or figure that a report gives as ``null`` is unknown (a report of schema 3
never sums an unknown as zero): it shows as ``unknown``, equals only another unknown, and
a known figure becoming unknown, or the reverse, is a change. A figure a report lacks
altogether (an older schema, a model or layer on one side only) shows as ``—``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen.budget import BudgetCheck, check_increases
from reportgen.errors import ReportgenError
from reportgen.jsonfile import MiB, check, load_json, schema
from reportgen.units import fmt_int, fmt_us

Number = int | float


class Unknown:
    """A figure the report gives as ``null``: derived figures only (an unprofiled time is
    absent, not unknown). One instance, :data:`UNKNOWN`, so two unknowns are equal."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()
Value = Number | Unknown | None
"""A compared figure: a number, unknown (``null`` in the report), or absent (None)."""


def _value(container: Mapping[str, Any], key: str, noisy: bool = False) -> Value:
    if key not in container:
        return None
    value = container[key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return UNKNOWN if value is None and not noisy else None


@dataclass(frozen=True)
class Metric:
    """One compared quantity: where it is in a model's totals and in each layer."""

    key: str
    label: str
    layer_field: str
    total: Callable[[Mapping[str, Any]], Value]
    fmt: Callable[[Number], str]
    noisy: bool = False
    """Measured with run-to-run noise (time): thresholded, labelled, never gating."""
    per_layer: bool = True
    """Whether layers have it too (the peak is the model's only)."""


def _totals(key: str) -> Callable[[Mapping[str, Any]], Value]:
    def get(report: Mapping[str, Any]) -> Value:
        totals = report.get("totals")
        return _value(totals, key) if isinstance(totals, dict) else None

    return get


def _step_time(report: Mapping[str, Any]) -> Value:
    profile = report.get("profile")
    value = profile.get("step_time_us") if isinstance(profile, dict) else None
    return value if isinstance(value, int | float) else None


def _fmt_count(value: Number) -> str:
    return fmt_int(int(value))


def _fmt_bytes(value: Number) -> str:
    """Exact bytes: a diff must show a 4-byte change, which KiB would round away."""
    return f"{fmt_int(int(value))} B"


METRICS: tuple[Metric, ...] = (
    Metric("params", "parameters", "params", _totals("params"), _fmt_count),
    Metric(
        "bytes", "activation bytes", "activation_bytes", _totals("activation_bytes"), _fmt_bytes
    ),
    Metric(
        "peak",
        "peak activation bytes",
        "peak_activation_bytes",
        _totals("peak_activation_bytes"),
        _fmt_bytes,
        per_layer=False,
    ),
    Metric("flops", "FLOPs", "flops", _totals("flops"), _fmt_count),
    Metric("time", "time", "time_us", _step_time, fmt_us, noisy=True),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}
GATE_KINDS = ("params", "bytes", "peak", "flops", "models")
"""What ``--fail-on`` accepts: a change in a derived metric, or a model added/removed."""

DEFAULT_TIME_THRESHOLD = 0.25
"""Relative change of a profiled time below which it is taken for noise."""
DEFAULT_TIME_FLOOR_US = 10.0
"""Absolute change of a profiled time (µs) below which it is taken for noise."""
_MOVED = ("added", "removed")
DEFAULT_MAX_LAYERS = 40
"""Changed layers listed per model; the rest are counted (a PR comment has a size limit)."""


@dataclass(frozen=True)
class TimeNoise:
    """When a profiled time change is large enough to mention."""

    relative: float = DEFAULT_TIME_THRESHOLD
    floor_us: float = DEFAULT_TIME_FLOOR_US

    def beyond(self, old: Number, new: Number) -> bool:
        delta = abs(new - old)
        if delta < self.floor_us:
            return False
        return old == 0 or delta / abs(old) >= self.relative


@dataclass(frozen=True)
class Change:
    """One metric, before and after (None: absent or not measured on that side)."""

    metric: Metric
    old: Value
    new: Value

    def text(self) -> str:
        fmt = self.metric.fmt
        if self.old == self.new and not isinstance(self.old, int | float):
            return _show(self.metric, self.old)
        if not isinstance(self.old, int | float) or not isinstance(self.new, int | float):
            return f"{_show(self.metric, self.old)} → {_show(self.metric, self.new)}"
        if self.old == self.new:
            return "="
        delta = self.new - self.old
        sign = "+" if delta > 0 else "-"
        parts = [f"{sign}{fmt(abs(delta))}"]
        if self.old != 0:
            parts.append(_percent(delta / abs(self.old)))
        if self.metric.noisy:
            parts.append("may be noise")
        return f"{fmt(self.old)} → {fmt(self.new)} ({', '.join(parts)})"


def _show(metric: Metric, value: Value) -> str:
    """A figure in a cell: the number, ``unknown``, or ``—`` where there is none."""
    if value is None:
        return "—"
    if isinstance(value, Unknown):
        return "unknown"
    return metric.fmt(value)


def _percent(fraction: float) -> str:
    sign = "+" if fraction > 0 else "-"
    value = abs(fraction) * 100
    if value >= 10:
        return f"{sign}{value:.0f} %"
    if value >= 0.1:
        return f"{sign}{value:.1f} %"
    return f"{sign}<0.1 %"


@dataclass(frozen=True)
class LayerDiff:
    name: str
    old_class: str | None
    new_class: str | None
    changes: dict[str, Change]
    """Metric key → change, for every metric that changed (time: beyond the noise)."""

    @property
    def status(self) -> str:
        if self.old_class is None:
            return "added"
        if self.new_class is None:
            return "removed"
        return "changed"

    def changes_metric(self, key: str) -> bool:
        """Whether this layer changes a metric: an added or removed one only where it had
        some of it (a Dropout added changes no parameter count)."""
        change = self.changes.get(key)
        if change is None:
            return False
        if self.status in _MOVED:
            return bool(change.old or change.new)
        return True

    def class_text(self) -> str:
        if self.old_class and self.new_class and self.old_class != self.new_class:
            return f"{self.old_class} → {self.new_class}"
        return self.new_class or self.old_class or ""


@dataclass(frozen=True)
class ModelDiff:
    slug: str
    status: str
    """``added``, ``removed``, ``changed`` or ``same``."""
    totals: dict[str, Change]
    """Every metric's model total, before and after."""
    layers: list[LayerDiff] = field(default_factory=list)

    def changed(self, key: str) -> bool:
        """Whether a derived metric changed anywhere in this (kept) model."""
        if self.status in ("added", "removed"):
            return False
        total = self.totals[key]
        return total.old != total.new or any(layer.changes_metric(key) for layer in self.layers)


@dataclass(frozen=True)
class SiteDiff:
    models: list[ModelDiff]
    noise: TimeNoise
    budgets: BudgetCheck = field(default_factory=BudgetCheck)
    """The budgets the new reports carry, checked (:func:`reportgen.budget.check_increases`)."""

    def by_status(self, status: str) -> list[ModelDiff]:
        return [m for m in self.models if m.status == status]

    def gate_failures(self, kinds: Iterable[str]) -> list[str]:
        """One phrase per requested kind that changed, naming the models."""
        failures = []
        for kind in kinds:
            if kind == "models":
                moved = [f"{m.slug} ({m.status})" for m in self.models if m.status in _MOVED]
                if moved:
                    failures.append(f"models added or removed: {', '.join(moved)}")
                continue
            slugs = [m.slug for m in self.models if m.changed(kind)]
            if slugs:
                failures.append(f"{METRIC_BY_KEY[kind].label} changed in {', '.join(slugs)}")
        return failures


# --- reading ---------------------------------------------------------------------------


MAX_REPORT_BYTES = 512 * MiB
"""Largest ``data/<slug>.json`` that ``diff`` reads (ResNet50's: about 300 KiB)."""
MAX_REPORT_DEPTH = 64
"""Deepest nesting of arrays and objects in a report (real ones: under 10)."""
REPORT_SCHEMA = "report.schema.json"
"""The schema of the reports this reportgen writes (the site ships it too)."""
ANY_REPORT_SCHEMA = "report-diff.schema.json"
"""What ``diff`` reads of a report of another ``schema_version`` (an older site)."""


def load_data(path: Path) -> dict[str, dict[str, Any]]:
    """``{slug: report}`` from a site, a ``data`` directory, or one ``<slug>.json`` file.

    Each file is untrusted (a site built elsewhere): at most :data:`MAX_REPORT_BYTES`,
    nested at most :data:`MAX_REPORT_DEPTH` deep, then, if it is a report (it has a
    ``schema_version``), valid against ``report.schema.json``, or for another schema
    version against what ``diff`` reads. Other JSON files are skipped (``data/`` also holds
    ``report.schema.json``). A fault is one line naming the file and the field.
    """
    if path.is_file():
        files = [path]
    elif (path / "data").is_dir():
        files = sorted((path / "data").glob("*.json"))
    elif path.is_dir():
        files = sorted(path.glob("*.json"))
    else:
        raise ReportgenError(f"{path}: no such site, data directory or file")
    reports: dict[str, dict[str, Any]] = {}
    for file in files:
        if file is not path and not file.is_file():
            continue  # a directory named x.json
        data = load_json(file, MAX_REPORT_BYTES, MAX_REPORT_DEPTH, "JSON report")
        if not _is_report(data):
            continue  # e.g. data/report.schema.json
        check_report(data, file)
        slug = data["slug"]
        if slug in reports:
            raise ReportgenError(f"{file}: the slug {slug!r} appears twice in {path}")
        reports[slug] = data
    if not reports:
        raise ReportgenError(f"{path}: holds no model report (data/<slug>.json)")
    return reports


def _is_report(data: Any) -> bool:
    """A report says its schema version; anything else in ``data/`` is not one."""
    return isinstance(data, dict) and "schema_version" in data


def check_report(data: dict[str, Any], file: Path) -> None:
    """A report of this reportgen's schema version against ``report.schema.json``; one of
    another version (an older or newer site) against the fields ``diff`` reads."""
    current = schema(REPORT_SCHEMA)["properties"]["schema_version"]["const"]
    is_current = data.get("schema_version") == current and isinstance(
        data.get("schema_version"), int
    )
    check(data, REPORT_SCHEMA if is_current else ANY_REPORT_SCHEMA, file)


def check_output_path(path: Path) -> None:
    """Fail before any work when the Markdown cannot be written to ``path``: its folder
    is missing or not writable, or it is a directory."""
    folder = path.parent
    cause = None
    if path.is_dir():
        cause = "it is a directory"
    elif not folder.is_dir():
        missing = "is not a directory" if folder.exists() else "does not exist"
        cause = f"the folder {folder} {missing}"
    elif path.exists() and not os.access(path, os.W_OK):
        cause = "the file is not writable"
    elif not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        cause = f"the folder {folder} is not writable"
    if cause is not None:
        raise ReportgenError(f"{path}: cannot write the Markdown there: {cause}")


def write_markdown(path: Path, text: str) -> None:
    """Write the Markdown table; an OS failure is one line naming the path and the cause."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        cause = exc.strerror or type(exc).__name__
        raise ReportgenError(f"{path}: cannot write the Markdown: {cause}") from exc


# --- comparing -------------------------------------------------------------------------


def diff_sites(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    noise: TimeNoise | None = None,
) -> SiteDiff:
    """Compare two ``{slug: report}`` maps; models in the new order, removed ones last."""
    noise = noise or TimeNoise()
    models = []
    for slug in [*new, *(s for s in old if s not in new)]:
        models.append(_diff_model(slug, old.get(slug), new.get(slug), noise))
    return SiteDiff(models, noise, check_increases(old, new))


def _diff_model(
    slug: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    noise: TimeNoise,
) -> ModelDiff:
    totals = {
        m.key: Change(
            m, m.total(old) if old is not None else None, m.total(new) if new is not None else None
        )
        for m in METRICS
    }
    if old is None or new is None:
        return ModelDiff(slug, "added" if old is None else "removed", totals)
    layers = _diff_layers(old["layers"], new["layers"], noise)
    total_changed = any(_differs(change, noise) for change in totals.values())
    status = "changed" if layers or total_changed else "same"
    return ModelDiff(slug, status, totals, layers)


def _differs(change: Change, noise: TimeNoise) -> bool:
    if not change.metric.noisy:
        return change.old != change.new
    if not isinstance(change.old, int | float) or not isinstance(change.new, int | float):
        return False  # profiled on one side only (--no-profile): nothing to compare
    return noise.beyond(change.old, change.new)


def _layer_value(layer: Mapping[str, Any] | None, metric: Metric) -> Value:
    if layer is None:
        return None
    return _value(layer, metric.layer_field, metric.noisy)


def _diff_layers(
    old_layers: list[Mapping[str, Any]], new_layers: list[Mapping[str, Any]], noise: TimeNoise
) -> list[LayerDiff]:
    old_by_name = {str(layer["name"]): layer for layer in old_layers}
    new_names = {str(layer["name"]) for layer in new_layers}
    pairs: list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]] = [
        (str(layer["name"]), old_by_name.get(str(layer["name"])), layer) for layer in new_layers
    ]
    pairs += [(name, layer, None) for name, layer in old_by_name.items() if name not in new_names]
    diffs = []
    for name, old, new in pairs:
        changes = {}
        for metric in METRICS:
            change = Change(metric, _layer_value(old, metric), _layer_value(new, metric))
            if old is None or new is None or _differs(change, noise):
                changes[metric.key] = change
        old_class = str(old["class_name"]) if old is not None else None
        new_class = str(new["class_name"]) if new is not None else None
        if changes or old is None or new is None or old_class != new_class:
            diffs.append(LayerDiff(name, old_class, new_class, changes))
    return diffs


# --- writing ---------------------------------------------------------------------------


def code(text: str) -> str:
    """A name as a Markdown code span that survives a table cell (``|``, backticks)."""
    text = " ".join(text.split()).replace("|", "\\|")
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _model_cell(change: Change, diff: ModelDiff, noise: TimeNoise) -> str:
    if diff.status in _MOVED:
        return _show(change.metric, change.new if diff.status == "added" else change.old)
    if change.metric.noisy:
        if not isinstance(change.old, int | float) or not isinstance(change.new, int | float):
            return "—"  # profiled on one side only: nothing to compare
        if not noise.beyond(change.old, change.new):
            return "="
    return change.text()


def _layer_cell(layer: LayerDiff, metric: Metric) -> str:
    change = layer.changes.get(metric.key)
    if change is None:
        return "="
    if layer.status in _MOVED:
        return _show(metric, change.new if layer.status == "added" else change.old)
    return change.text()


def to_markdown(
    diff: SiteDiff,
    old_label: str = "old",
    new_label: str = "new",
    max_layers: int = DEFAULT_MAX_LAYERS,
    gate_failures: list[str] | None = None,
) -> str:
    lines = ["### reportgen diff", "", *_budget_lines(diff.budgets)]
    lines.append(f"{code(old_label)} → {code(new_label)}: " + _summary(diff) + ".")
    lines.append("")
    if gate_failures:
        lines += [f"**Gate failed:** {'; '.join(gate_failures)}.", ""]
    shown = [m for m in diff.models if m.status != "same"]
    if not shown:
        lines.append("No model changed.")
        return "\n".join(lines) + "\n"
    header = "| model | " + " | ".join(_heading(m) for m in METRICS) + " |"
    lines += [header, "|---|" + "---:|" * len(METRICS)]
    for model in shown:
        name = code(model.slug) + (f" ({model.status})" if model.status in _MOVED else "")
        cells = [_model_cell(model.totals[m.key], model, diff.noise) for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for model in shown:
        if not model.layers:
            continue
        lines += ["", f"#### {code(model.slug)}: layers", ""]
        columns = [m for m in METRICS if m.per_layer]
        lines.append("| layer | class | " + " | ".join(_heading(m) for m in columns) + " |")
        lines.append("|---|---|" + "---:|" * len(columns))
        for layer in model.layers[:max_layers]:
            name = code(layer.name) + (f" ({layer.status})" if layer.status in _MOVED else "")
            cells = [_layer_cell(layer, m) for m in columns]
            lines.append(f"| {name} | {layer.class_text()} | " + " | ".join(cells) + " |")
        if len(model.layers) > max_layers:
            more = len(model.layers) - max_layers
            lines += ["", f"… and {more} more changed layer{'s' if more != 1 else ''}."]
    unchanged = diff.by_status("same")
    if unchanged:
        lines += ["", "Unchanged: " + ", ".join(code(m.slug) for m in unchanged) + "."]
    lines += ["", _time_note(diff.noise)]
    return "\n".join(lines) + "\n"


def _budget_lines(check: BudgetCheck) -> list[str]:
    """Budget breaches first (a pull request's comment opens with them), then what could
    not be checked; nothing when no report carries a budget."""
    lines = []
    if check.breaches:
        lines += ["#### Budget breaches", "", *(f"- {line}" for line in check.breaches), ""]
    if check.unchecked:
        lines += ["Budgets not checked:", "", *(f"- {line}" for line in check.unchecked), ""]
    return lines


def _heading(metric: Metric) -> str:
    return "time ¹" if metric.noisy else metric.label


def _summary(diff: SiteDiff) -> str:
    counts = [(len(diff.by_status(s)), s) for s in ("changed", "same", "added", "removed")]
    words = {"same": "unchanged"}
    total = len(diff.models)
    parts = [f"{n} {words.get(s, s)}" for n, s in counts if n]
    return f"{total} model{'s' if total != 1 else ''}, " + ", ".join(parts)


def _time_note(noise: TimeNoise) -> str:
    return (
        "¹ Profiled time per forward pass (model) or per layer, median of the profiled "
        "passes. It varies from run to run with the machine's load, so a change is shown "
        f"only beyond ±{noise.relative * 100:g} % and {noise.floor_us:g} µs, and even then "
        "it may be timing noise: it is not a regression by itself and never fails "
        "`--fail-on`."
    )


def parse_fail_on(value: str | None) -> list[str]:
    """``"params,flops"`` → ``["params", "flops"]``; time is refused, with the reason."""
    if not value:
        return []
    kinds = [k.strip().lower() for k in value.split(",") if k.strip()]
    for kind in kinds:
        if kind == "time":
            raise ReportgenError(
                "--fail-on time: profiled times are too noisy to gate on; "
                f"choose from {', '.join(GATE_KINDS)}"
            )
        if kind not in GATE_KINDS:
            raise ReportgenError(
                f"--fail-on {kind}: unknown kind; choose from {', '.join(GATE_KINDS)}"
            )
    return list(dict.fromkeys(kinds))


@dataclass(frozen=True)
class DiffOutcome:
    """What ``reportgen diff`` prints and why it fails."""

    markdown: str
    gate_failures: list[str]
    """``--fail-on`` kinds that changed."""
    budget_breaches: list[str]
    """One line per budget limit the new build breaks or cannot check: always a failure."""


def compare(
    old: Path,
    new: Path,
    fail_on: str | None = None,
    noise: TimeNoise | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> DiffOutcome:
    """Read both sides, compare them, and say what fails."""
    kinds = parse_fail_on(fail_on)
    diff = diff_sites(load_data(old), load_data(new), noise)
    failures = diff.gate_failures(kinds)
    markdown = to_markdown(diff, str(old), str(new), max_layers, failures)
    return DiffOutcome(markdown, failures, list(diff.budgets.breaches))


def run_diff(
    old: Path,
    new: Path,
    fail_on: str | None = None,
    noise: TimeNoise | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> tuple[str, list[str]]:
    """The Markdown report and every failure: budget breaches, then the gate's (empty:
    the command succeeds)."""
    outcome = compare(old, new, fail_on, noise, max_layers)
    return outcome.markdown, [*outcome.budget_breaches, *outcome.gate_failures]
