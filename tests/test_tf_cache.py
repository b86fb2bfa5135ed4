"""``--cache`` end to end with a real collect worker: a rebuild from a warm cache starts no
worker, imports no TensorFlow, and publishes the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tf

ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
ARGS = ["build", "--models", "lenet", "--no-profile", "--cache", "cache"]

# The second build runs in a process where starting a worker is an error, and which
# reports whether TensorFlow or Keras got imported.
NO_WORKER = """
import sys
import reportgen.collect

def refuse(*args, **kwargs):
    raise AssertionError("a collect worker started")

reportgen.collect.WorkerGroup.run = refuse
from reportgen.cli import main
status = main(sys.argv[1:])
print("imported:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
sys.exit(status)
"""


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_warm_rebuild_starts_no_worker_and_publishes_the_same_bytes(tmp_path: Path) -> None:
    first = subprocess.run(
        [sys.executable, "-m", "reportgen", *ARGS, "--out", "one"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    assert "cache miss: lenet" in first.stderr.splitlines()
    second = subprocess.run(
        [sys.executable, "-c", NO_WORKER, *ARGS, "--out", "two"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines()[0] == "cache hit: lenet"
    assert "imported: []" in second.stdout
    one, two = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert "en/lenet.html" in one
    assert [path for path in one if one[path] != two.get(path)] == []
    assert sorted(one) == sorted(two)
