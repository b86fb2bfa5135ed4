"""A real profile of the Keras LeNet (``tests/test_profiler.py`` tests the bookkeeping on
hand-made traces)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from reportgen.collect.opindex import OpIndex
from reportgen.collect.profiler import (
    PROFILE_DIR,
    TRACE_FILE,
    ProfileError,
)
from reportgen.facts import ProfileMeasurement

pytestmark = pytest.mark.tf

STEPS = 5
LENET_LAYERS = ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "dropout", "fc2"]


@pytest.fixture(scope="module")
def lenet_profile(
    lenet_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ProfileMeasurement, Path]:
    from reportgen.collect.graph_run import trace_model_forward
    from reportgen.collect.profiler import profile_forward

    out = tmp_path_factory.mktemp("lenet_profile")
    traced = trace_model_forward(lenet_model, 1)
    inputs = traced.zero_inputs()
    return profile_forward(traced.function, inputs, out, traced.index, steps=STEPS, warmup=2), out


def test_chrome_trace_is_written(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, out = lenet_profile
    assert measured.trace_file == TRACE_FILE
    with gzip.open(out / measured.trace_file, "rt", encoding="utf-8") as handle:
        trace = json.load(handle)
    events = trace["traceEvents"]
    assert events and all(e for e in events)
    assert any(e.get("ph") == "X" and e.get("name") == "step 0" for e in events)


def test_raw_profile_is_kept(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, out = lenet_profile
    assert measured.profile_dir == PROFILE_DIR
    runs = list((out / PROFILE_DIR).glob("plugins/profile/*/*.xplane.pb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    # The converter's result caches must not land next to the published profile.
    assert sorted(p.name for p in runs[0].parent.iterdir()) == [runs[0].name]


def test_layer_times(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, _ = lenet_profile
    assert measured.steps == STEPS and measured.device == "CPU"
    for layer in ("conv1", "conv2", "fc1", "fc2"):
        assert measured.layer_time_us[layer] > 0
    # In model order; only layers that ran ops (inference Dropout runs none).
    assert list(measured.layer_time_us) == [n for n in LENET_LAYERS if n in measured.layer_time_us]
    assert "dropout" not in measured.layer_time_us
    assert measured.step_time_us >= max(measured.layer_time_us.values())


def test_ops_per_step_and_layer(lenet_profile: tuple[ProfileMeasurement, Path]) -> None:
    measured, _ = lenet_profile
    assert all(len(op.times_us) == STEPS for op in measured.ops)
    conv1 = [op for op in measured.ops if "/conv1_" in op.op]
    assert conv1 and all(op.layer == "conv1" for op in conv1)
    # The convolution itself (fused with bias and ReLU by oneDNN on CPU) ran in every step.
    assert any("Conv2D" in op.op_type and min(op.times_us) > 0 for op in conv1)
    assert {op.layer for op in measured.ops} <= set(LENET_LAYERS) | {None}


def test_profile_of_a_shared_trace(lenet_model: Any, tmp_path: Path) -> None:
    """What the worker does: profile graph_run's traced function, passes by its cost."""
    from reportgen.collect.graph_run import trace_model_forward
    from reportgen.collect.profiler import profile_forward

    traced = trace_model_forward(lenet_model, 1)
    measured = profile_forward(traced.function, traced.zero_inputs(), tmp_path, traced.index)
    assert measured.steps == STEPS  # LeNet's first pass is cheap: the full protocol
    assert all(len(op.times_us) == STEPS for op in measured.ops)
    # The recorded scopes name the same layer as the scope names do.
    by_names = OpIndex(LENET_LAYERS, model_scope=str(lenet_model.name))
    assert all(op.layer == by_names.layer_of(op.op) for op in measured.ops)
    assert {"conv1", "conv2", "fc1", "fc2"} <= set(measured.layer_time_us)
    assert list(measured.layer_time_us) == [n for n in LENET_LAYERS if n in measured.layer_time_us]


def test_profiler_already_running_is_a_clear_error(tmp_path: Path) -> None:
    import tensorflow as tf

    from reportgen.collect.profiler import record_profile

    tf.profiler.experimental.start(str(tmp_path / "other"))
    try:
        with pytest.raises(ProfileError, match="cannot start the TensorFlow profiler"):
            record_profile(lambda: None, [], tmp_path / "profile", 1)
    finally:
        tf.profiler.experimental.stop()


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


def test_trace_taken_from_the_converter_is_the_one_it_writes_as_text(
    lenet_profile: tuple[ProfileMeasurement, Path], tmp_path: Path
) -> None:
    """The trace's events are taken from xprof's stream as dicts, not from the JSON text it
    writes of them: the same trace, the same file bytes."""
    from reportgen.collect import profiler

    _, out = lenet_profile
    xplane = next((out / PROFILE_DIR).glob("plugins/profile/*/*.xplane.pb"))
    direct = profiler._chrome_trace_without_text(xplane)
    assert direct is not None, "xprof's internals changed: the conversion takes the long way"
    public = dict(direct)
    original = profiler._chrome_trace_without_text
    try:
        profiler._chrome_trace_without_text = lambda _: None  # type: ignore[assignment]
        public = profiler.convert_to_chrome_trace(xplane)
    finally:
        profiler._chrome_trace_without_text = original
    assert direct == public
    profiler.write_chrome_trace(direct, tmp_path / "direct.json.gz")
    profiler.write_chrome_trace(public, tmp_path / "public.json.gz")
    assert (tmp_path / "direct.json.gz").read_bytes() == (tmp_path / "public.json.gz").read_bytes()
