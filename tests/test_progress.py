"""Collect progress: live on a terminal, one plain line per event elsewhere, quiet, verbose."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from reportgen.cli import main
from reportgen.config import ModelSpec
from reportgen.errors import CollectError
from reportgen.progress import (
    PlainProgress,
    QuietProgress,
    RichProgress,
    collect_progress,
    log_tail,
)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def spec(slug: str) -> ModelSpec:
    return ModelSpec(slug=slug, source=f"models:{slug}", title_en=slug, title_zh=slug)


SPECS = (spec("a"), spec("b"), spec("c"))


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def timings_removed(text: str) -> str:
    return re.sub(r"\d+\.\d s", "T s", text)


def test_plain_lines_follow_the_pool_order(tmp_path: Path) -> None:
    stream = io.StringIO()
    with PlainProgress(SPECS, 2, tmp_path, stream) as progress:
        progress.on_done(SPECS[1], tmp_path / "b", None)
        progress.on_done(SPECS[0], None, CollectError("a", "it broke"))
        progress.on_done(SPECS[2], tmp_path / "c", None)
    assert timings_removed(stream.getvalue()).splitlines() == [
        "collecting a (1 of 3)",
        "collecting b (2 of 3)",
        "collected b in T s (1 of 3 done)",
        "collecting c (3 of 3)",
        "failed a after T s (2 of 3 done)",
        "collected c in T s (3 of 3 done)",
    ]


def test_verbose_adds_log_paths_and_the_failed_workers_log(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    log = tmp_path / "a" / "worker.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "ValueError: boom\n")
    stream = io.StringIO()
    with PlainProgress(SPECS[:1], 1, tmp_path, stream, verbose=True) as progress:
        progress.on_done(SPECS[0], None, CollectError("a", "it broke"))
    lines = timings_removed(stream.getvalue()).splitlines()
    assert lines[:3] == [
        "collecting a (1 of 1)",
        "failed a after T s (1 of 1 done): it broke",
        f"  log: {log}",
    ]
    assert lines[3:] == [f"  | line {i}" for i in range(11, 30)] + ["  | ValueError: boom"]


def test_quiet_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    progress = collect_progress(SPECS, 2, tmp_path, "quiet")
    assert isinstance(progress, QuietProgress)
    with progress:
        for item in SPECS:
            progress.on_done(item, None, None)
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_the_live_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = FakeTerminal()
    progress = collect_progress(SPECS, 2, tmp_path, None, stream)
    assert isinstance(progress, RichProgress)
    with progress:
        progress.on_done(SPECS[0], tmp_path / "a", None)
        progress.on_done(SPECS[1], None, CollectError("b", "it broke"))
        progress.on_done(SPECS[2], tmp_path / "c", None)
    text = ANSI.sub("", stream.getvalue())
    assert "collected a in" in text and "b failed after" in text and "collected c in" in text


def test_not_a_terminal_or_dumb_gets_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(collect_progress(SPECS, 1, tmp_path, None, io.StringIO()), PlainProgress)
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(collect_progress(SPECS, 1, tmp_path, None, FakeTerminal()), PlainProgress)
    verbose = collect_progress(SPECS, 1, tmp_path, "verbose", FakeTerminal())
    assert isinstance(verbose, PlainProgress) and verbose.verbose


def test_log_tail_of_a_missing_or_empty_log(tmp_path: Path) -> None:
    assert log_tail(tmp_path / "none.log") == []
    (tmp_path / "empty.log").write_text("\n")
    assert log_tail(tmp_path / "empty.log") == []


def test_cli_quiet_and_verbose_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["collect", "--quiet", "--verbose"]) == 2
    assert "--quiet and --verbose exclude each other" in capsys.readouterr().err
