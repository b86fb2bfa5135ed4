"""The profiler: op-name → layer mapping, trace bookkeeping, and a real profile of LeNet."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.collect.profiler import (
    PHASE_LOGGER,
    PROFILE_DIR,
    TRACE_FILE,
    ProfileError,
    layer_of_op,
    measurement_from_trace,
    phase,
    plan_passes,
    write_chrome_trace,
)
from reportgen.facts import ProfileMeasurement

STEPS = 5
LENET_LAYERS = ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "dropout", "fc2"]

# ---------------------------------------------------------------------------------------
# Without TensorFlow


@pytest.mark.parametrize(
    ("op", "layer"),
    [
        # Keras 3 in a graph: model and layer scopes get a _N suffix.
        ("lenet_1/conv1_1/Relu", "conv1"),
        ("lenet_1/conv1_1/convolution/ReadVariableOp", "conv1"),
        # The prefix trap: conv10's scope starts with "conv1".
        ("lenet_1/conv10_1/Relu", "conv10"),
        ("lenet_1/conv1_10/Relu", "conv1"),
        # A layer named like a suffixed scope: "d_1" is layer d's scope, d_1's is "d_1_1".
        ("m_1/d_1/MatMul", "d"),
        ("m_1/d_1_1/MatMul", "d_1"),
        # ...and when d_1 comes first, d's call scope skips the taken "d_1".
        ("m_1/d_2/MatMul", "d"),
        # A shared layer's second call.
        ("lenet_1/fc1_3/MatMul", "fc1"),
        # A nested model: its ops belong to the top-level layer that holds it.
        ("lenet_1/block_1/conv1_1/Relu", "block"),
        # tf.keras 2 graphs: no suffixes.
        ("lenet/conv1/Relu", "conv1"),
        # Not a layer's op: outside the model, directly in the model scope, or another model.
        ("Identity", None),
        ("lenet_1/Identity", None),
        ("other_1/conv1_1/Relu", None),
        ("lenet_1/unknown_1/Relu", None),
    ],
)
def test_layer_of_op(op: str, layer: str | None) -> None:
    names = ["conv1", "conv10", "d", "d_1", "fc1", "block"]
    model = "m" if op.startswith("m_") else "lenet"
    assert layer_of_op(op, model, names) == layer


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
    m = measurement_from_trace({"traceEvents": events}, 2, "m", ["c", "d"])
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
    m = measurement_from_trace({"traceEvents": events}, 1, "m", ["c"], device="NVIDIA H100")
    times = {op.op: op.times_us for op in m.ops}
    assert times == {"m_1/c_1/Conv2D": (37.0,), "m_1/c_1/ReadVariableOp": (1.0,)}
    assert m.layer_time_us == {"c": 38.0}
    assert m.device == "NVIDIA H100"


def test_missing_steps_is_a_one_line_error() -> None:
    events = [_meta(1, "/host:CPU"), _step(0, 0, 10)]
    with pytest.raises(ProfileError, match="1 'step' markers, expected 3"):
        measurement_from_trace({"traceEvents": events}, 3, "m", ["c"])


def test_chrome_trace_file_is_byte_stable(tmp_path: Path) -> None:
    trace = {"traceEvents": [_step(0, 0, 10)], "displayTimeUnit": "ns"}
    write_chrome_trace(trace, tmp_path / "a.json.gz")
    write_chrome_trace(trace, tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    with gzip.open(tmp_path / "a.json.gz", "rt", encoding="utf-8") as handle:
        assert json.load(handle) == trace


# ---------------------------------------------------------------------------------------
# A real profile of the Keras LeNet


@pytest.fixture(scope="module")
def lenet_profile(
    lenet_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ProfileMeasurement, Path]:
    from reportgen.collect.profiler import profile_model

    out = tmp_path_factory.mktemp("lenet_profile")
    return profile_model(lenet_model, batch_size=1, out_dir=out, steps=STEPS, warmup=2), out


@pytest.mark.tf
def test_chrome_trace_is_written(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, out = lenet_profile
    assert measured.trace_file == TRACE_FILE
    with gzip.open(out / measured.trace_file, "rt", encoding="utf-8") as handle:
        trace = json.load(handle)
    events = trace["traceEvents"]
    assert events and all(e for e in events)
    assert any(e.get("ph") == "X" and e.get("name") == "step 0" for e in events)


@pytest.mark.tf
def test_raw_profile_is_kept(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, out = lenet_profile
    assert measured.profile_dir == PROFILE_DIR
    runs = list((out / PROFILE_DIR).glob("plugins/profile/*/*.xplane.pb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    # The converter's result caches must not land next to the published profile.
    assert sorted(p.name for p in runs[0].parent.iterdir()) == [runs[0].name]


@pytest.mark.tf
def test_layer_times(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, _ = lenet_profile
    assert measured.steps == STEPS and measured.device == "CPU"
    for layer in ("conv1", "conv2", "fc1", "fc2"):
        assert measured.layer_time_us[layer] > 0
    # In model order; only layers that ran ops (inference Dropout runs none).
    assert list(measured.layer_time_us) == [n for n in LENET_LAYERS if n in measured.layer_time_us]
    assert "dropout" not in measured.layer_time_us
    assert measured.step_time_us >= max(measured.layer_time_us.values())


@pytest.mark.tf
def test_ops_per_step_and_layer(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, _ = lenet_profile
    assert all(len(op.times_us) == STEPS for op in measured.ops)
    conv1 = [op for op in measured.ops if "/conv1_" in op.op]
    assert conv1 and all(op.layer == "conv1" for op in conv1)
    # The convolution itself (fused with bias and ReLU by oneDNN on CPU) ran in every step.
    assert any("Conv2D" in op.op_type and min(op.times_us) > 0 for op in conv1)
    assert {op.layer for op in measured.ops} <= set(LENET_LAYERS) | {None}


@pytest.mark.tf
def test_profile_of_a_shared_trace(lenet_model: Any, tmp_path: Path) -> None:
    """What the worker does: profile graph_run's traced function, passes by its cost."""
    from reportgen.collect.graph_run import trace_model_forward
    from reportgen.collect.profiler import profile_forward

    traced = trace_model_forward(lenet_model, 1)
    measured = profile_forward(
        traced.function, traced.zero_inputs(), tmp_path, traced.layer_names, traced.layer_of
    )
    assert measured.steps == STEPS  # LeNet's first pass is cheap: the full protocol
    assert all(len(op.times_us) == STEPS for op in measured.ops)
    # The recorded scopes name the same layer as the scope names do.
    assert all(
        op.layer == layer_of_op(op.op, str(lenet_model.name), LENET_LAYERS) for op in measured.ops
    )
    assert {"conv1", "conv2", "fc1", "fc2"} <= set(measured.layer_time_us)
    assert list(measured.layer_time_us) == [n for n in LENET_LAYERS if n in measured.layer_time_us]


@pytest.mark.tf
def test_profiler_already_running_is_a_clear_error(tmp_path: Path) -> None:
    import tensorflow as tf

    from reportgen.collect.profiler import record_profile

    tf.profiler.experimental.start(str(tmp_path / "other"))
    try:
        with pytest.raises(ProfileError, match="cannot start the TensorFlow profiler"):
            record_profile(lambda: None, [], tmp_path / "profile", 1)
    finally:
        tf.profiler.experimental.stop()


@pytest.mark.tf
def test_profiler_is_stopped_when_a_step_fails(tmp_path: Path) -> None:
    import tensorflow as tf

    from reportgen.collect.profiler import record_profile

    def failing() -> None:
        raise RuntimeError("boom")

    with pytest.raises(ProfileError, match="a profiled forward pass failed: boom"):
        record_profile(failing, [], tmp_path / "profile", 1)
    # A second profiler can start: the first was stopped.
    tf.profiler.experimental.start(str(tmp_path / "again"))
    tf.profiler.experimental.stop()
