"""Budgets: the most a model may hold, and how much it may grow from one build to the next.

A model's configuration may set ``[models.budget]``::

    [models.budget]
    params = 3_000_000                   # absolute limits: the most allowed
    peak_activation_bytes = 150_000
    max_increase = { params = 0.02 }     # relative: at most +2 % against the compared build

Absolute limits are checked by ``reportgen build`` and ``reportgen render`` once the site is
published (so the pages show why the build failed); relative ones by ``reportgen diff``,
against the budget the new build's ``data/<slug>.json`` carries. A figure that cannot be
derived (unknown) never passes a budget: a gate that opens whenever the figure is missing
would open exactly when a change added a layer reportgen cannot count.

Budgets do not change what is collected: they are left out of
:meth:`reportgen.config.ModelSpec.to_dict` (what a collect worker is sent and what collected
facts are cached under), so changing a budget re-renders, never re-collects.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ConfigError, ReportgenError
from reportgen.units import fmt_int

if TYPE_CHECKING:
    from reportgen.model import ModelReport, Totals

QUANTITIES = ("params", "flops", "activation_bytes", "peak_activation_bytes", "param_bytes")
"""What a budget can limit: model totals of the report (``Totals``, ``data/<slug>.json``)."""
BYTE_QUANTITIES = frozenset({"activation_bytes", "peak_activation_bytes", "param_bytes"})
RELATIVE_KEY = "max_increase"

WITHIN = "within"
EXCEEDED = "exceeded"
UNKNOWN = "unknown"
IN_DIFF = "diff"
"""The status of a relative limit on a page: known only when two builds are compared."""


class BudgetError(ReportgenError):
    """A budget exceeded or impossible to check; the site is published all the same."""


@dataclass(frozen=True)
class Budget:
    """One model's budget, as configured; quantities in :data:`QUANTITIES` order."""

    limits: tuple[tuple[str, int], ...] = ()
    """Absolute limits: quantity → the most allowed."""
    max_increase: tuple[tuple[str, float], ...] = ()
    """Relative limits: quantity → the largest growth allowed against the compared build,
    as a fraction (0.02: +2 %)."""

    def to_dict(self) -> dict[str, Any]:
        """``{"limits": {...}, "max_increase": {...}}``, as ``data/<slug>.json`` carries it."""
        return {"limits": dict(self.limits), "max_increase": dict(self.max_increase)}


@dataclass(frozen=True)
class BudgetLine:
    """One limit of a budget and where this build stands against it (plain data for pages)."""

    quantity: str
    limit: int | None
    """The absolute limit; None for a relative one."""
    max_increase: float | None
    """The relative limit (a fraction); None for an absolute one."""
    percent: str
    """The relative limit in percent, written out (``"2"``, ``"0.5"``); empty if absolute."""
    value: int | None
    """This build's figure; None when it cannot be derived."""
    status: str
    """``within``, ``exceeded``, ``unknown`` (the figure cannot be derived), or ``diff``
    (a relative limit: only ``reportgen diff`` knows the earlier figure)."""
    in_bytes: bool


@dataclass(frozen=True)
class BudgetReport:
    """A model's budget checked against its report: what the page and the JSON show."""

    budget: Budget
    lines: tuple[BudgetLine, ...]

    @property
    def exceeded(self) -> bool:
        return any(line.status in (EXCEEDED, UNKNOWN) for line in self.lines)

    def status(self) -> dict[str, str]:
        """Quantity → status of each absolute limit (``data/<slug>.json``)."""
        return {line.quantity: line.status for line in self.lines if line.limit is not None}

    def to_dict(self) -> dict[str, Any]:
        return {**self.budget.to_dict(), "status": self.status()}


# --- configuration -----------------------------------------------------------------------


