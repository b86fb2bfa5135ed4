"""``reportgen diff``: hand-made reports (the LeNet of DESIGN.md, then changed), no TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.cli import main
from reportgen.derive import derive_model
from reportgen.diff import (
    TimeNoise,
    code,
    diff_sites,
    load_data,
    parse_fail_on,
    run_diff,
    to_markdown,
)
from reportgen.errors import ReportgenError
from reportgen.render.data import report_data
from tests.handmade import layer, lenet_facts, lenet_layers, wider_fc2_layers


def lenet_data(**overrides: Any) -> dict[str, Any]:
    return report_data(derive_model(lenet_facts(**overrides)))


def wider_fc2() -> dict[str, Any]:
    """The LeNet with 11 classes instead of 10: fc2 gains 1025 parameters."""
    return lenet_data(layers=wider_fc2_layers())


def without_dropout_with_fc3() -> dict[str, Any]:
    """Dropout removed (no parameters), a Dense layer added after fc2."""
    layers = [item for item in lenet_layers() if item.name != "dropout"]
    layers.append(
        layer(
            "fc3",
            "Dense",
            (None, 10),
            (None, 2),
            (("kernel", (10, 2)), ("bias", (2,))),
            units=2,
            use_bias=True,
            activation="softmax",
        )
    )
    return lenet_data(layers=tuple(layers))


def with_times(data: dict[str, Any], step_us: float, layer_us: dict[str, float]) -> dict[str, Any]:
    data = json.loads(json.dumps(data))
    data["profile"] = {
        "steps": 5,
        "device": "/device:CPU:0",
        "step_time_us": step_us,
        "trace": None,
        "profile_dir": None,
    }
    for item in data["layers"]:
        item["time_us"] = layer_us.get(item["name"])
    return data


def write_site(root: Path, *reports: dict[str, Any]) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    for report in reports:
        (data / f"{report['slug']}.json").write_text(json.dumps(report), encoding="utf-8")
    # A site also holds the schema, which is not a report.
    (data / "report.schema.json").write_text('{"$schema": "x", "title": "schema"}')
    (root / "index.html").write_text("<!doctype html>")
    return root


def test_same_reports_show_no_change() -> None:
    diff = diff_sites({"lenet": lenet_data()}, {"lenet": lenet_data()})
    assert [m.status for m in diff.models] == ["same"]
    assert diff.gate_failures(["params", "bytes", "flops", "models"]) == []


def test_parameter_change_is_shown_per_model_and_layer(tmp_path: Path) -> None:
    old = write_site(tmp_path / "old", lenet_data())
    new = write_site(tmp_path / "new", wider_fc2())
    markdown, failures = run_diff(old, new, fail_on="params")
    assert failures == ["parameters changed in lenet"]
    lines = markdown.splitlines()
    # 1024 weights and 1 bias more; fc2's output grows by one float32, its FLOPs by 2×1027.
    assert (
        "| `lenet` | 3,274,634 → 3,275,659 (+1,025, +<0.1 %) "
        "| 212,072 B → 212,076 B (+4 B, +<0.1 %) | = "
        "| 27,844,156 → 27,846,210 (+2,054, +<0.1 %) | — |"
    ) in lines
    assert (
        "| `fc2` | Dense | 10,250 → 11,275 (+1,025, +10 %) | 40 B → 44 B (+4 B, +10 %) "
        "| 20,540 → 22,594 (+2,054, +10 %) | = |"
    ) in lines
    assert not any(line.startswith("| `conv1` ") for line in lines)  # unchanged layers omitted
    assert "**Gate failed:** parameters changed in lenet." in markdown


def test_added_and_removed_layers_and_models() -> None:
    old = {"lenet": lenet_data(), "gone": lenet_data(slug="gone")}
    new = {"lenet": without_dropout_with_fc3(), "fresh": lenet_data(slug="fresh")}
    diff = diff_sites(old, new)
    assert [(m.slug, m.status) for m in diff.models] == [
        ("lenet", "changed"),
        ("fresh", "added"),
        ("gone", "removed"),
    ]
    lenet = diff.models[0]
    assert [(item.name, item.status) for item in lenet.layers] == [
        ("fc3", "added"),
        ("dropout", "removed"),
    ]
    # The removed Dropout has no parameters: only fc3 changes the parameter count.
    assert lenet.layers[0].changes_metric("params")
    assert not lenet.layers[1].changes_metric("params")
    assert lenet.layers[1].changes_metric("bytes")
    assert diff.gate_failures(["params"]) == ["parameters changed in lenet"]
    assert diff.gate_failures(["models"]) == [
        "models added or removed: fresh (added), gone (removed)"
    ]
    markdown = to_markdown(diff)
    assert "| `fc3` (added) | Dense | 22 | 8 B | 52 | — |" in markdown
    assert "| `dropout` (removed) | Dropout | 0 | 4,096 B | 0 | — |" in markdown
    assert "| `fresh` (added) | 3,274,634 | " in markdown
    assert "| `gone` (removed) | 3,274,634 | " in markdown


def test_time_changes_are_noise_below_the_threshold_and_never_gate() -> None:
    base = with_times(lenet_data(), 1000.0, {"conv1": 300.0, "fc1": 400.0, "fc2": 5.0})
    slower = with_times(lenet_data(), 1150.0, {"conv1": 600.0, "fc1": 440.0, "fc2": 12.0})
    diff = diff_sites({"lenet": base}, {"lenet": slower}, TimeNoise(relative=0.25, floor_us=10))
    (lenet,) = diff.models
    # conv1 doubled: shown. fc1 +10 % and fc2 +7 µs (under the 10 µs floor): noise, omitted.
    assert [item.name for item in lenet.layers] == ["conv1"]
    assert lenet.status == "changed"
    assert diff.gate_failures(["params", "bytes", "flops"]) == []
    markdown = to_markdown(diff)
    row = next(line for line in markdown.splitlines() if line.startswith("| `lenet` "))
    assert row.endswith("| = | = | = | = | = |")  # the step time moved 15 %: within the noise
    conv1 = next(line for line in markdown.splitlines() if line.startswith("| `conv1` "))
    assert conv1.endswith("| = | = | = | 300 µs → 600 µs (+300 µs, +100 %, may be noise) |")
    assert "may be timing noise" in markdown and "never fails" in markdown


def test_untimed_side_is_not_a_change() -> None:
    timed = with_times(lenet_data(), 1000.0, {"conv1": 300.0})
    diff = diff_sites({"lenet": timed}, {"lenet": lenet_data()})
    assert [m.status for m in diff.models] == ["same"]


def test_fail_on_parsing() -> None:
    assert parse_fail_on("params, flops,params") == ["params", "flops"]
    assert parse_fail_on(None) == []
    with pytest.raises(ReportgenError, match="too noisy to gate"):
        parse_fail_on("time")
    with pytest.raises(ReportgenError, match="unknown kind; choose from params, bytes"):
        parse_fail_on("weights")


def test_load_data_accepts_site_data_dir_and_file(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", lenet_data())
    assert list(load_data(site)) == ["lenet"]
    assert list(load_data(site / "data")) == ["lenet"]
    assert list(load_data(site / "data" / "lenet.json")) == ["lenet"]
    with pytest.raises(ReportgenError, match="no such site"):
        load_data(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportgenError, match="holds no model report"):
        load_data(tmp_path / "empty")


def test_names_are_safe_in_a_table_cell() -> None:
    assert code("a|b") == "`a\\|b`"
    assert code("x`y") == "``x`y``"
    assert code("`edge") == "`` `edge ``"
    assert code("<script>") == "`<script>`"


def test_cli_gates_a_parameter_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_site(tmp_path / "old", lenet_data())
    new = write_site(tmp_path / "new", wider_fc2())
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### reportgen diff\n")
    assert main(["diff", str(old), str(new), "--fail-on", "params"]) == 1
    captured = capsys.readouterr()
    assert "| `fc2` | Dense |" in captured.out  # the table is printed before the verdict
    assert captured.err == (
        "reportgen: error: diff: parameters changed in lenet (--fail-on params)\n"
    )
    assert main(["diff", str(old), str(old), "--fail-on", "params,bytes,flops"]) == 0
    assert "No model changed." in capsys.readouterr().out


def test_cli_writes_the_table_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_site(tmp_path / "old", lenet_data())
    new = write_site(tmp_path / "new", wider_fc2())
    report = tmp_path / "diff.md"
    assert main(["diff", str(old), str(new), "--output", str(report)]) == 0
    assert capsys.readouterr().out == report.read_text(encoding="utf-8")


def test_cli_help_and_bad_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--help"]) == 0
    assert "--fail-on KIND,..." in capsys.readouterr().out
    site = write_site(tmp_path / "site", lenet_data())
    assert main(["diff", str(site), str(site), "--fail-on", "time"]) == 1
    assert capsys.readouterr().err.startswith("reportgen: error: --fail-on time: profiled times")
