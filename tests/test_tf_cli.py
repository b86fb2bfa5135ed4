"""The command line end to end, with real collect workers: a build of the LeNet, the
errors only a worker can find, and how a worker's progress and failure are reported."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reportgen.cli import main
from tests.handmade import previous_site
from tests.sitecheck import broken_links, parse

pytestmark = pytest.mark.tf

GOLD_DATA = Path(__file__).parent / "gold" / "site" / "data"
VOLATILE_GENERATOR_KEYS = ("reportgen", "tensorflow", "keras")


def scrub(data: dict) -> dict:  # type: ignore[type-arg]
    """Drop what changes between machines and versions but not between correct builds."""
    data = json.loads(json.dumps(data))
    for key in VOLATILE_GENERATOR_KEYS:
        data["generator"][key] = "*"
    # Profiled times differ on every run; that they exist is checked, not their value.
    if data["profile"] is not None:
        data["profile"]["step_time_us"] = "*"
    # Which kernels run depends on the CPU: TensorFlow turns oneDNN on by default only where
    # the CPU has AVX-512 (a fused _MklNativeFusedConv2D with scratch memory and a MaxPool
    # workspace there, _FusedConv2D elsewhere). The allocator's totals and the notes that
    # name the ops change with it; every layer's measured bytes do not.
    if data["runtime_memory"] is not None:
        data["runtime_memory"]["peak_bytes"] = data["runtime_memory"]["total_bytes"] = "*"
    # So does the measured peak beside the derived one (a MaxPool workspace or none), and the
    # gold facts were collected before the allocator's timeline was recorded: the derived
    # peak and timeline are compared, what was measured is not.
    data["totals"]["measured_peak_bytes"] = "*"
    peak = data.get("peak_memory")
    if peak is not None:
        for key in ("measured_bytes", "measured_layer", "measured_note", "differences"):
            peak[key] = "*"
        for step in peak["timeline"]:
            step["measured_bytes"] = "*"
    for layer in data["layers"]:
        if layer["time_us"] is not None:
            layer["time_us"] = "*"
        if layer.get("measured_note") is not None:
            layer["measured_note"] = "*"
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
            f"../charts/lenet-{kind}.{lang}.svg"
            for kind in ("peak", "scaling", "params", "memory", "time")
        ]  # the peak's timeline and what fits are in the memory section, before the charts
        assert page.select_one("button.perfetto")["data-perfetto-trace"] == (
            "../traces/lenet.trace.json.gz"
        )


def test_build_publishes_the_golden_sites_data(built: Path) -> None:
    """The real build of the LeNet publishes the ``data/lenet.json`` of the golden site
    (``tests/test_gold.py``), measured times and versions aside: collecting the model still
    gives the facts committed in ``tests/gold/facts/lenet/``."""
    text = (built / "data" / "lenet.json").read_text(encoding="utf-8")
    gold_path = GOLD_DATA / "lenet.json"
    expected = scrub(json.loads(gold_path.read_text(encoding="utf-8")))
    if scrub(json.loads(text)) != expected:
        gold_path.with_name("lenet.json.actual").write_text(text, encoding="utf-8")
    assert scrub(json.loads(text)) == expected, (
        f"collecting the LeNet no longer gives the facts behind {gold_path} (the build's "
        f"output is {gold_path}.actual): if intended, refresh tests/gold/facts as "
        "tests/test_gold.py says"
    )


@pytest.fixture
def ghost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configured model whose module does not exist: its worker fails at once, no TF."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reportgen.toml").write_text(
        "[[models]]\nslug = 'ghost'\nsource = 'no_such_module:build'\n"
    )
    return tmp_path


GHOST_ERROR = (
    "reportgen: error: ghost: cannot import module 'no_such_module' "
    "(No module named 'no_such_module')"
)


def test_missing_module_names_model_and_cause(ghost: Path) -> None:
    previous_site(ghost / "site")
    result = run_cli("build", cwd=ghost)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == GHOST_ERROR
    assert "Traceback" not in result.stderr
    assert (ghost / "site" / "index.html").read_text() == "the previous site"


def timings_removed(text: str) -> str:
    return re.sub(r"\d+\.\d s", "T s", text)


def test_cli_plain_lines(ghost: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--out", str(ghost / "collected")]) == 1
    lines = timings_removed(capsys.readouterr().err).splitlines()
    assert lines == [
        "collecting ghost (1 of 1)",
        "failed ghost after T s (1 of 1 done)",
        GHOST_ERROR,
    ]


def test_cli_quiet_prints_only_the_error(ghost: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--quiet", "--out", str(ghost / "collected")]) == 1
    assert capsys.readouterr().err == GHOST_ERROR + "\n"


def test_cli_verbose_names_the_log(ghost: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "-v", "--out", str(ghost / "site")]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^  log: .*/ghost/worker\.log$", err, re.MULTILINE), err
    assert err.endswith(GHOST_ERROR + "\n")
