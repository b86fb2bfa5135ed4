"""Collect and render every model in ``keras.applications``: time, memory and size at scale.

Two steps, as CI runs them: ``reportgen collect --jobs N`` (the TensorFlow part, N worker
processes at a time), then ``reportgen render`` from the collected directories (no
TensorFlow). Prints the wall time of each and of both, the peak memory of the largest
worker (and which model), the site's size, the slowest models, the failures and the
derivation warnings. A benchmark, not a test: run it by hand, preferably niced.

    nice python benchmarks/zoo.py                      # every model, --jobs 2
    nice python benchmarks/zoo.py --models ResNet50,VGG16 --no-profile --keep /tmp/zoo

The floor is measured in the same run, with the same ``--jobs``: for each model, a process
that imports TensorFlow, builds the model (``weights=None``) and runs one forward pass
(``benchmarks/floor.py``); the ratio total / floor is what to compare across machines. Where
the rest goes is printed per part: the collect worker's phases (``worker.log`` in each
collected folder) and render's parts (timed inside the render process), summed over models,
as wall and CPU seconds. On a shared machine compare the CPU seconds.

    nice python benchmarks/zoo.py --models ResNet50,VGG16 --skip-floor   # no floor, no ratio
    nice python benchmarks/zoo.py --floor-only

Targets (2 cores, 24 GB): all within 6 minutes and within 1.4 × the floor, no worker above
8 GiB, render alone within 30 s. The exit status is 1 when a target is missed or a model
failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_TOTAL_S = 360.0
TARGET_WORKER_BYTES = 8 * 2**30
TARGET_RENDER_S = 30.0
TARGET_FLOOR_RATIO = 1.4
"""Total (collect + render) over the floor, profiling on."""
SAMPLE_SECONDS = 0.2


@dataclass
class Step:
    wall_s: float
    peak_bytes: int
    """Largest resident set of the command or any process it waited for (wait4)."""
    cpu_s: float
    """User + system CPU time of the command and the processes it waited for."""
    returncode: int
    stderr: str


@dataclass
class WorkerPeaks:
    """Peak resident memory (VmHWM) of each collect worker, sampled from /proc."""

    work: Path
    peaks: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each worker, as last sampled (misses at most its last sample period)."""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(SAMPLE_SECONDS)

    def sample(self) -> None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                # A worker writes into <collected>/<slug>/worker.log, whether it was started
                # as `python -m reportgen.collect.worker` or forked by the fork server.
                log = Path(os.readlink(f"/proc/{pid}/fd/1"))
                if log.name != "worker.log" or log.parent.parent != self.work:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # the process ended between listing and reading
            slug = log.parent.name
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                self.peaks[slug] = max(self.peaks.get(slug, 0), int(match.group(1)) * 1024)
            fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)"
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            self.cpu_s[slug] = ticks / os.sysconf("SC_CLK_TCK")


