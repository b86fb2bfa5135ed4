"""Faults: a crashing, hanging or greedy model, an interrupt, an unwritable output.

Each case shows the one-line message, the exit status, and that nothing else was lost:
the previous site stays exactly as it was and no worker outlives the build.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.handmade import previous_site
from tests.sitecheck import parse

pytestmark = pytest.mark.tf  # every test here runs collect workers

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
[[models]]
slug = "{slug}"
source = "{source}"
"""


def setup(tmp_path: Path, *models: tuple[str, str]) -> Path:
    (tmp_path / "reportgen.toml").write_text(
        "".join(CONFIG.format(slug=slug, source=source) for slug, source in models)
    )
    return previous_site(tmp_path / "site")


def env_for(tmp_path: Path) -> dict[str, str]:
    # TMPDIR puts the collect directory (and so every worker's arguments) under tmp_path.
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}


def run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def workers_alive(tmp_path: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True)
    return [
        line
        for line in ps.stdout.splitlines()
        if "reportgen.collect.worker" in line and str(tmp_path) in line
    ]


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("tests.faulty.crash:build", "the collect worker was killed by signal 11 (SIGSEGV)"),
        ("tests.faulty.exits:build", "the collect worker exited with status 7"),
    ],
)
def test_dying_worker_is_reported_and_site_kept(tmp_path: Path, source: str, message: str) -> None:
    site = setup(tmp_path, ("bad", source))
    result = run(tmp_path, "build")
    assert result.returncode == 1
    assert last_line(result).startswith(f"reportgen: error: bad: {message} (log: ")
    assert "Traceback" not in result.stderr
    assert (site / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("pytest")) == [
        "reportgen.toml",
        "site",
    ]


def test_timeout_stops_the_worker(tmp_path: Path) -> None:
    site = setup(tmp_path, ("slow", "tests.faulty.hang:build"))
    started = time.monotonic()
    result = run(tmp_path, "build", "--timeout", "2")
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert last_line(result) == "reportgen: error: slow: collection ran past the 2 s timeout"
    assert (site / "index.html").read_text() == "the previous site"
    assert workers_alive(tmp_path) == []


def test_memory_limit_stops_a_greedy_worker(tmp_path: Path) -> None:
    site = setup(tmp_path, ("greedy", "tests.faulty.hog:build"))
    result = run(tmp_path, "build", "--memory-limit", "0.25")
    assert result.returncode == 1
    assert last_line(result) == (
        "reportgen: error: greedy: the collect worker used more than 256 MiB of memory and "
        "was stopped (raise the limit with --memory-limit)"
    )
    assert (site / "index.html").read_text() == "the previous site"
    assert workers_alive(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_keeps_the_site_and_leaves_no_worker(tmp_path: Path, sig: int) -> None:
    site = setup(tmp_path, ("slow", "tests.faulty.hang:build"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportgen", "build"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell that runs this suite in the background without job
        # control (`bash .ci/run &`) makes its children ignore SIGINT, and Python keeps
        # an ignored SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 20
    while not workers_alive(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers_alive(tmp_path), "the worker never started"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "reportgen: interrupted"
    assert (site / "index.html").read_text() == "the previous site"
    assert workers_alive(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("reportgen-collect", ".site"))]


def test_unwritable_output_fails_before_collecting(tmp_path: Path) -> None:
    setup(tmp_path, ("slow", "tests.faulty.hang:build"))
    (tmp_path / "file").write_text("")
    result = run(tmp_path, "build", "--out", "file/site", timeout=30)
    assert result.returncode == 1
    assert last_line(result).startswith("reportgen: error: ")
    assert "file/site: cannot write the output directory" in last_line(result)


def test_keep_going_builds_the_others_and_marks_the_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A missing home: nothing (Keras's keras.json, matplotlib's cache) may be written there.
    home = tmp_path / "no-home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    site = setup(
        tmp_path,
        ("lenet", "reportgen.zoo.lenet:build_lenet"),
        ("raises", "tests.faulty.models:raises"),
        ("number", "tests.faulty.models:not_a_model"),
        ("shapeless", "tests.faulty.models:no_input_shape"),
        ("crash", "tests.faulty.crash:build"),
    )
    result = run(tmp_path, "build", "--keep-going", "--no-profile", "--jobs", "2")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("reportgen: error")]
    assert errors == [
        "reportgen: error: raises: tests.faulty.models:raises() raised ValueError: the factory "
        "was called without its data file",
        "reportgen: error: number: tests.faulty.models:not_a_model() returned int, not a Keras "
        "model",
        "reportgen: error: shapeless: the model's input shape is unknown; give input_shape in "
        "its configuration (without the batch dimension, e.g. input_shape = [28, 28, 1])",
        errors[3],
        "reportgen: error: 4 of 5 models failed; site/ was published without them (--keep-going)",
    ]
    assert errors[3].startswith("reportgen: error: crash: the collect worker was killed by signal")
    assert (site / "en" / "lenet.html").is_file()
    failed = [
        row.select_one("th").get_text() for row in parse(site / "index.html").select("tr.failed")
    ]
    assert failed == ["crash", "number", "raises", "shapeless"]
    assert not home.exists()


def test_without_keep_going_one_failure_stops_the_build(tmp_path: Path) -> None:
    site = setup(
        tmp_path, ("crash", "tests.faulty.crash:build"), ("exits", "tests.faulty.exits:build")
    )
    result = run(tmp_path, "build")
    assert result.returncode == 1
    assert last_line(result) == "reportgen: error: 2 of 2 models failed to collect"
    assert (site / "index.html").read_text() == "the previous site"


@pytest.mark.parametrize(
    ("models", "files", "message"),
    [
        (
            [("ghost", "tests.faulty.models:no_such_factory")],
            {},
            "reportgen: error: ghost: module 'tests.faulty.models' has no function "
            "'no_such_factory'",
        ),
        (
            [("empty", "empty.keras")],
            {"empty.keras": b""},
            "reportgen: error: empty: empty.keras: the file is empty",
        ),
        (
            [("corrupt", "corrupt.h5")],
            {"corrupt.h5": b"\x00garbage" * 100},
            "reportgen: error: corrupt: corrupt.h5: not an HDF5 file (no HDF5 signature: the "
            "file is corrupt or has another format)",
        ),
    ],
)
def test_bad_sources_are_one_line_and_keep_the_site(
    tmp_path: Path, models: list[tuple[str, str]], files: dict[str, bytes], message: str
) -> None:
    site = setup(tmp_path, *models)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    result = run(tmp_path, "build", timeout=60)
    assert result.returncode == 1
    assert last_line(result) == message
    assert "Traceback" not in result.stderr
    assert (site / "index.html").read_text() == "the previous site"


def test_duplicate_slug_is_refused_before_anything_runs(tmp_path: Path) -> None:
    site = setup(tmp_path, ("twin", "tests.faulty.hang:build"), ("twin", "tests.faulty.hang:build"))
    result = run(tmp_path, "build", timeout=30)
    assert result.returncode == 1
    assert last_line(result) == (
        f"reportgen: error: {tmp_path / 'reportgen.toml'}: models has the slug 'twin' twice; "
        "slugs name output files and must differ"
    )
    assert (site / "index.html").read_text() == "the previous site"
