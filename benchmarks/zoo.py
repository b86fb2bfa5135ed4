"""Collect and render every model in ``keras.applications``: time, memory and size at scale.

Two steps, as CI runs them: ``reportgen collect --jobs N`` (the TensorFlow part, N worker
processes at a time), then ``reportgen render`` from the collected directories (no
TensorFlow). Prints the wall time of each and of both, the peak memory of the largest
worker (and which model), the site's size, the slowest models, the failures and the
derivation warnings. A benchmark, not a test: run it by hand, preferably niced.

    nice python benchmarks/zoo.py                      # every model, --jobs 2
    nice python benchmarks/zoo.py --models ResNet50,VGG16 --no-profile --keep /tmp/zoo

Targets (2 cores, 24 GB): all within 6 minutes, no worker above 8 GiB, render alone within
30 s. The exit status is 1 when a target is missed or a model failed.
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

ROOT = Path(__file__).resolve().parent.parent
TARGET_TOTAL_S = 360.0
TARGET_WORKER_BYTES = 8 * 2**30
TARGET_RENDER_S = 30.0
WORKER_MODULE = "reportgen.collect.worker"
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
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if not any(WORKER_MODULE.encode() in a for a in args):
                    continue
                request = Path(os.fsdecode(args[-3] if len(args) >= 3 else b""))
                if self.work not in request.parents:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # the process ended between listing and reading
            slug = request.parent.name
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                self.peaks[slug] = max(self.peaks.get(slug, 0), int(match.group(1)) * 1024)
            fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)"
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            self.cpu_s[slug] = ticks / os.sysconf("SC_CLK_TCK")


def run_step(argv: list[str], cwd: Path) -> Step:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
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
    args = parser.parse_args()

    names = model_names(args.models)
    work = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="reportgen-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return bench(work, names, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, names: list[str], args: argparse.Namespace) -> int:
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
    render = run_step([*reportgen, "render", str(collected), "--out", str(site)], work)

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

    print(
        f"models        {len(slugs)} from keras.applications, {len(slugs) - len(failed)} collected"
    )
    print(f"collect       {collect.wall_s:7.1f} s   ({options}; {collect.cpu_s:.0f} CPU s)")
    print(f"render        {render.wall_s:7.1f} s   target ≤ 30 s: {verdict(render_ok)}")
    print(f"total         {total:7.1f} s   target ≤ 360 s: {verdict(total_ok)}")
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
    ok = not failed and render.returncode == 0 and render_ok and total_ok and peak_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