def _where(path: Path | None, key: str) -> str:
    return f"{path or '<config>'}: {key}"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fraction(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _unknown_quantity(path: Path | None, key: str, allowed: Iterable[str]) -> ConfigError:
    return ConfigError(
        f"{_where(path, key)}: unknown quantity; expected one of {', '.join(allowed)}"
    )


def parse_budget(raw: Any, path: Path | None, where: str) -> Budget:
    """``[models.budget]`` as a :class:`Budget`; ``where`` is the table's key
    (``models[2].budget``). Every mistake is a :class:`ConfigError` naming the key."""
    expected = (
        f"a table of limits ({', '.join(QUANTITIES)} = a non-negative integer, "
        f"{RELATIVE_KEY} = {{ quantity = fraction }})"
    )
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{_where(path, where)} must be {expected}, got {raw!r}")
    limits: dict[str, int] = {}
    for key, value in raw.items():
        if key == RELATIVE_KEY:
            continue
        if key not in QUANTITIES:
            raise _unknown_quantity(path, f"{where}.{key}", (*QUANTITIES, RELATIVE_KEY))
        if not _count(value):
            raise ConfigError(
                f"{_where(path, f'{where}.{key}')} must be a non-negative integer "
                f"(the most {key} allowed), got {value!r}"
            )
        limits[key] = value
    increases = _parse_increases(raw.get(RELATIVE_KEY), path, f"{where}.{RELATIVE_KEY}")
    return Budget(
        limits=tuple((q, limits[q]) for q in QUANTITIES if q in limits),
        max_increase=tuple((q, increases[q]) for q in QUANTITIES if q in increases),
    )


def _parse_increases(raw: Any, path: Path | None, where: str) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"{_where(path, where)} must be a table of quantity = fraction "
            f"(e.g. {{ params = 0.02 }} allows +2 %), got {raw!r}"
        )
    increases: dict[str, float] = {}
    for key, value in raw.items():
        if key not in QUANTITIES:
            raise _unknown_quantity(path, f"{where}.{key}", QUANTITIES)
        if not _fraction(value):
            raise ConfigError(
                f"{_where(path, f'{where}.{key}')} must be a non-negative fraction "
                f"(0.02 allows +2 %), got {value!r}"
            )
        increases[key] = float(value)
    return increases


# --- absolute limits: build and render ------------------------------------------------------


def percent_text(fraction: float) -> str:
    """``0.02`` → ``"2"``, ``0.005`` → ``"0.5"``: a configured limit, in percent, as written."""
    return f"{float(Fraction(str(fraction)) * 100):g}"


def check_budget(budget: Budget, totals: Totals) -> BudgetReport:
    """Each limit of ``budget`` against a report's totals (relative ones: for ``diff``)."""
    lines = []
    for quantity, limit in budget.limits:
        value = getattr(totals, quantity)
        status = UNKNOWN if value is None else WITHIN if value <= limit else EXCEEDED
        lines.append(
            BudgetLine(quantity, limit, None, "", value, status, quantity in BYTE_QUANTITIES)
        )
    for quantity, fraction in budget.max_increase:
        lines.append(
            BudgetLine(
                quantity,
                None,
                fraction,
                percent_text(fraction),
                getattr(totals, quantity),
                IN_DIFF,
                quantity in BYTE_QUANTITIES,
            )
        )
    return BudgetReport(budget, tuple(lines))


def attach_budgets(
    reports: Iterable[ModelReport], budgets: Mapping[str, Budget | None]
) -> list[ModelReport]:
    """Each report with its model's budget checked (``ModelReport.budget``), by slug."""
    attached = []
    for report in reports:
        budget = budgets.get(report.slug)
        if budget is not None:
            report = dataclasses.replace(report, budget=check_budget(budget, report.totals))
        attached.append(report)
    return attached


def absolute_problem(slug: str, quantity: str, limit: int, value: int | None) -> str | None:
    """One line for a limit exceeded or impossible to check; None within it."""
    if value is None:
        return f"{slug}: {quantity} is unknown, so the budget {fmt_int(limit)} cannot be checked"
    if value > limit:
        return f"{slug}: {quantity} {fmt_int(value)} exceeds the budget {fmt_int(limit)}"
    return None


def budget_problems(reports: Iterable[ModelReport]) -> list[str]:
    """One line per absolute limit exceeded or unknown, in model and quantity order."""
    problems = []
    for report in reports:
        if report.budget is None:
            continue
        for line in report.budget.lines:
            if line.limit is not None:
                problem = absolute_problem(report.slug, line.quantity, line.limit, line.value)
                if problem is not None:
                    problems.append(problem)
    return problems


