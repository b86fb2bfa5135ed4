"""The default of ``--jobs``: CPUs (affinity and cgroup quota), memory per worker, models."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.cli import main
from reportgen.jobs import (
    Machine,
    cgroup_cpu_limit,
    cgroup_memory_limit,
    default_jobs,
    detect_machine,
    jobs_line,
)

GiB = 2**30


def fake_cgroup(tmp_path: Path, files: dict[str, str], proc: str = "0::/\n") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "proc-cgroup").write_text(proc)
    return root, tmp_path / "proc-cgroup"


@pytest.mark.parametrize(
    ("machine", "models", "jobs"),
    [
        (Machine(cpus=2, memory_bytes=24 * GiB), 9, 2),
        (Machine(cpus=16, memory_bytes=7 * GiB), 9, 3),  # memory: 2 GiB per worker
        (Machine(cpus=16, memory_bytes=64 * GiB), 4, 4),  # never more than the models
        (Machine(cpus=4, memory_bytes=1 * GiB), 9, 1),  # at least one
        (Machine(cpus=4, memory_bytes=None), 9, 4),  # memory unknown: the CPUs
    ],
)
def test_default_jobs(machine: Machine, models: int, jobs: int) -> None:
    assert default_jobs(models, machine) == jobs


def test_the_line_says_what_and_why() -> None:
    line = jobs_line(9, 2, Machine(cpus=2, memory_bytes=24 * GiB))
    assert line == "collecting 9 models, 2 at a time (2 CPUs, 24 GiB memory)"
    assert jobs_line(3, 1, Machine(cpus=1, memory_bytes=3 * GiB // 2)) == (
        "collecting 3 models, 1 at a time (1 CPU, 1.5 GiB memory)"
    )


def test_cgroup_v2_quota_and_memory(tmp_path: Path) -> None:
    root, proc = fake_cgroup(tmp_path, {"cpu.max": "200000 100000\n", "memory.max": "8589934592\n"})
    machine = detect_machine(root, proc, affinity_cpus=16, physical_bytes=64 * GiB)
    assert machine == Machine(cpus=2, memory_bytes=8 * GiB)
    assert default_jobs(40, machine) == 2


def test_cgroup_v2_without_limits(tmp_path: Path) -> None:
    root, proc = fake_cgroup(tmp_path, {"cpu.max": "max 100000\n", "memory.max": "max\n"})
    machine = detect_machine(root, proc, affinity_cpus=4, physical_bytes=16 * GiB)
    assert machine == Machine(cpus=4, memory_bytes=16 * GiB)


def test_a_fractional_quota_rounds_down_but_not_below_one(tmp_path: Path) -> None:
    root, proc = fake_cgroup(tmp_path, {"cpu.max": "150000 100000\n"})
    assert cgroup_cpu_limit(root, proc) == 1
    root2, proc2 = fake_cgroup(tmp_path / "b", {"cpu.max": "50000 100000\n"})
    assert cgroup_cpu_limit(root2, proc2) == 1


def test_the_tightest_limit_on_the_way_up_applies(tmp_path: Path) -> None:
    root, proc = fake_cgroup(
        tmp_path,
        {
            "ci.slice/cpu.max": "400000 100000\n",
            "ci.slice/job/cpu.max": "max 100000\n",
            "ci.slice/job/memory.max": "4294967296\n",
            "ci.slice/memory.max": "max\n",
        },
        proc="0::/ci.slice/job\n",
    )
    assert cgroup_cpu_limit(root, proc) == 4
    assert cgroup_memory_limit(root, proc) == 4 * GiB


def test_cgroup_v1(tmp_path: Path) -> None:
    root, proc = fake_cgroup(
        tmp_path,
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "memory/memory.limit_in_bytes": "6442450944\n",
        },
        proc="4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n",
    )
    machine = detect_machine(root, proc, affinity_cpus=8, physical_bytes=32 * GiB)
    assert machine == Machine(cpus=3, memory_bytes=6 * GiB)


def test_cgroup_v1_unlimited(tmp_path: Path) -> None:
    root, proc = fake_cgroup(
        tmp_path,
        {
            "cpu/cpu.cfs_quota_us": "-1\n",
            "cpu/cpu.cfs_period_us": "100000\n",
            "memory/memory.limit_in_bytes": "9223372036854771712\n",
        },
        proc="4:cpu:/\n3:memory:/\n",
    )
    assert cgroup_cpu_limit(root, proc) is None
    assert cgroup_memory_limit(root, proc) is None


def test_no_cgroup_at_all(tmp_path: Path) -> None:
    machine = detect_machine(
        tmp_path / "none", tmp_path / "none", affinity_cpus=2, physical_bytes=8 * GiB
    )
    assert machine == Machine(cpus=2, memory_bytes=8 * GiB)


def test_the_cli_says_its_choice_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[int] = []

    def fake_collect_models(specs, out, jobs, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(jobs)
        return {}, {}

    monkeypatch.setattr("reportgen.cli.collect_models", fake_collect_models)
    monkeypatch.setattr(
        "reportgen.jobs.detect_machine", lambda: Machine(cpus=2, memory_bytes=24 * GiB)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["collect", "--models", "lenet,resnet50,mobilenet-v2", "--out", "c"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "collecting 3 models, 2 at a time (2 CPUs, 24 GiB memory)"
    )
    assert main(["collect", "--models", "lenet,resnet50", "--jobs", "1", "--out", "c"]) == 0
    assert "at a time" not in capsys.readouterr().err
    assert main(["collect", "--models", "lenet,resnet50", "--quiet", "--out", "c"]) == 0
    assert capsys.readouterr().err == ""
    assert seen == [2, 1, 2]
