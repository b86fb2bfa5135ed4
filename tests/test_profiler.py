"""The profiler's pure half: trace bookkeeping, pass planning and the worker's log lines
(``tests/test_tf_profiler.py`` profiles a real LeNet)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.collect.log import PHASE_LOGGER, one_line, phase
from reportgen.collect.opindex import OpIndex
from reportgen.collect.profiler import (
    ProfileError,
    measurement_from_trace,
    plan_passes,
    write_chrome_trace,
)


@pytest.mark.parametrize(
    ("first_pass_s", "steps", "warmup", "planned"),
    [
        (0.01, None, None, (2, 5)),  # a cheap model (LeNet): the full protocol
        (0.49, None, None, (2, 5)),
        (0.5, None, None, (1, 3)),  # a costly one: no second warm-up, the median of 3
        (40.0, None, None, (1, 3)),
        (None, None, None, (2, 5)),  # no timed pass (warmup=0): the defaults
        (None, None, 0, (0, 5)),
        (2.0, 5, 2, (2, 5)),  # counts the caller gave are kept
        (2.0, 7, None, (1, 7)),
        (0.1, None, 1, (1, 5)),
    ],
)
def test_plan_passes(
    first_pass_s: float | None,
    steps: int | None,
    warmup: int | None,
    planned: tuple[int, int],
) -> None:
    assert plan_passes(first_pass_s, steps, warmup) == planned
    assert plan_passes(first_pass_s, steps, warmup)[1] >= 3


@pytest.mark.parametrize(
    ("second_pass_s", "steps", "planned"),
    [
        (0.002, None, (2, 5)),  # LeNet: cheap once warm, the full protocol
        (0.099, None, (2, 5)),
        (0.1, None, (2, 3)),  # VGG16 (0.3 s once warm): both warm-ups, the median of 3
        (0.3, 5, (2, 5)),  # a count the caller gave is kept
        (None, None, (2, 5)),
    ],
)
def test_plan_passes_after_a_slow_warm_pass(
    second_pass_s: float | None, steps: int | None, planned: tuple[int, int]
) -> None:
    assert plan_passes(0.3, steps, None, second_pass_s) == planned


def test_phase_logs_wall_and_cpu_time(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger=PHASE_LOGGER)
    with phase("outer"), phase("inner"):
        pass
    with pytest.raises(RuntimeError), phase("broken"):
        raise RuntimeError("boom")
    lines = [r.getMessage() for r in caplog.records if r.name == PHASE_LOGGER]
    assert [line.split()[1:3] for line in lines[:2]] == [["inner", "0.00"], ["outer", "0.00"]]
    assert lines[0].startswith("phase   inner") and lines[1].startswith("phase outer")
    assert all(" s wall " in line and line.endswith(" s CPU") for line in lines[:2])
    assert lines[2].startswith("phase broken") and lines[2].endswith("(failed)")


@pytest.mark.parametrize(
    ("message", "typed", "line"),
    [
        ("boom", False, "boom"),
        ("boom", True, "RuntimeError: boom"),
        ("ValueError: boom", True, "ValueError: boom"),  # not named twice
        ("", False, "RuntimeError"),
        ("two\n  lines\tand   spaces", False, "two lines and spaces"),
        ("File is not a zip file", False, "File is not a zip file"),  # not a frame
        # tf.function's framing: the frames and their quoted source lines go.
        (
            'in user code:\n\n    File "/m.py", line 5, in f  *\n        return g(x)\n\n'
            "    ValueError: Cannot reshape",
            True,
            "ValueError: Cannot reshape",
        ),
        # Keras's framing, with terminal colours.
        (
            "Exception encountered when calling Dense.call().\n\n\x1b[1mInput 0 is "
            "incompatible\x1b[0m\n\nArguments received by Dense.call():\n  • inputs=x",
            True,
            "RuntimeError: Input 0 is incompatible",
        ),
        ("x" * 400, False, "x" * 299 + "…"),
    ],
)
def test_one_line(message: str, typed: bool, line: str) -> None:
    assert one_line(RuntimeError(message), typed=typed) == line


def _meta(pid: int, name: str, tid: int | None = None) -> dict[str, Any]:
    if tid is None:
        return {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}}
    return {"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}}


def _x(pid: int, tid: int, name: str, ts: float, dur: float, **args: Any) -> dict[str, Any]:
    return {"ph": "X", "pid": pid, "tid": tid, "name": name, "ts": ts, "dur": dur, "args": args}


def _step(num: int, ts: float, dur: float) -> dict[str, Any]:
    return _x(1, 1, f"step {num}", ts, dur, step_num=str(num), group_id=str(num))


def test_trace_bookkeeping_on_cpu() -> None:
    """Steps by group_id or time window, self time under a nested op, missing ops as 0."""
    events = [
        _meta(1, "/host:CPU"),
        _step(0, 0, 100),
        _step(1, 200, 80),
        # step 0: a call op containing a conv; the call's self time excludes the conv
        _x(1, 2, "PartitionedCall", 10, 50, long_name="m_1/c_1/call:PartitionedCall"),
        _x(1, 2, "Conv2D", 20, 30, long_name="m_1/c_1/Conv2D:Conv2D", group_id="0"),
        _x(1, 2, "MatMul", 70, 10, long_name="m_1/d_1/MatMul:MatMul", group_id="0"),
        # step 1: the conv only, no group_id (assigned by its time window)
        _x(1, 2, "Conv2D", 210, 40, long_name="m_1/c_1/Conv2D:Conv2D"),
        # not an op (no long_name), and an op outside every step
        _x(1, 2, "ExecutorState::Process", 205, 60),
        _x(1, 2, "MatMul", -50, 10, long_name="m_1/d_1/MatMul:MatMul"),
        {},
    ]
    m = measurement_from_trace({"traceEvents": events}, 2, OpIndex(["c", "d"], model_scope="m"))
    times = {op.op: op.times_us for op in m.ops}
    assert times == {
        "m_1/c_1/call": (20.0, 0.0),
        "m_1/c_1/Conv2D": (30.0, 40.0),
        "m_1/d_1/MatMul": (10.0, 0.0),
    }
    assert {op.op: op.op_type for op in m.ops}["m_1/c_1/Conv2D"] == "Conv2D"
    assert m.layer_time_us == {"c": 45.0, "d": 5.0}  # medians of (50, 40) and (10, 0)
    assert m.step_time_us == 90.0
    assert m.device == "CPU"


def test_trace_bookkeeping_on_a_gpu() -> None:
    """Kernels on a device stream time their op; the host launch and derived lines don't."""
    events = [
        _meta(1, "/host:CPU"),
        _meta(7, "/device:GPU:0"),
        _meta(7, "Stream #12(Compute)", tid=3),
        _meta(7, "TensorFlow Ops", tid=4),
        _step(0, 0, 100),
        _x(1, 2, "Conv2D", 10, 5, long_name="m_1/c_1/Conv2D:Conv2D", group_id="0"),
        _x(1, 2, "ReadVariableOp", 2, 1, long_name="m_1/c_1/ReadVariableOp:ReadVariableOp"),
        # two kernels of the conv, the second after the host step ended (async GPU)
        _x(7, 3, "implicit_gemm", 20, 30, tf_op="m_1/c_1/Conv2D:Conv2D", group_id="0"),
        _x(7, 3, "bias_relu", 105, 7, tf_op="m_1/c_1/Conv2D:Conv2D", group_id="0"),
        _x(7, 4, "Conv2D", 20, 92, tf_op="m_1/c_1/Conv2D:Conv2D", group_id="0"),
    ]
    m = measurement_from_trace(
        {"traceEvents": events}, 1, OpIndex(["c"], model_scope="m"), device="NVIDIA H100"
    )
    times = {op.op: op.times_us for op in m.ops}
    assert times == {"m_1/c_1/Conv2D": (37.0,), "m_1/c_1/ReadVariableOp": (1.0,)}
    assert m.layer_time_us == {"c": 38.0}
    assert m.device == "NVIDIA H100"


def test_missing_steps_is_a_one_line_error() -> None:
    events = [_meta(1, "/host:CPU"), _step(0, 0, 10)]
    with pytest.raises(ProfileError, match="1 'step' markers, expected 3"):
        measurement_from_trace({"traceEvents": events}, 3, OpIndex(["c"], model_scope="m"))


def test_chrome_trace_file_is_byte_stable(tmp_path: Path) -> None:
    trace = {"traceEvents": [_step(0, 0, 10)], "displayTimeUnit": "ns"}
    write_chrome_trace(trace, tmp_path / "a.json.gz")
    write_chrome_trace(trace, tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    with gzip.open(tmp_path / "a.json.gz", "rt", encoding="utf-8") as handle:
        assert json.load(handle) == trace
