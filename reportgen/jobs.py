"""How many models to collect at once when ``--jobs`` is not given: what the machine allows.

Each model is collected in a worker process that imports TensorFlow and builds the model,
so two limits apply: the CPUs this process may run on (the affinity mask, and in a CI
container the cgroup's CPU quota, which the affinity mask does not show) and the memory
(the cgroup's ``memory.max`` where set, else the physical memory) divided by what one
worker needs. :data:`WORKER_BYTES` is 2 GiB: the floor measured for VGG16 (import
TensorFlow, build, one forward pass: 1.9 GiB, DESIGN.md), the largest common image model.
Never more workers than models, never fewer than one.

Everything here reads files and takes the paths as arguments, so tests feed it fake
cgroup trees; nothing imports TensorFlow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WORKER_BYTES = 2 * 2**30
"""Memory one collect worker is assumed to need (VGG16's measured floor, rounded up)."""

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
_V1_UNLIMITED = 2**62
"""cgroup v1 writes "no limit" as a huge number (9223372036854771712 on 4 KiB pages)."""


@dataclass(frozen=True)
class Machine:
    """What a collection may use: CPUs, and memory in bytes (None where unknown)."""

    cpus: int
    memory_bytes: int | None


def default_jobs(models: int, machine: Machine, worker_bytes: int = WORKER_BYTES) -> int:
    """Workers at once: the CPUs, bounded by memory per worker and by the models, at least 1."""
    jobs = machine.cpus
    if machine.memory_bytes is not None:
        jobs = min(jobs, machine.memory_bytes // worker_bytes)
    return max(1, min(jobs, models))


def jobs_line(models: int, jobs: int, machine: Machine) -> str:
    """``collecting 9 models, 2 at a time (2 CPUs, 24 GiB memory)``: the choice and why."""
    memory = (
        "memory unknown"
        if machine.memory_bytes is None
        else f"{_gib(machine.memory_bytes)} GiB memory"
    )
    cpus = f"{machine.cpus} CPU{'s' if machine.cpus != 1 else ''}"
    return (
        f"collecting {models} model{'s' if models != 1 else ''}, {jobs} at a time "
        f"({cpus}, {memory})"
    )


def _gib(value: int) -> str:
    gib = value / 2**30
    return f"{gib:.0f}" if gib >= 10 else f"{gib:.1f}".removesuffix(".0")


def detect_machine(
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    affinity_cpus: int | None = None,
    physical_bytes: int | None = None,
) -> Machine:
    """The CPUs and memory this process may use (the arguments replace what is read)."""
    cpus = affinity_cpus if affinity_cpus is not None else _affinity_cpus()
    quota = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, quota)
    memory = physical_bytes if physical_bytes is not None else _physical_bytes()
    limit = cgroup_memory_limit(cgroup_root, proc_cgroup)
    if limit is not None:
        memory = limit if memory is None else min(memory, limit)
    return Machine(cpus=max(1, cpus), memory_bytes=memory)


def _affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _physical_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_cpu_limit(cgroup_root: Path, proc_cgroup: Path) -> int | None:
    """Whole CPUs the cgroup quota allows (rounded down, at least 1), or None for no quota.

    cgroup v2: ``cpu.max`` is ``"<quota> <period>"`` or ``"max <period>"``; v1:
    ``cpu.cfs_quota_us`` (-1 for none) and ``cpu.cfs_period_us``. The tightest limit on the
    way from this process's cgroup up to the root applies.
    """
    limits: list[float] = []
    for folder in _cgroup_folders(cgroup_root, proc_cgroup, "cpu"):
        fields = _read(folder / "cpu.max").split()
        if len(fields) == 2 and fields[0] != "max":
            limits.append(_ratio(fields[0], fields[1]))
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota and period and not quota.startswith("-"):
            limits.append(_ratio(quota, period))
    usable = [limit for limit in limits if limit > 0]
    return max(1, math.floor(min(usable))) if usable else None


def cgroup_memory_limit(cgroup_root: Path, proc_cgroup: Path) -> int | None:
    """Bytes the cgroup allows (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), or None."""
    limits: list[int] = []
    for folder in _cgroup_folders(cgroup_root, proc_cgroup, "memory"):
        for name in ("memory.max", "memory.limit_in_bytes"):
            text = _read(folder / name)
            if text.isdigit() and 0 < int(text) < _V1_UNLIMITED:
                limits.append(int(text))
    return min(limits) if limits else None


def _ratio(quota: str, period: str) -> float:
    try:
        return int(quota) / int(period) if int(period) > 0 else 0.0
    except ValueError:
        return 0.0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _cgroup_folders(cgroup_root: Path, proc_cgroup: Path, controller: str) -> Iterator[Path]:
    """This process's cgroup folders and their parents, for v2 and for v1's ``controller``.

    ``/proc/self/cgroup`` names the cgroup (``0::/user.slice/...`` for v2,
    ``4:cpu,cpuacct:/docker/...`` for v1). Inside a container the named path may not exist
    under the mount (the container sees its own cgroup as the root): the root is always
    looked at too.
    """
    seen: set[Path] = set()
    for line in _read(proc_cgroup).splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            base = cgroup_root
        elif controller in controllers.split(","):
            base = cgroup_root / controllers
            if not base.is_dir():
                base = cgroup_root / controller
        else:
            continue
        folder = base / path.strip("/") if path.strip("/") else base
        while True:
            if folder not in seen and folder.is_dir():
                seen.add(folder)
                yield folder
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    if cgroup_root not in seen and cgroup_root.is_dir():
        yield cgroup_root