def run_step(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Step:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Step(wall, usage.ru_maxrss * 1024, cpu, proc.returncode, stderr)


# ---------------------------------------------------------------------------------------------
# Where the time goes: phases of the worker, the floor and render, summed over models

PHASE_LINE = re.compile(
    r"^reportgen: phase (?P<indent> *)(?P<name>\S.*?)\s+(?P<wall>[\d.]+) s wall\s+"
    r"(?P<cpu>[\d.]+) s CPU(?P<failed> \(failed\))?$",
    re.MULTILINE,
)
"""A line of :func:`reportgen.collect.log.phase` (and of benchmarks/floor.py)."""

WORKER_PARTS: list[tuple[str, str]] = [
    (r"load source", "load source"),
    (r"import TensorFlow and Keras", "import TensorFlow"),
    (r"build model|load model file|load graph", "build model"),
    (r"forward pass", "forward pass (eager)"),
    (r"keras facts", "keras facts"),
    (r"graph layout", "graph facts (no Keras)"),
    (r"trace tf\.function", "trace forward pass (tf.function)"),
    (r"rewrite graph.*|import graph", "graph for the traced run"),
    (r"session run \d+ \(full trace\)", "traced run (FULL_TRACE)"),
    (r"read step stats|layer output bytes", "traced run: read step stats"),
    (r"count FLOPs", "FLOPs profiler"),
    (r"warm-up pass \d+", "profiler warm-up passes"),
    (r"\d+ profiled passes", "profiled passes (+ .xplane.pb)"),
    (r"convert to Chrome trace", "trace conversion (xprof)"),
    (r"op and layer times", "op and layer times"),
    (r"write .*", "writing"),
]
"""Phase name (a regular expression) → the part it is counted in, in the table's order."""
CONTAINERS = {
    "total",
    "graph run (memory, FLOPs)",
    "profile (time per layer)",
    "stop profiler (write .xplane.pb)",
}
"""Phases that hold others (or sit inside one counted already): not counted again."""
OTHER = "rest of the process (start, imports, exit)"


@dataclass
class Parts:
    """Wall and CPU seconds per part, summed over models."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, wall: float, cpu: float) -> None:
        self.wall[part] = self.wall.get(part, 0.0) + wall
        self.cpu[part] = self.cpu.get(part, 0.0) + cpu


def part_of(name: str) -> str | None:
    """The part a phase is counted in, None for a phase that holds others."""
    if name in CONTAINERS:
        return None
    for pattern, part in WORKER_PARTS:
        if re.fullmatch(pattern, name):
            return part
    return name  # a phase this table does not know yet: shown under its own name


def phase_parts(logs: list[str], process_cpu_s: float | None = None) -> Parts:
    """The phases of the given logs summed per part; the process CPU not in any phase (when
    ``process_cpu_s`` is known) as :data:`OTHER`."""
    parts = Parts()
    counted = 0.0
    for text in logs:
        for match in PHASE_LINE.finditer(text):
            part = part_of(match["name"])
            if part is not None:
                parts.add(part, float(match["wall"]), float(match["cpu"]))
                counted += float(match["cpu"])
    if process_cpu_s is not None:
        parts.add(OTHER, 0.0, max(0.0, process_cpu_s - counted))
    return parts


def worker_logs(collected: Path) -> list[str]:
    return [
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(collected.glob("*/worker.log"))
    ]


@dataclass
class Floor:
    wall_s: float
    """Wall time of all floor processes, ``jobs`` at a time."""
    cpu_s: float
    parts: Parts
    failed: list[str]


def measure_floor(names: list[str], jobs: int, cwd: Path) -> Floor:
    """Import TensorFlow, build the model, one forward pass: one process per model, ``jobs``
    at a time, as collect runs its workers."""
    from concurrent.futures import ThreadPoolExecutor

    def one(name: str) -> Step:
        return run_step(
            [sys.executable, "-m", "benchmarks.floor", f"benchmarks.applications:{name}"], cwd
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        steps = list(pool.map(one, names))
    wall = time.perf_counter() - started
    cpu = sum(step.cpu_s for step in steps)
    failed = [name for name, step in zip(names, steps, strict=True) if step.returncode != 0]
    return Floor(wall, cpu, phase_parts([step.stderr for step in steps], cpu), failed)


RENDER_PARTS: dict[str, tuple[str, str | None, str]] = {
    "read facts.json": ("reportgen.pipeline", None, "read_facts"),
    "derive": ("reportgen.pipeline", None, "derive_model"),
    "charts": ("reportgen.render.charts", None, "model_charts"),
    "pages": ("reportgen.render.site", None, "gather_pages"),
    "data JSON": ("reportgen.render.site", None, "report_json"),
    "writing files": ("reportgen.render.site", "SiteWriter", "write"),
    "copy traces": ("reportgen.pipeline", None, "copy_trace_files"),
    "publish: the rest (assets, waiting for charts, swap)": ("reportgen.pipeline", None, "publish"),
}
"""Render's parts: the function each is timed by (module, class or None, name). Each part
counts its own time, less that of the timed parts it calls."""
RENDER_TIMES_ENV = "REPORTGEN_ZOO_RENDER_TIMES"


def timed_render() -> None:
    """``reportgen`` with :data:`RENDER_PARTS` timed; run as ``python -c``. Each process
    (the forked chart worker too) writes its sums to the file $REPORTGEN_ZOO_RENDER_TIMES
    as ``phase`` lines behind its pid, after each chart and at the end of publishing: the
    chart worker ends without running exit handlers."""
    import functools
    import importlib

    from reportgen.cli import main as reportgen_main

    out = Path(os.environ[RENDER_TIMES_ENV])
    state: dict[str, Any] = {"pid": os.getpid(), "sums": {}, "stack": []}

    def record() -> None:
        lines = [
            f"{os.getpid()} reportgen: phase {name:<40} {w:7.2f} s wall {c:7.2f} s CPU"
            for name, (w, c) in state["sums"].items()
        ]
        with out.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def timed(part: str, function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if state["pid"] != os.getpid():  # a forked worker: count only its own work
                state.update(pid=os.getpid(), sums={}, stack=[])
            stack: list[list[float]] = state["stack"]
            stack.append([0.0, 0.0])
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                inner = stack.pop()
                total = state["sums"].setdefault(part, [0.0, 0.0])
                total[0] += wall - inner[0]
                total[1] += cpu - inner[1]
                if stack:
                    stack[-1][0] += wall
                    stack[-1][1] += cpu
                if part == "charts" or not stack:
                    record()

        return wrapper

    for part, (module, cls, name) in RENDER_PARTS.items():
        owner: Any = importlib.import_module(module)
        if cls:
            owner = getattr(owner, cls)
        setattr(owner, name, timed(part, getattr(owner, name)))
    sys.exit(reportgen_main(sys.argv[1:]))


def render_parts(times_file: Path, render_cpu_s: float) -> Parts:
    """The last sums each render process wrote, per part (the chart worker's included),
    and the render CPU time outside them."""
    last: dict[tuple[str, str], str] = {}
    if times_file.is_file():
        for line in times_file.read_text(encoding="utf-8").splitlines():
            pid, _, rest = line.partition(" ")
            match = PHASE_LINE.match(rest)
            if match:
                last[pid, match["name"]] = rest
    return phase_parts(["\n".join(last.values())], render_cpu_s)


def model_names(selected: str | None) -> list[str]:
    if selected:
        return [name.strip() for name in selected.split(",") if name.strip()]
    code = "from benchmarks.applications import names; print('\\n'.join(names()))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def write_config(work: Path, names: list[str]) -> list[str]:
    from benchmarks.applications import slug

    slugs = [slug(name) for name in names]
    entries = [
        f'[[models]]\nslug = "{s}"\nsource = "benchmarks.applications:{name}"\n'
        f'title.en = "{name}"\ntitle.zh = "{name}"\n'
        for s, name in zip(slugs, names, strict=True)
    ]
    (work / "reportgen.toml").write_text("\n".join(entries), encoding="utf-8")
    return slugs


def tree_size(root: Path) -> tuple[int, int, dict[str, int]]:
    """Total bytes, file count, and bytes per top-level entry."""
    total = count = 0
    parts: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total += size
            count += 1
            top = path.relative_to(root).parts[0]
            key = top if (root / top).is_dir() else "(top level)"
            parts[key] = parts.get(key, 0) + size
    return total, count, parts


def mib(value: int) -> str:
    if value < 2**20:
        return f"{value / 2**10:,.0f} KiB"
    return f"{value / 2**20:,.0f} MiB" if value < 2**30 else f"{value / 2**30:.2f} GiB"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated keras.applications class names")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per model")
    parser.add_argument("--no-profile", action="store_true", help="pass --no-profile")
    parser.add_argument(
        "--keep", type=Path, help="work here and keep it (config, collected/, site/)"
    )
    floor = parser.add_mutually_exclusive_group()
    floor.add_argument("--skip-floor", action="store_true", help="do not measure the floor")
    floor.add_argument("--floor-only", action="store_true", help="measure only the floor")
    args = parser.parse_args()

    names = model_names(args.models)
    work = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="reportgen-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        floor_ = None if args.skip_floor else measure_floor(names, args.jobs, work)
        if floor_ is not None:
            print_floor(floor_, len(names), args.jobs)
        if args.floor_only:
            return 1 if floor_ is None or floor_.failed else 0
        return bench(work, names, args, floor_)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def print_floor(floor: Floor, count: int, jobs: int) -> None:
    print(
        f"floor         {floor.wall_s:7.1f} s   ({count} models, --jobs {jobs}; "
        f"{floor.cpu_s:.0f} CPU s: import TensorFlow, build, one forward pass)"
    )
    if floor.failed:
        print(f"floor failed  {', '.join(floor.failed)}")


def print_parts(title: str, parts: Parts, floor: Parts | None = None) -> None:
    """A table of wall and CPU seconds per part, largest CPU first, the floor's beside."""
    width = max(44, *(len(p) for p in parts.cpu))
    head = f"  {'part':{width}} {'wall s':>8} {'CPU s':>8} {'CPU %':>6}"
    print(f"\n{title}:\n{head}" + (f" {'floor CPU s':>12}" if floor else ""))
    total = sum(parts.cpu.values()) or 1.0
    names = sorted(parts.cpu, key=lambda p: -parts.cpu[p])
    names += [p for p in (floor.cpu if floor else {}) if p not in parts.cpu]
    for part in names:
        cpu = parts.cpu.get(part)
        line = f"  {part:{width}} " + (
            f"{parts.wall[part]:8.1f} {cpu:8.1f} {100 * cpu / total:5.1f}%"
            if cpu is not None
            else f"{'':8} {'':8} {'':6}"
        )
        if floor is not None and part in floor.cpu:
            line += f" {floor.cpu[part]:12.1f}"
        print(line)
    line = f"  {'sum':{width}} {sum(parts.wall.values()):8.1f} {sum(parts.cpu.values()):8.1f}"
    print(line + (f" {'':6} {sum(floor.cpu.values()):12.1f}" if floor else ""))


def bench(work: Path, names: list[str], args: argparse.Namespace, floor: Floor | None) -> int:
    slugs = write_config(work, names)
    collected, site = work / "collected", work / "site"
    for path in (collected, site):
        shutil.rmtree(path, ignore_errors=True)
    extra = ["--no-profile"] if args.no_profile else []
    extra += ["--timeout", f"{args.timeout:g}"] if args.timeout else []
    reportgen = [sys.executable, "-m", "reportgen"]

    sampler = WorkerPeaks(collected)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    collect = run_step(
        [*reportgen, "collect", "--jobs", str(args.jobs), "--out", str(collected), *extra], work
    )
    sampler.stop.set()
    thread.join()
    render_times = work / "render-times.txt"
    render_times.unlink(missing_ok=True)
    render = run_step(
        [
            sys.executable,
            "-c",
            "from benchmarks.zoo import timed_render; timed_render()",
            "render",
            str(collected),
            "--out",
            str(site),
        ],
        work,
        {RENDER_TIMES_ENV: str(render_times)},
    )

    times = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r"^(?:collected|failed) (\S+) (?:in|after) ([\d.]+) s", collect.stderr, re.M
        )
    }
    errors = [line for line in collect.stderr.splitlines() if line.startswith("reportgen: error: ")]
    failed = [s for s in slugs if not (collected / s / "facts.json").is_file()]
    warnings = [
        line for line in render.stderr.splitlines() if line.startswith("reportgen: warning:")
    ]
    warned_models = sorted({line.split(": ")[2] for line in warnings if line.count(": ") >= 3})
    size, files, parts = tree_size(site) if site.is_dir() else (0, 0, {})
    # wait4 gives the exact peak of the largest process; the samples name the model.
    peak_slug = max(sampler.peaks, key=lambda s: sampler.peaks[s], default="?")
    peak = collect.peak_bytes
    total = collect.wall_s + render.wall_s
    options = " ".join(["--jobs", str(args.jobs), *extra])
    render_ok = render.wall_s <= TARGET_RENDER_S
    total_ok = total <= TARGET_TOTAL_S
    peak_ok = peak <= TARGET_WORKER_BYTES
    ratio = total / floor.wall_s if floor is not None and floor.wall_s > 0 else None
    ratio_ok = ratio is None or ratio <= TARGET_FLOOR_RATIO

    print(
        f"models        {len(slugs)} from keras.applications, {len(slugs) - len(failed)} collected"
    )
    print(f"collect       {collect.wall_s:7.1f} s   ({options}; {collect.cpu_s:.0f} CPU s)")
    print(f"render        {render.wall_s:7.1f} s   target ≤ 30 s: {verdict(render_ok)}")
    print(f"total         {total:7.1f} s   target ≤ 360 s: {verdict(total_ok)}")
    if floor is not None and ratio is not None:
        cpu_ratio = (collect.cpu_s + render.cpu_s) / floor.cpu_s if floor.cpu_s else 0.0
        print(
            f"ratio         {ratio:7.2f} ×   total / floor {floor.wall_s:.1f} s, target ≤ "
            f"{TARGET_FLOOR_RATIO:g}: {verdict(ratio_ok)}   (CPU: {cpu_ratio:.2f} × "
            f"{floor.cpu_s:.0f} CPU s)"
        )
    print(f"worker peak   {mib(peak)} ({peak_slug})   target ≤ 8 GiB: {verdict(peak_ok)}")
    print(f"render peak   {mib(render.peak_bytes)}   ({render.cpu_s:.0f} CPU s)")
    by_size = sorted(parts.items(), key=lambda kv: -kv[1])
    print(f"site          {mib(size)} in {files:,} files")
    print("              " + ", ".join(f"{key} {mib(value)}" for key, value in by_size))
    print(f"warnings      {len(warnings)} derivation warnings in {len(warned_models)} models")
    load = os.getloadavg()
    print(f"load average  {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    cpus = os.cpu_count() or 1
    idle = max(collect.cpu_s / min(args.jobs, cpus), max(sampler.cpu_s.values(), default=0.0))
    print(
        f"idle estimate collect ≈ {idle:.0f} s (CPU time spread over {min(args.jobs, cpus)} cores)"
    )
    print("\nslowest models (collect wall time, worker CPU time, worker peak memory):")
    for slug_, seconds in sorted(times.items(), key=lambda kv: -kv[1])[:12]:
        cpu = sampler.cpu_s.get(slug_, 0.0)
        print(
            f"  {slug_:20} {seconds:6.1f} s {cpu:6.1f} CPU s {mib(sampler.peaks.get(slug_, 0)):>9}"
        )
    print(
        f"  sum over models: {sum(times.values()):.0f} s of worker wall time, "
        f"{sum(sampler.cpu_s.values()):.0f} CPU s"
    )
    print_parts(
        f"collect, per part, summed over models ({collect.cpu_s:.0f} CPU s in all)",
        phase_parts(worker_logs(collected), collect.cpu_s),
        floor.parts if floor is not None else None,
    )
    print_parts(
        f"render, per part ({render.cpu_s:.0f} CPU s in all)",
        render_parts(render_times, render.cpu_s),
    )
    if errors:
        print("\nfailures:")
        for line in errors:
            print(f"  {line.removeprefix('reportgen: error: ')}")
    if warnings:
        print("\nwarnings (first 15):")
        for line in warnings[:15]:
            print(f"  {line.removeprefix('reportgen: warning: ')}")
    if render.returncode != 0:
        print(f"\nrender failed:\n{render.stderr}")
    ok = not failed and render.returncode == 0 and render_ok and total_ok and peak_ok and ratio_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
