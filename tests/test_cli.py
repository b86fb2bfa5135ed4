"""The command line end to end: a real build of the LeNet, and one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reportgen.cli import main
from tests.handmade import previous_site
from tests.sitecheck import broken_links, parse

GOLD = Path(__file__).parent / "gold"
VOLATILE_GENERATOR_KEYS = ("reportgen", "tensorflow", "keras")


def scrub(data: dict) -> dict:  # type: ignore[type-arg]
    """Drop what changes between machines and versions but not between correct builds."""
    data = json.loads(json.dumps(data))
    for key in VOLATILE_GENERATOR_KEYS:
        data["generator"][key] = "*"
    # Profiled times differ on every run; that they exist is checked, not their value.
    if data["profile"] is not None:
        data["profile"]["step_time_us"] = "*"
    for layer in data["layers"]:
        if layer["time_us"] is not None:
            layer["time_us"] = "*"
    return data


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("build")
    result = run_cli("build", "--models", "lenet", "--out", "site", "--strict", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "site"


@pytest.mark.tf
def test_build_writes_the_site(built: Path) -> None:
    for path in (
        "index.html",
        "en/index.html",
        "zh/index.html",
        "en/lenet.html",
        "zh/lenet.html",
        "data/lenet.json",
        "assets/style.css",
    ):
        assert (built / path).is_file(), path
    assert broken_links(built) == []
    assert parse(built / "zh" / "lenet.html").html["lang"] == "zh-Hans"


@pytest.mark.tf
def test_build_publishes_measurements_and_trace(built: Path) -> None:
    data = json.loads((built / "data" / "lenet.json").read_text(encoding="utf-8"))
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert [layers[n]["measured_bytes"] for n in ("conv1", "conv2", "fc1")] == [100352, 50176, 4096]
    assert data["flops_check"]["measured"] == 27_844_156 == data["totals"]["flops"]
    assert all(layers[n]["time_us"] > 0 for n in ("conv1", "pool1", "conv2", "fc1", "fc2"))
    with gzip.open(built / "traces" / "lenet.trace.json.gz", "rt", encoding="utf-8") as fh:
        trace = json.load(fh)
    assert trace["traceEvents"]
    assert list((built / "traces" / "lenet").rglob("*.xplane.pb"))
    assert zipfile.ZipFile(built / "traces" / "lenet.profile.zip").namelist()
    for lang in ("en", "zh"):
        page = parse(built / lang / "lenet.html")
        charts = [img["src"] for img in page.select("figure.chart img")]
        assert charts == [
            f"../charts/lenet-{kind}.{lang}.svg" for kind in ("params", "memory", "time")
        ]
        assert page.select_one("button.perfetto")["data-perfetto-trace"] == (
            "../traces/lenet.trace.json.gz"
        )


@pytest.mark.tf
def test_lenet_json_matches_gold(built: Path) -> None:
    actual = scrub(json.loads((built / "data" / "lenet.json").read_text(encoding="utf-8")))
    gold_path = GOLD / "lenet.json"
    text = json.dumps(actual, ensure_ascii=False, indent=2) + "\n"
    if os.environ.get("REPORTGEN_UPDATE_GOLD"):
        gold_path.write_text(text, encoding="utf-8")
    expected = json.loads(gold_path.read_text(encoding="utf-8"))
    if actual != expected:
        gold_path.with_suffix(".json.actual").write_text(text, encoding="utf-8")
    assert actual == expected, f"differs from {gold_path}; see {gold_path}.actual"


def test_unknown_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--models", "nope", "--out", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert err == (
        "reportgen: error: unknown model 'nope' in --models (known: lenet, lenet-tf, "
        "mobilenet-v2, resnet50, text-classifier, transformer)\n"
    )
    assert not (tmp_path / "site").exists()


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "r.toml"
    config.write_text("[[models]]\nslug = 'a'\nsource = 'x:y'\nbatch = 2\n")
    assert main(["list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"reportgen: error: {config}: models[0].batch is not a known key")
    assert err.count("\n") == 1


def test_missing_module_names_model_and_cause(tmp_path: Path) -> None:
    (tmp_path / "reportgen.toml").write_text(
        "[[models]]\nslug = 'ghost'\nsource = 'no_such_module:build'\n"
    )
    previous_site(tmp_path / "site")
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "reportgen: error: ghost: cannot import module 'no_such_module' "
        "(No module named 'no_such_module')"
    )
    assert "Traceback" not in result.stderr
    assert (tmp_path / "site" / "index.html").read_text() == "the previous site"


def test_list_and_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    assert "lenet\treportgen.zoo.lenet:build_lenet" in capsys.readouterr().out
    for command in ("build", "collect", "render", "list", "serve"):
        assert main([command, "--help"]) == 0
        assert "Usage: reportgen" in capsys.readouterr().out
