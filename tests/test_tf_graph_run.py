"""Measured memory and TensorFlow's FLOPs count of the LeNet forward graph (graph_run)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def lenet_batch1(lenet_model: Any) -> tuple[Any, Any]:
    from reportgen.collect.graph_run import measure_graph

    return measure_graph(lenet_model, 1)


@pytest.fixture(scope="module")
def lenet_batch8(lenet_model: Any) -> tuple[Any, Any]:
    from reportgen.collect.graph_run import measure_graph

    return measure_graph(lenet_model, 8)


def test_layer_output_allocations_match_the_classic_table(lenet_batch1: tuple[Any, Any]) -> None:
    memory, _ = lenet_batch1
    # 28×28×32×4, 14×14×64×4, 1024×4 bytes (DESIGN.md's LeNet table).
    assert memory.layer_bytes["conv1"] == 100_352
    assert memory.layer_bytes["conv2"] == 50_176
    assert memory.layer_bytes["fc1"] == 4_096


def test_every_layer_and_the_input_layer_are_reported(lenet_batch1: tuple[Any, Any]) -> None:
    memory, _ = lenet_batch1
    expected = {"image", "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "dropout", "fc2"}
    assert set(memory.layer_bytes) == expected
    assert memory.layer_bytes["image"] is None
    assert [n.kind for n in memory.layer_notes["image"]] == ["fed_input"]
    assert memory.layer_notes["image"][0].nbytes == 3136


def test_flatten_reuses_its_input_buffer(lenet_batch1: tuple[Any, Any]) -> None:
    memory, _ = lenet_batch1
    reshapes = [op for op in memory.ops if op.layer == "flatten" and op.op_type == "Reshape"]
    assert reshapes and all(op.forwarded for op in reshapes)
    assert memory.layer_bytes["flatten"] is None
    (note,) = memory.layer_notes["flatten"]
    assert (note.kind, note.op_type, note.owner_layer, note.nbytes) == (
        "view",
        "Reshape",
        "pool2",
        12544,
    )


def test_dropout_at_inference_allocates_nothing(lenet_batch1: tuple[Any, Any]) -> None:
    memory, _ = lenet_batch1
    assert memory.layer_bytes["dropout"] is None
    assert [n.kind for n in memory.layer_notes["dropout"]] == ["no_op"]


def test_ops_carry_their_layer_and_allocator_record(lenet_batch1: tuple[Any, Any]) -> None:
    memory, _ = lenet_batch1
    conv1 = [op for op in memory.ops if op.layer == "conv1" and op.requested_bytes == 100_352]
    assert len(conv1) == 1
    assert conv1[0].shape == (1, 28, 28, 32)
    assert conv1[0].dtype == "float32"
    assert not conv1[0].forwarded
    assert memory.method.startswith("session-full-trace")
    assert memory.allocator_total_bytes is not None and memory.allocator_peak_bytes is not None
    assert 0 < memory.allocator_peak_bytes <= memory.allocator_total_bytes


def test_flops_match_the_profiler_oracle(lenet_batch1: tuple[Any, Any]) -> None:
    _, flops = lenet_batch1
    assert flops.total == 27_844_156
    assert {"conv1", "conv2", "fc1", "fc2"} <= set(flops.by_layer)
    assert sum(flops.by_op_type.values()) == flops.total
    assert sum(flops.by_layer.values()) == flops.total


def test_batch_of_eight_scales_the_allocations(lenet_batch8: tuple[Any, Any]) -> None:
    memory, flops = lenet_batch8
    assert memory.layer_bytes["conv1"] == 8 * 100_352 == 802_816
    assert memory.layer_bytes["fc1"] == 8 * 4_096
    assert flops.total == 8 * 27_844_156  # every counted op scales with the batch


@pytest.fixture(scope="module")
def lenet_traced(lenet_model: Any) -> Any:
    from reportgen.collect.graph_run import trace_model_forward

    return trace_model_forward(lenet_model, 1)


def test_a_shared_trace_measures_the_same(
    lenet_model: Any, lenet_traced: Any, lenet_batch1: tuple[Any, Any]
) -> None:
    """The worker traces once for graph_run and the profiler: same numbers as tracing here."""
    from reportgen.collect.graph_run import measure_graph

    memory, flops = measure_graph(lenet_model, 1, lenet_traced)
    expected_memory, expected_flops = lenet_batch1
    assert flops == expected_flops
    assert memory.layer_bytes == expected_memory.layer_bytes
    assert memory.layer_notes == expected_memory.layer_notes
    assert {op.op: op.layer for op in memory.ops} == {op.op: op.layer for op in expected_memory.ops}


def test_a_shared_trace_must_have_the_batch(lenet_model: Any, lenet_traced: Any) -> None:
    from reportgen.collect.graph_run import measure_graph

    with pytest.raises(ValueError, match="another batch size than 8"):
        measure_graph(lenet_model, 8, lenet_traced)


def test_traced_forward_maps_its_nodes_to_layers(lenet_traced: Any) -> None:
    assert lenet_traced.layer_names[0] == "image"  # the InputLayer first
    assert [tuple(t.shape) for t in lenet_traced.zero_inputs()] == [(1, 28, 28, 1)]
    nodes = [op.name for op in lenet_traced.function.graph.get_operations()]
    layers = {lenet_traced.index.layer_of(node) for node in nodes}
    assert {"conv1", "pool1", "conv2", "fc1", "fc2"} <= layers
    assert lenet_traced.index.layer_of("Identity") is None
