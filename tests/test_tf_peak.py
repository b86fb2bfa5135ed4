"""Peak activation memory against a real traced run: the consumers the collect stage
records, the derived liveness peak beside the allocator's, and its scaling with the batch.

One small functional model with a skip connection (Add) and a branch read late
(GlobalAveragePooling of the first conv, concatenated at the end); measured at batch 2 and
8. Nothing here depends on which kernels run (oneDNN or not): the measured peak must be the
derived one plus the differences the notes explain, whatever they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reportgen.derive import derive_model
from reportgen.facts import ModelFacts

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def skip_model() -> Any:
    import keras

    x = keras.Input((8, 8, 3), name="image")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(x)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(a)
    added = keras.layers.Add(name="add")([a, b])
    flat = keras.layers.Flatten(name="flatten")(added)
    dense = keras.layers.Dense(16, activation="relu", name="dense")(flat)
    late = keras.layers.GlobalAveragePooling2D(name="late")(a)
    joined = keras.layers.Concatenate(name="concat")([dense, late])
    out = keras.layers.Dense(3, name="head")(joined)
    return keras.Model(x, out, name="skip")


def _facts(model: Any, batch: int) -> ModelFacts:
    from reportgen.collect.graph_run import measure_graph, trace_model_forward
    from reportgen.collect.keras_facts import model_facts, row_names

    spec = type("Spec", (), {"slug": "skip", "title_en": "s", "title_zh": "s", "source": "s"})()
    spec.batch_size = batch
    facts = model_facts(model, spec)
    memory, _ = measure_graph(model, batch, trace_model_forward(model, batch, row_names(model)))
    return dataclasses.replace(facts, memory=memory)


@pytest.fixture(scope="module")
def measured(skip_model: Any) -> dict[int, ModelFacts]:
    return {batch: _facts(skip_model, batch) for batch in (2, 8)}


def test_collect_records_who_reads_what(measured: dict[int, ModelFacts]) -> None:
    inbound = {layer.name: layer.inbound for layer in measured[2].layers}
    assert inbound == {
        "image": (),
        "conv_a": ("image",),
        "conv_b": ("conv_a",),
        "add": ("conv_a", "conv_b"),
        "flatten": ("add",),
        "dense": ("flatten",),
        "late": ("conv_a",),
        "concat": ("dense", "late"),
        "head": ("concat",),
    }


def test_derived_peak_is_the_hand_computed_one(measured: dict[int, ModelFacts]) -> None:
    report = derive_model(measured[8])
    # Per example, float32: conv outputs 8·8·4·4 = 1,024 B, add 1,024 B, flatten 1,024 B.
    # While add runs, conv_a (read later by late), conv_b and add are live: 3,072 B; at
    # flatten conv_a, add and flatten: 3,072 B too; the first step wins.
    assert report.totals.peak_activation_bytes == 8 * 3 * 1024
    assert report.totals.peak_layer == "add"
    assert report.peak is not None and set(report.peak.live_layers) == {"conv_a", "conv_b", "add"}


@pytest.mark.parametrize("batch", [2, 8])
def test_measured_peak_is_the_derived_one_with_its_differences(
    measured: dict[int, ModelFacts], batch: int
) -> None:
    report = derive_model(measured[batch])
    peak = report.peak
    assert peak is not None and peak.bytes is not None and peak.measured_bytes is not None
    assert report.totals.measured_peak_bytes == peak.measured_bytes
    assert peak.measured_steps  # the timeline came with the same traced run
    remainder = sum(d.bytes for d in peak.differences if d.kind == "other")
    assert peak.bytes + sum(d.bytes for d in peak.differences) == peak.measured_bytes
    # What no note explains is small beside the peak: the notes carry the difference.
    assert abs(remainder) <= 0.1 * peak.measured_bytes, [
        (d.kind, d.layer, d.bytes) for d in peak.differences
    ]


def test_scaling_is_linear_and_matches_the_runs(measured: dict[int, ModelFacts]) -> None:
    small, large = derive_model(measured[2]), derive_model(measured[8])
    assert small.peak is not None and large.peak is not None
    assert small.peak.bytes is not None and large.peak.bytes is not None
    assert large.peak.bytes == 4 * small.peak.bytes  # exactly linear in the batch
    assert small.scaling is not None and large.scaling is not None
    rows = {row.batch_size: row for row in small.scaling.rows}
    assert rows[8].activation_bytes == large.peak.bytes
    assert rows[8].training_activation_bytes == large.totals.activation_bytes
    # The runs agree: each measured peak is the scaled derived one plus its explained part.
    for report in (small, large):
        assert report.peak is not None and report.peak.explained_bytes is not None
        assert report.peak.measured_bytes is not None
        assert abs(report.peak.measured_bytes - report.peak.explained_bytes) <= 0.1 * (
            report.peak.measured_bytes
        )
