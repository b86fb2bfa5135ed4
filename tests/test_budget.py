"""Budgets (``[models.budget]``): parsing, the build's and render's checks after publishing,
``reportgen diff``'s relative checks, and the budget table on the pages. No TensorFlow:
hand-made LeNet facts (3,274,634 parameters, 27,844,156 FLOPs, 212,072 output bytes,
peak 125,440 B, 13,098,536 parameter bytes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reportgen.budget import (
    Budget,
    BudgetError,
    check_budget,
    check_increases,
    increase_problem,
    parse_budget,
    report_budget,
)
from reportgen.cli import main
from reportgen.config import ModelSpec, load_config
from reportgen.derive import derive_model
from reportgen.diff import compare, diff_sites, load_data, to_markdown
from reportgen.errors import ConfigError, ReportgenError
from reportgen.facts import LayerFacts
from reportgen.jsonfile import schema
from reportgen.render.data import report_data
from tests.handmade import layer, lenet_facts, lenet_layers, wider_fc2_layers
from tests.sitecheck import parse

MODEL = """
[[models]]
slug = "lenet"
source = "tests.handmade:lenet"
"""


def write_config(tmp_path: Path, budget: str) -> Path:
    path = tmp_path / "reportgen.toml"
    path.write_text(MODEL + "\n[models.budget]\n" + budget, encoding="utf-8")
    return path


# --- configuration -----------------------------------------------------------------------


def test_budget_is_parsed_in_quantity_order(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "flops = 30_000_000\nparams = 3_000_000\nmax_increase = { params = 0.02, flops = 0 }\n",
    )
    (spec,) = load_config(path).models
    assert spec.budget == Budget(
        limits=(("params", 3_000_000), ("flops", 30_000_000)),
        max_increase=(("params", 0.02), ("flops", 0.0)),
    )


def test_a_model_without_budget_has_none(tmp_path: Path) -> None:
    path = tmp_path / "reportgen.toml"
    path.write_text(MODEL, encoding="utf-8")
    assert load_config(path).models[0].budget is None


def test_budget_stays_out_of_what_collecting_depends_on(tmp_path: Path) -> None:
    """``to_dict`` is a collect worker's request and the facts cache's key: a budget
    changes no collected fact, so changing it must not re-collect."""
    (with_budget,) = load_config(write_config(tmp_path, "params = 1\n")).models
    without = dataclasses.replace(with_budget, budget=None)
    assert "budget" not in with_budget.to_dict()
    assert with_budget.to_dict() == without.to_dict()
    assert ModelSpec.from_dict(with_budget.to_dict()) == without


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (
            "flopz = 1\n",
            r"models\[0\]\.budget\.flopz: unknown quantity; expected one of params, flops, "
            r"activation_bytes, peak_activation_bytes, param_bytes, max_increase$",
        ),
        ("params = -1\n", r"models\[0\]\.budget\.params must be a non-negative integer .*got -1"),
        ("params = '3'\n", r"budget\.params must be a non-negative integer .*got '3'"),
        ("params = true\n", r"budget\.params must be a non-negative integer .*got True"),
        ("params = 3e6\n", r"budget\.params must be a non-negative integer .*got 3000000\.0"),
        ("max_increase = 0.02\n", r"budget\.max_increase must be a table of quantity = fraction"),
        ("max_increase = {}\n", r"budget\.max_increase must be a table"),
        (
            "max_increase = { flopz = 0.1 }\n",
            r"budget\.max_increase\.flopz: unknown quantity; expected one of params, flops, "
            r"activation_bytes, peak_activation_bytes, param_bytes$",
        ),
        (
            "max_increase = { params = -0.1 }\n",
            r"budget\.max_increase\.params must be a non-negative fraction .*got -0\.1",
        ),
        ("max_increase = { params = true }\n", r"max_increase\.params must be a non-negative"),
        ("max_increase = { params = 'x' }\n", r"max_increase\.params must be a non-negative"),
        ("max_increase = { params = nan }\n", r"max_increase\.params must be a non-negative"),
        ("max_increase = { params = inf }\n", r"max_increase\.params must be a non-negative"),
    ],
)
def test_budget_mistakes_name_the_key(tmp_path: Path, budget: str, message: str) -> None:
    path = write_config(tmp_path, budget)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: models[0].budget")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["3", "{}"])
def test_budget_must_be_a_table_with_limits(tmp_path: Path, value: str) -> None:
    path = tmp_path / "reportgen.toml"
    path.write_text(MODEL + f"budget = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"models\[0\]\.budget must be a table of limits"):
        load_config(path)


def test_budget_in_pyproject_names_the_tool_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        MODEL.replace("[[models]]", "[[tool.reportgen.models]]")
        + "[tool.reportgen.models.budget]\nparamz = 1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"tool\.reportgen\.models\[0\]\.budget\.paramz"):
        load_config(path)


# --- absolute limits ------------------------------------------------------------------------


def lenet_report(layers: tuple[LayerFacts, ...] | None = None) -> Any:
    return derive_model(lenet_facts(layers=layers))


def with_mystery_layer() -> tuple[LayerFacts, ...]:
    """A layer reportgen has no FLOPs formula for: the FLOPs total is unknown."""
    layers = list(lenet_layers())
    layers.insert(7, layer("mystery", "MysteryLayer", (None, 1024), (None, 1024)))
    return tuple(layers)


def test_absolute_limits_within_exceeded_and_unknown() -> None:
    budget = parse_budget(
        {"params": 3_274_634, "flops": 1_000_000, "param_bytes": 13_098_535}, None, "budget"
    )
    report = check_budget(budget, lenet_report().totals)
    assert [(line.quantity, line.value, line.status) for line in report.lines] == [
        ("params", 3_274_634, "within"),  # equal to the limit: the most allowed
        ("flops", 27_844_156, "exceeded"),
        ("param_bytes", 13_098_536, "exceeded"),
    ]
    unknown = check_budget(budget, lenet_report(with_mystery_layer()).totals)
    assert unknown.lines[1].status == "unknown" and unknown.lines[1].value is None
    assert unknown.to_dict() == {
        "limits": {"params": 3_274_634, "flops": 1_000_000, "param_bytes": 13_098_535},
        "max_increase": {},
        "status": {"params": "within", "flops": "unknown", "param_bytes": "exceeded"},
    }


def collected(tmp_path: Path, layers: tuple[LayerFacts, ...] | None = None) -> Path:
    model_dir = tmp_path / "collected" / "lenet"
    model_dir.mkdir(parents=True)
    (model_dir / "facts.json").write_text(lenet_facts(layers=layers).to_json(), encoding="utf-8")
    return model_dir


def render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: str, layers: Any = None) -> int:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    collected(tmp_path, layers)
    config = write_config(tmp_path, budget)
    site = tmp_path / "site"
    return main(
        ["render", str(tmp_path / "collected"), "--out", str(site), "--config", str(config)]
    )


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("reportgen: error: ")]


def test_render_fails_after_publishing_with_one_line_per_breach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = "params = 3_000_000\npeak_activation_bytes = 100_000\nactivation_bytes = 300_000\n"
    assert render(tmp_path, monkeypatch, budget) == 1
    assert error_lines(capsys) == [
        "reportgen: error: lenet: params 3,274,634 exceeds the budget 3,000,000",
        "reportgen: error: lenet: peak_activation_bytes 125,440 exceeds the budget 100,000",
        f"reportgen: error: 2 budget limits not met; {tmp_path / 'site'}/ was published "
        "all the same, so its pages show why",
    ]
    # Published: the reader sees why.
    data = json.loads((tmp_path / "site" / "data" / "lenet.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema("report.schema.json"))
    assert data["budget"] == {
        "limits": {
            "params": 3_000_000,
            "activation_bytes": 300_000,
            "peak_activation_bytes": 100_000,
        },
        "max_increase": {},
        "status": {
            "params": "exceeded",
            "activation_bytes": "within",
            "peak_activation_bytes": "exceeded",
        },
    }


def test_an_unknown_figure_fails_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render(tmp_path, monkeypatch, "flops = 1_000_000\n", with_mystery_layer()) == 1
    assert error_lines(capsys)[0] == (
        "reportgen: error: lenet: flops is unknown, so the budget 1,000,000 cannot be checked"
    )
    assert (tmp_path / "site" / "en" / "lenet.html").is_file()


def test_render_within_budget_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = "params = 3_274_634\nmax_increase = { params = 0.02 }\n"
    assert render(tmp_path, monkeypatch, budget) == 0
    assert error_lines(capsys) == []


def test_a_render_without_budgets_writes_no_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.chdir(tmp_path)  # no configuration: the built-in one
    collected(tmp_path)
    assert main(["render", "collected", "--out", "site", "--quiet"]) == 0
    data = json.loads((tmp_path / "site" / "data" / "lenet.json").read_text(encoding="utf-8"))
    assert "budget" not in data
    assert parse(tmp_path / "site" / "en" / "lenet.html").find(id="budget") is None


# --- the page ------------------------------------------------------------------------------


def budget_rows(page: Path) -> list[list[str]]:
    body = parse(page).select_one("#budget tbody")
    assert body is not None
    return [
        [" ".join(cell.get_text(" ", strip=True).split()) for cell in row.find_all(["th", "td"])]
        for row in body.find_all("tr")
    ]


def test_pages_show_each_limit_and_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = (
        "params = 3_000_000\nactivation_bytes = 300_000\nflops = 1\n"
        "max_increase = { params = 0.02, peak_activation_bytes = 0.005 }\n"
    )
    assert render(tmp_path, monkeypatch, budget, with_mystery_layer()) == 1
    assert budget_rows(tmp_path / "site" / "en" / "lenet.html") == [
        ["Parameters params", "3,000,000", "3,274,634", "exceeded"],
        [
            "FLOPs flops",
            "1",
            "cannot be derived",
            "unknown a figure that cannot be derived fails its budget",
        ],
        ["Output memory activation_bytes · in bytes", "300,000", "216,168", "within"],
        [
            "Parameters params",
            "at most +2 % per build",
            "3,274,634",
            "known only when two builds are compared "
            "checked by reportgen diff against the build it compares with",
        ],
        [
            "Peak activation memory peak_activation_bytes · in bytes",
            "at most +0.5 % per build",
            "125,440",
            "known only when two builds are compared "
            "checked by reportgen diff against the build it compares with",
        ],
    ]
    zh = budget_rows(tmp_path / "site" / "zh" / "lenet.html")
    assert zh[0][1:3] == ["3,000,000", "3,274,634"]
    assert zh[0][3] != "exceeded" and zh[3][1] != "at most +2 % per build"  # translated
    assert "2" in zh[3][1]


def test_only_known_quantities_reach_the_table() -> None:
    """The table shows quantities from a fixed list: a budget brings no free text."""
    with pytest.raises(ConfigError):
        parse_budget({"<script>": 1}, None, "budget")


# --- diff: relative limits -----------------------------------------------------------------


def wider_fc2() -> tuple[LayerFacts, ...]:
    """fc2 with 11 units: 1,025 parameters more (+0.03 %)."""
    return wider_fc2_layers()


def data(layers: tuple[LayerFacts, ...] | None = None, **budget: Any) -> dict[str, Any]:
    """A ``data/lenet.json``; ``budget`` as ``parse_budget`` takes it."""
    report = lenet_report(layers)
    if budget:
        checked = check_budget(parse_budget(budget, None, "budget"), report.totals)
        report = dataclasses.replace(report, budget=checked)
    return report_data(report)


def test_growth_within_and_beyond_the_allowed_fraction() -> None:
    old = {"lenet": data()}
    within = check_increases(old, {"lenet": data(wider_fc2(), max_increase={"params": 0.02})})
    assert within.breaches == () and within.unchecked == ()
    beyond = check_increases(old, {"lenet": data(wider_fc2(), max_increase={"params": 0.0001})})
    assert beyond.breaches == (
        "lenet: params grew 0.03 % (3,274,634 → 3,275,659), above the allowed 0.01 %",
    )


@pytest.mark.parametrize(
    ("fraction", "old", "new", "breach"),
    [
        (0.02, 100, 102, None),  # exactly +2 %: allowed
        (0.02, 100, 103, "m: params grew 3.0 % (100 → 103), above the allowed 2 %"),
        (0.02, 1000, 1021, "m: params grew 2.1 % (1,000 → 1,021), above the allowed 2 %"),
        # One decimal would read 2.0 %, as if it were allowed: more decimals.
        (0.02, 10000, 10201, "m: params grew 2.01 % (10,000 → 10,201), above the allowed 2 %"),
        (0.0, 5, 5, None),
        (0.0, 5, 4, None),  # shrinking is always within
        (0.0, 5, 6, "m: params grew 20.0 % (5 → 6), above the allowed 0 %"),
        (0.5, 0, 1, "m: params grew from 0 to 1, above the allowed 50 %"),
        (
            0.02,
            100,
            None,
            "m: params is unknown, so its allowed increase of at most +2 % cannot be checked",
        ),
    ],
)
def test_increase_problem(fraction: float, old: int, new: int | None, breach: str | None) -> None:
    assert increase_problem("m", "params", fraction, old, new) == (breach, None)


def test_no_earlier_figure_is_said_not_failed() -> None:
    new = {"lenet": data(max_increase={"params": 0.02})}
    check = check_increases({}, new)
    assert check.breaches == ()
    assert check.unchecked == (
        "lenet: params has no earlier figure to compare with, so its growth was not checked",
    )
    older = data()
    older["totals"]["params"] = None  # the earlier build could not derive it
    assert check_increases({"lenet": older}, new).unchecked == check.unchecked


def test_diff_also_lists_the_absolute_breaches_of_the_new_build() -> None:
    new = {"lenet": data(params=3_000_000, flops=100)}
    assert check_increases({"lenet": data()}, new).breaches == (
        "lenet: params 3,274,634 exceeds the budget 3,000,000",
        "lenet: flops 27,844,156 exceeds the budget 100",
    )


def test_breaches_come_first_in_the_markdown() -> None:
    old = {"lenet": data()}
    new = {"lenet": data(wider_fc2(), max_increase={"params": 0.0001}), "other": data()}
    new["other"] = {**data(max_increase={"flops": 0.1}), "slug": "other"}
    markdown = to_markdown(diff_sites(old, new))
    lines = markdown.splitlines()
    assert lines[:9] == [
        "### reportgen diff",
        "",
        "#### Budget breaches",
        "",
        "- lenet: params grew 0.03 % (3,274,634 → 3,275,659), above the allowed 0.01 %",
        "",
        "Budgets not checked:",
        "",
        "- other: flops has no earlier figure to compare with, so its growth was not checked",
    ]
    assert markdown.index("#### Budget breaches") < markdown.index("| model |")


def test_no_budget_no_budget_section() -> None:
    markdown = to_markdown(diff_sites({"lenet": data()}, {"lenet": data(wider_fc2())}))
    assert "Budget" not in markdown


def write_site(root: Path, report: dict[str, Any]) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "lenet.json").write_text(json.dumps(report), encoding="utf-8")
    return root


def test_cli_diff_fails_on_a_breach_with_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_site(tmp_path / "old", data())
    new = write_site(tmp_path / "new", data(wider_fc2(), max_increase={"params": 0.0001}))
    out = tmp_path / "diff.md"
    assert main(["diff", str(old), str(new), "--output", str(out)]) == 1
    assert error_lines(capsys) == [
        "reportgen: error: lenet: params grew 0.03 % (3,274,634 → 3,275,659), "
        "above the allowed 0.01 %",
        "reportgen: error: diff: 1 budget limit not met",
    ]
    assert out.read_text(encoding="utf-8").splitlines()[2] == "#### Budget breaches"
    # Within the budget: the diff succeeds, with no --fail-on.
    ok = write_site(tmp_path / "ok", data(wider_fc2(), max_increase={"params": 0.02}))
    assert main(["diff", str(old), str(ok)]) == 0


def test_cli_diff_reports_gate_and_budget_failures_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_site(tmp_path / "old", data())
    new = write_site(tmp_path / "new", data(wider_fc2(), max_increase={"params": 0}))
    outcome = compare(old, new, fail_on="params")
    assert outcome.gate_failures == ["parameters changed in lenet"]
    assert len(outcome.budget_breaches) == 1
    assert main(["diff", str(old), str(new), "--fail-on", "params"]) == 1
    lines = error_lines(capsys)
    assert lines[0].startswith("reportgen: error: lenet: params grew 0.03 %")
    assert lines[1] == "reportgen: error: diff: parameters changed in lenet (--fail-on params)"


def test_a_malformed_budget_in_a_report_is_one_line(tmp_path: Path) -> None:
    report = data(max_increase={"params": 0.02})
    report["budget"]["max_increase"]["params"] = -1
    with pytest.raises(ReportgenError, match=r"lenet\.json.*budget"):
        load_data(write_site(tmp_path / "bad", report))  # the schema refuses it
    with pytest.raises(ReportgenError, match=r"lenet: the report's budget\.max_increase\.params"):
        report_budget(report)  # and so does diff, for a report of another schema version
    report["budget"] = {"limits": [], "max_increase": {}}
    with pytest.raises(ReportgenError, match="must be objects"):
        report_budget(report)


def test_budget_error_is_a_reportgen_error() -> None:
    assert issubclass(BudgetError, ReportgenError)
