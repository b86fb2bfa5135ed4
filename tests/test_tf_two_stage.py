"""Two stages, many machines: collect + render make the same site as build; --jobs, --timeout.

The factories below are imported by the collect workers (``tests.test_tf_two_stage:...``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.tf  # every test here runs collect workers

ROOT = Path(__file__).resolve().parent.parent
MEET_DIR = "REPORTGEN_TEST_MEET_DIR"
MEET_SECONDS = 90.0


def tiny() -> Any:
    import keras

    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2)],
        name="tiny",
    )


def _meet(me: str, other: str) -> Any:
    """Wait until the other model's worker runs too: only concurrent workers both pass."""
    folder = Path(os.environ[MEET_DIR])
    (folder / me).write_text(str(time.time()))
    deadline = time.monotonic() + MEET_SECONDS
    while not (folder / other).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{other} never ran at the same time as {me}")
        time.sleep(0.05)
    return tiny()


def meet_a() -> Any:
    return _meet("a", "b")


def meet_b() -> Any:
    return _meet("b", "a")


def sleepy() -> Any:
    time.sleep(600)


def configure(work: Path, *models: tuple[str, str]) -> None:
    (work / "reportgen.toml").write_text(
        "".join(f'[[models]]\nslug = "{slug}"\nsource = "{source}"\n\n' for slug, source in models)
    )


def run_cli(work: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SOURCE_DATE_EPOCH": "1700000000",
        MEET_DIR: str(work),
    }
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_collect_then_render_makes_the_same_site_as_build(tmp_path: Path) -> None:
    configure(tmp_path, ("tiny", f"{__name__}:tiny"), ("lenet", "reportgen.zoo.lenet:build_lenet"))
    built = run_cli(tmp_path, "build", "--no-profile", "--jobs", "2", "--out", "built")
    assert built.returncode == 0, built.stderr
    # As the CI matrix does it: one collect per model, each into its own directory.
    for slug in ("tiny", "lenet"):
        result = run_cli(
            tmp_path, "collect", "--no-profile", "--models", slug, "--out", f"collected/{slug}"
        )
        assert result.returncode == 0, result.stderr
    # render orders the models as the configuration does, like build, whatever the order
    # of its arguments (a shell glob sorts: collected/lenet first).
    for name, dirs in (("rendered", ("tiny", "lenet")), ("glob", ("lenet", "tiny"))):
        rendered = run_cli(tmp_path, "render", *(f"collected/{d}" for d in dirs), "--out", name)
        assert rendered.returncode == 0, rendered.stderr
        expected, actual = tree_hashes(tmp_path / "built"), tree_hashes(tmp_path / name)
        assert "en/tiny.html" in expected and "data/lenet.json" in expected
        assert sorted(actual) == sorted(expected)
        assert [path for path in expected if expected[path] != actual[path]] == []


def test_jobs_2_runs_two_workers_at_once(tmp_path: Path) -> None:
    # Each factory waits for the other to have started: with one worker at a time, the
    # first would wait in vain and fail.
    configure(tmp_path, ("meet-a", f"{__name__}:meet_a"), ("meet-b", f"{__name__}:meet_b"))
    result = run_cli(tmp_path, "collect", "--no-profile", "--jobs", "2", "--timeout", "150")
    assert result.returncode == 0, result.stderr
    for slug in ("meet-a", "meet-b"):
        assert (tmp_path / "collected" / slug / "facts.json").is_file()
    assert "collecting meet-b (2 of 2)" in result.stderr.splitlines()[:2]


def test_a_model_past_the_timeout_does_not_hold_up_the_others(tmp_path: Path) -> None:
    configure(tmp_path, ("sleepy", f"{__name__}:sleepy"), ("tiny", f"{__name__}:tiny"))
    started = time.monotonic()
    result = run_cli(tmp_path, "collect", "--no-profile", "--jobs", "2", "--timeout", "20")
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "reportgen: error: sleepy: collection ran past the 20 s timeout" in lines
    assert lines[-1] == "reportgen: error: 1 of 2 models failed to collect"
    assert (tmp_path / "collected" / "tiny" / "facts.json").is_file()
