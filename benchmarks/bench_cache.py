"""The facts cache on the built-in models: a cold build, a rebuild with nothing changed,
and a rebuild with one model's configuration changed.

Each build is `reportgen build --no-profile --cache CACHE` with SOURCE_DATE_EPOCH set, on a
copy of the built-in configuration (so that one model's title can be changed). Printed:
the wall times, the warm/cold ratio (target at most 15 %), whether the sites are
byte-identical, whether the warm rebuild imported TensorFlow, and where the warm rebuild's
time goes (`reportgen collect --cache` from the warm cache, and `reportgen render`).

    python benchmarks/bench_cache.py                        # the 9 built-in models
    python benchmarks/bench_cache.py --changed resnet50     # which model's title to change
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "reportgen" / "zoo"
TARGET_RATIO = 0.15

# Runs reportgen's CLI and says afterwards whether TensorFlow or Keras were imported.
WATCHED = """
import sys
from reportgen.cli import main
status = main(sys.argv[1:])
print("imported:", ",".join(m for m in ("tensorflow", "keras") if m in sys.modules) or "none")
sys.exit(status)
"""


def snapshot(work: Path) -> Path:
    """A copy of reportgen (package, templates, catalogs) that the runs import.

    The key holds a digest of reportgen's own source: in a checkout being edited, a file
    saved between two builds would turn the rebuild into misses. The copy keeps it still.
    """
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("reportgen", "templates", "locales"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    return src


def run(args: list[str], cwd: Path) -> tuple[float, str, str]:
    """Wall seconds, stdout and stderr of ``reportgen ARGS`` (the process as a whole)."""
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": "1700000000",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(cwd / "src"),
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WATCHED, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"reportgen {' '.join(args)} failed:\n{proc.stderr}")
    return wall, proc.stdout, proc.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def imported(stdout: str) -> str:
    found = re.search(r"^imported: (.*)$", stdout, re.M)
    return found.group(1) if found else "?"


def change_title(config: Path, slug: str) -> None:
    text = config.read_text(encoding="utf-8")
    block = re.search(rf'slug = "{re.escape(slug)}"\n.*?title\.en = "([^"]*)"', text, re.S)
    if block is None:
        raise SystemExit(f"no model {slug!r} with a title.en in {config}")
    start, end = block.span(1)
    config.write_text(text[:start] + block.group(1) + " (changed)" + text[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changed", default="mobilenet-v2", help="model whose title changes")
    parser.add_argument("--models", default=None, help="only these models (comma-separated)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-cache-") as tmp:
        work = Path(tmp)
        snapshot(work)
        shutil.copy(ZOO / "reportgen.toml", work / "reportgen.toml")
        shutil.copytree(ZOO / "articles", work / "articles")
        build = ["build", "--no-profile", "--cache", "cache"]
        if options.models:
            build += ["--models", options.models]

        cold, _, cold_log = run([*build, "--out", "cold"], work)
        warm, warm_out, warm_log = run([*build, "--out", "warm"], work)
        identical = tree_bytes(work / "cold") == tree_bytes(work / "warm")
        hits = sum(line.startswith("cache hit:") for line in warm_log.splitlines())
        misses = sum(line.startswith("cache miss:") for line in warm_log.splitlines())

        collect_s, _, _ = run(["collect", "--no-profile", "--cache", "cache", "--out", "c"], work)
        render_s, render_out, _ = run(["render", "c", "--out", "rendered"], work)

        change_title(work / "reportgen.toml", options.changed)
        changed, _, changed_log = run([*build, "--out", "changed"], work)
        own = re.search(rf"^collected {re.escape(options.changed)} in ([\d.]+) s", cold_log, re.M)
        recollected = [
            line.removeprefix("cache miss: ")
            for line in changed_log.splitlines()
            if line.startswith("cache miss:")
        ]

    ratio = warm / cold
    print(f"cold build:          {cold:6.1f} s")
    print(
        f"warm rebuild:        {warm:6.1f} s  ({ratio:.1%} of cold; target ≤ {TARGET_RATIO:.0%}: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}); {hits} hits, {misses} misses"
    )
    print(f"  sites byte-identical: {'yes' if identical else 'NO'}")
    print(f"  TensorFlow/Keras imported by the warm rebuild: {imported(warm_out)}")
    print(f"  of which: collect from the cache {collect_s:.1f} s (whole process)")
    print(
        f"            render alone         {render_s:.1f} s (whole process; "
        f"TensorFlow/Keras imported: {imported(render_out)})"
    )
    own_s = f"{float(own.group(1)):.1f} s in the cold build" if own else "not in the cold log"
    print(
        f"one model changed:   {changed:6.1f} s  (recollected: {', '.join(recollected) or 'none'}; "
        f"{options.changed} alone took {own_s})"
    )


if __name__ == "__main__":
    main()