# --- relative limits: diff -----------------------------------------------------------------


@dataclass(frozen=True)
class BudgetCheck:
    """What ``reportgen diff`` finds against the budgets the new build carries."""

    breaches: tuple[str, ...] = ()
    """One line per limit exceeded or impossible to check: the diff fails."""
    unchecked: tuple[str, ...] = ()
    """One line per relative limit with no earlier figure to compare with (a new model, an
    older site, a figure the earlier build could not derive): said, not failed."""


def _total(report: Mapping[str, Any] | None, quantity: str) -> int | None:
    totals = report.get("totals") if report is not None else None
    value = totals.get(quantity) if isinstance(totals, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def report_budget(report: Mapping[str, Any]) -> Budget | None:
    """The budget a ``data/<slug>.json`` carries, checked like a configuration's (it may
    come from a site built elsewhere); None when it has none."""
    raw = report.get("budget")
    if raw is None:
        return None
    slug = report.get("slug", "?")
    if not isinstance(raw, dict):
        raise ReportgenError(f"{slug}: the report's budget must be an object, got {raw!r}")
    limits = raw.get("limits", {})
    increases = raw.get(RELATIVE_KEY, {})
    if not isinstance(limits, dict) or not isinstance(increases, dict):
        raise ReportgenError(f"{slug}: the report's budget limits must be objects, got {raw!r}")
    table: dict[str, Any] = dict(limits)
    if increases:
        table[RELATIVE_KEY] = increases
    if not table:
        return None
    try:
        return parse_budget(table, None, f"{slug}: the report's budget")
    except ConfigError as exc:
        raise ReportgenError(str(exc).removeprefix("<config>: ")) from exc


def increase_problem(
    slug: str, quantity: str, fraction: float, old: int | None, new: int | None
) -> tuple[str | None, str | None]:
    """(a breach, a note): at most one of them, or neither when within the limit."""
    allowed = f"{percent_text(fraction)} %"
    if new is None:
        return (
            f"{slug}: {quantity} is unknown, so its allowed increase of at most +{allowed} "
            "cannot be checked",
            None,
        )
    if old is None:
        return None, (
            f"{slug}: {quantity} has no earlier figure to compare with, so its growth "
            "was not checked"
        )
    if new <= old:
        return None, None
    if old == 0:
        return (
            f"{slug}: {quantity} grew from 0 to {fmt_int(new)}, above the allowed {allowed}",
            None,
        )
    if Fraction(new - old, old) <= Fraction(str(fraction)):
        return None, None
    return (
        f"{slug}: {quantity} grew {_percent_of_growth(old, new, fraction)} % "
        f"({fmt_int(old)} → {fmt_int(new)}), above the allowed {allowed}",
        None,
    )


def _percent_of_growth(old: int, new: int, fraction: float) -> str:
    """The growth in percent, rounded to one decimal unless that would read as allowed."""
    growth = Fraction(new - old, old) * 100
    limit = Fraction(str(fraction)) * 100
    for decimals in range(1, 7):
        text = f"{float(growth):.{decimals}f}"
        if Fraction(text) > limit:
            return text
    return f"{float(growth):.6g}"


def check_increases(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> BudgetCheck:
    """Every budget the new reports carry: absolute limits against the new figures (what the
    build checked, repeated so a pull request's comment lists them), relative ones against
    the old report of the same slug."""
    breaches: list[str] = []
    unchecked: list[str] = []
    for slug, report in new.items():
        budget = report_budget(report)
        if budget is None:
            continue
        for quantity, limit in budget.limits:
            problem = absolute_problem(slug, quantity, limit, _total(report, quantity))
            if problem is not None:
                breaches.append(problem)
        before = old.get(slug)
        for quantity, fraction in budget.max_increase:
            earlier = _total(before, quantity)
            breach, note = increase_problem(
                slug, quantity, fraction, earlier, _total(report, quantity)
            )
            if breach is not None:
                breaches.append(breach)
            if note is not None:
                unchecked.append(note)
    return BudgetCheck(tuple(breaches), tuple(unchecked))
