"""Time `reportgen build --models X` against the floor, in one run, and print the ratios.

The floor is "import TensorFlow, build the model, one forward pass" (benchmarks/floor.py).
Absolute times drift on shared machines; the ratios are what to compare. Peak memory is
the largest resident set of the command or any process it waited for (the collect worker).

    python benchmarks/bench_build.py            # LeNet and VGG16, 3 rounds each
    python benchmarks/bench_build.py --models lenet --rounds 5
    python benchmarks/bench_build.py --models gpt2     # keras-hub GPT-2, 2 layers, 128 tokens
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"lenet": (1.5, None), "vgg16": (2.0, 1.5), "gpt2": (1.5, None)}
"""Model → (wall-time ratio, peak-memory ratio) the build must stay under."""

CONFIG = """
[[models]]
slug = "{name}"
source = "benchmarks.models:{name}"
"""


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_mib: float


def measure(argv: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of a command and the processes it waited for (wait4)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{stderr}")
    return Run(wall, usage.ru_maxrss / 1024)


def bench(name: str, rounds: int, extra: list[str]) -> dict[str, Run]:
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
        work = Path(tmp)
        from benchmarks.models import EXTRA_CONFIG

        config = CONFIG.format(name=name) + EXTRA_CONFIG.get(name, "")
        (work / "reportgen.toml").write_text(config)
        floor_cmd = [sys.executable, "-m", "benchmarks.floor", name]
        build_cmd = [
            sys.executable,
            "-m",
            "reportgen",
            "build",
            "--models",
            name,
            "--out",
            str(work / "site"),
            *extra,
        ]
        floors, builds = [], []
        for _ in range(rounds):  # interleaved, so drift hits both alike
            floors.append(measure(floor_cmd, work))
            builds.append(measure(build_cmd, work))
    return {"floor": _median(floors), "build": _median(builds)}


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall_s for r in runs), statistics.median(r.peak_mib for r in runs)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet,vgg16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true", help="pass --no-profile to build")
    args = parser.parse_args()
    extra = ["--no-profile"] if args.no_profile else []
    print(
        f"{'model':8} {'floor s':>8} {'build s':>8} {'ratio':>6} {'target':>6}   "
        f"{'floor MiB':>9} {'build MiB':>9} {'ratio':>6} {'target':>6}"
    )
    failed = False
    for name in args.models.split(","):
        result = bench(name, args.rounds, extra)
        floor, build = result["floor"], result["build"]
        wall_ratio = build.wall_s / floor.wall_s
        mem_ratio = build.peak_mib / floor.peak_mib
        wall_target, mem_target = TARGETS.get(name, (None, None))
        ok = (wall_target is None or wall_ratio <= wall_target) and (
            mem_target is None or mem_ratio <= mem_target
        )
        failed |= not ok
        print(
            f"{name:8} {floor.wall_s:8.2f} {build.wall_s:8.2f} {wall_ratio:6.2f} "
            f"{_target(wall_target):>6}   {floor.peak_mib:9.0f} {build.peak_mib:9.0f} "
            f"{mem_ratio:6.2f} {_target(mem_target):>6}  {'ok' if ok else 'OVER TARGET'}"
        )
    return 1 if failed else 0


def _target(value: float | None) -> str:
    return f"≤{value:g}" if value is not None else "-"


if __name__ == "__main__":
    sys.exit(main())
