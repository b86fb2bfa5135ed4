"""Peak activation memory by liveness, and what fits, on hand-made facts (no TensorFlow).

Every expected figure is computed by hand in the comments: the outputs live while a layer
runs are its inputs (each until its last reader), its own output and every output still
waiting for a later reader.
"""

from __future__ import annotations

import dataclasses

import pytest

from reportgen.config import parse_config
from reportgen.derive import derive_model
from reportgen.derive.fits import GiB, largest_batch
from reportgen.derive.liveness import (
    Schedule,
    find_peak,
    internal_sizes,
    running_at_measured_peak,
    schedule,
)
from reportgen.errors import ConfigError
from reportgen.facts import InUse, LayerFacts, MemoryMeasurement, MemoryNote
from tests.handmade import gpt2_facts, layer, lenet_facts, lenet_layers


def wired(*rows: tuple[LayerFacts, tuple[str, ...] | None]) -> tuple[LayerFacts, ...]:
    return tuple(dataclasses.replace(row, inbound=inbound) for row, inbound in rows)


def conv(name: str, hw: int, channels: int) -> LayerFacts:
    # Output bytes at batch 1: hw·hw·channels·4.
    return layer(name, "ReLU", (None, hw, hw, channels), (None, hw, hw, channels))


def test_lenet_peak_is_at_pool1() -> None:
    report = derive_model(lenet_facts())
    # While pool1 runs: conv1's 28·28·32·4 = 100,352 B (read by pool1) + pool1's 25,088 B.
    assert report.totals.peak_activation_bytes == 100_352 + 25_088 == 125_440
    assert report.totals.peak_layer == "pool1"
    assert report.peak is not None
    assert report.peak.live_layers == ("conv1", "pool1")
    timeline = {step.layer: step.live_bytes for step in report.peak.steps}
    assert timeline["image"] == 3_136  # the input alone
    assert timeline["conv1"] == 3_136 + 100_352  # the input is read by conv1
    assert timeline["fc2"] == 4_096 + 40  # dropout's output and the logits
    assert "backward pass" in report.peak.training.en  # training holds every output


def test_lenet_peak_scales_exactly_with_the_batch() -> None:
    one = derive_model(lenet_facts())
    eight = derive_model(lenet_facts(batch_size=8))
    assert eight.totals.peak_activation_bytes == 8 * 125_440
    assert eight.totals.peak_layer == "pool1"
    assert one.scaling is not None and eight.scaling is not None
    rows = {row.batch_size: row for row in one.scaling.rows}
    assert rows[8].activation_bytes == eight.totals.peak_activation_bytes
    assert rows[8].training_activation_bytes == eight.totals.activation_bytes
    assert rows[8].inference_bytes == one.totals.param_bytes + 8 * 125_440
    for batch in (1, 2, 4, 1024):
        assert rows[batch].activation_bytes == batch * 125_440


def test_resnet_style_skip_keeps_the_block_input_alive() -> None:
    # x (1,024 B) → a (1,024) → b (1,024) → add(x, b) (1,024) → head (4 B).
    x = layer("x", "InputLayer", (None, 16, 16), (None, 16, 16))
    rows = wired(
        (x, ()),
        (conv("a", 16, 1), ("x",)),
        (conv("b", 16, 1), ("a",)),
        (layer("add", "Add", (None, 16, 16, 1), (None, 16, 16, 1)), ("x", "b")),
        (layer("head", "Dense", (None, 256), (None, 1), units=1, use_bias=False), ("add",)),
    )
    report = derive_model(lenet_facts(layers=rows))
    steps = {s.layer: s.live_bytes for s in report.peak.steps} if report.peak else {}
    # x stays live until add: at a, x + a; at b, x + a + b (a read by b); at add, x + b + add.
    assert steps == {"x": 1024, "a": 2048, "b": 3072, "add": 3072, "head": 1028}
    assert report.totals.peak_activation_bytes == 3072
    assert report.totals.peak_layer == "b"  # the first step at the peak
    # Without the skip (add reads b only), x dies at a: the peak is 2,048 B.
    plain = wired(*((row, row.inbound) for row in rows[:3]), (rows[3], ("b",)), (rows[4], ("add",)))
    assert derive_model(lenet_facts(layers=plain)).totals.peak_activation_bytes == 2048


def test_branch_read_late_stays_live_until_its_reader() -> None:
    # x (1,024 B) → a (4,096) → b (4,096) → c (4,096); side = pool(a) (16) read by join at
    # the end; side runs right after a. a dies at b (its last reader but side, which ran).
    x = layer("x", "InputLayer", (None, 16, 16, 1), (None, 16, 16, 1))
    rows = wired(
        (x, ()),
        (conv("a", 16, 4), ("x",)),
        (layer("side", "GlobalAveragePooling2D", (None, 16, 16, 4), (None, 4)), ("a",)),
        (conv("b", 16, 4), ("a",)),
        (conv("c", 16, 4), ("b",)),
        (layer("join", "Concatenate", (None, 4), (None, 1024 + 4)), ("c", "side")),
    )
    report = derive_model(lenet_facts(layers=rows))
    assert report.peak is not None
    steps = {s.layer: s.live_bytes for s in report.peak.steps}
    join = (1024 + 4) * 4
    assert steps == {
        "x": 1024,
        "a": 1024 + 4096,
        "side": 4096 + 16,
        "b": 4096 + 16 + 4096,
        "c": 16 + 4096 + 4096,
        "join": 16 + 4096 + join,
    }
    assert report.totals.peak_activation_bytes == 16 + 4096 + join
    assert report.totals.peak_layer == "join"
    assert "side" in report.peak.live_layers  # read late: still live at the end


def test_composite_block_runs_after_its_sub_layers() -> None:
    x = layer("x", "InputLayer", (None, 8), (None, 8))  # 32 B
    block = dataclasses.replace(
        layer("block", "Block", (None, 8), (None, 8)), composite=True, output_of="block/norm"
    )
    inner = dataclasses.replace(layer("block/dense", "Dense", (None, 8), (None, 8)), block="block")
    norm = dataclasses.replace(
        layer("block/norm", "LayerNormalization", (None, 8), (None, 8)), block="block"
    )
    rows = wired(
        (x, ()),
        (block, ("x",)),
        (inner, ("x",)),
        (norm, ("block/dense",)),
        (layer("head", "Dense", (None, 8), (None, 2)), ("block",)),
    )
    plan = schedule(rows)
    assert isinstance(plan, Schedule)
    assert plan.order == ("x", "block/dense", "block/norm", "block", "head")
    sizes = {"x": 32, "block": 0, "block/dense": 32, "block/norm": 32, "head": 8}
    # x is read by the block itself (its residual) until the block ends; the block's output
    # is its norm's tensor, read by head.
    assert plan.live_bytes(sizes) == (32, 64, 96, 64, 40)
    peak = find_peak(plan, sizes)
    assert peak is not None and (peak.bytes, peak.layer) == (96, "block/norm")


def test_unknown_readers_leave_the_peak_unknown() -> None:
    rows = tuple(dataclasses.replace(row, inbound=None) for row in lenet_layers())
    report = derive_model(dataclasses.replace(lenet_facts(), layers=rows))  # as old facts
    assert report.totals.peak_activation_bytes is None and report.totals.peak_layer is None
    assert report.peak is not None and "not guessed" in report.peak.explanation.en
    # What fits falls back on the sum of every output, and says so.
    assert report.scaling is not None and report.scaling.basis == "sum"
    assert report.scaling.rows[0].activation_bytes == report.totals.activation_bytes


def test_shared_layer_leaves_the_peak_unknown() -> None:
    rows = list(lenet_facts().layers)
    rows[6] = dataclasses.replace(rows[6], calls=2)
    report = derive_model(lenet_facts(layers=tuple(rows)))
    assert report.totals.peak_activation_bytes is None
    assert report.peak is not None and "shared" in report.peak.explanation.en


def test_measured_peak_differences_add_up() -> None:
    memory = MemoryMeasurement(
        method="test",
        ops=(),
        layer_bytes={},
        layer_notes={
            "pool1": (MemoryNote("workspace", op_type="_MklNativeMaxPool", nbytes=6_272),),
            "conv1": (MemoryNote("scratch", op_type="_FusedConv2D", nbytes=999),),
        },
        allocator_peak_bytes=131_712 + 100,
        allocator_total_bytes=None,
    )
    report = derive_model(lenet_facts(memory=memory))
    peak = report.peak
    assert peak is not None and peak.measured_bytes == 131_812
    kinds = [(d.kind, d.layer, d.bytes) for d in peak.differences]
    # conv1's scratch is freed before pool1 runs: not part of the peak's differences.
    assert kinds == [("workspace", "pool1", 6_272), ("other", None, 100)]
    assert peak.explained_bytes == 131_712
    assert peak.bytes is not None and peak.bytes + sum(d.bytes for d in peak.differences) == (
        peak.measured_bytes
    )
    assert all(d.sentence.zh and d.sentence.en for d in peak.differences)
    assert peak.measured_note is not None  # no timeline in these facts: it says so


def test_scratch_of_a_row_still_running_at_the_measured_peak_is_named() -> None:
    """Two rows' ops may run at once: the allocator's peak can come with conv2's small
    neighbour's allocation while conv2's kernel still holds its scratch (seen with oneDNN,
    whose convolutions reorder their operands into buffers of their own)."""
    timeline = (
        InUse("conv1/Relu", "conv1", 100_352),
        InUse("conv1/Relu", "conv1", 101_352),  # conv1's scratch, 1,000 B
        InUse("pool1/MaxPool", "pool1", 125_440),  # conv1's scratch freed before this
        InUse("conv2/Relu", "conv2", 75_264),
        InUse("conv2/Relu", "conv2", 125_264),  # conv2's scratch, 50,000 B
        InUse("pool2/MaxPool", "pool2", 137_808),  # the peak, conv2's scratch still held
        InUse("fc1/Relu", "fc1", 16_640),
    )
    memory = MemoryMeasurement(
        method="test",
        ops=(),
        layer_bytes={},
        layer_notes={
            "conv1": (MemoryNote("scratch", op_type="_FusedConv2D", nbytes=1_000),),
            "conv2": (MemoryNote("scratch", op_type="_FusedConv2D", nbytes=50_000),),
        },
        allocator_peak_bytes=None,
        allocator_total_bytes=None,
        timeline=timeline,
    )
    assert running_at_measured_peak(memory) == ("conv2", "pool2")
    peak = derive_model(lenet_facts(memory=memory)).peak
    assert peak is not None and peak.measured_bytes == 137_808 and peak.layer == "pool1"
    kinds = [(d.kind, d.layer) for d in peak.differences]
    assert ("scratch", "conv2") in kinds and ("scratch", "conv1") not in kinds
    assert peak.bytes is not None
    assert peak.bytes + sum(d.bytes for d in peak.differences) == peak.measured_bytes
    assert running_at_measured_peak(None) == ()


def test_largest_batch_that_fits() -> None:
    assert largest_batch(100, 10, 30) == 3
    assert largest_batch(100, 200, 30) == 0
    assert largest_batch(100, None, 30) is None
    report = derive_model(lenet_facts(memory_budget_gib=0.5))
    assert report.scaling is not None
    fits = {fit.memory_gib: fit for fit in report.scaling.fits}
    assert sorted(fits) == [0.5, 8.0, 16.0, 24.0, 40.0, 80.0] and fits[0.5].budget
    scaling = report.scaling
    eight = fits[8.0]
    assert eight.inference_batch == (8 * GiB - scaling.inference_fixed) // 125_440
    assert scaling.training_fixed is not None and scaling.training_per_example == 212_072
    assert eight.training_batch == (8 * GiB - scaling.training_fixed) // 212_072
    assert "8 GiB" in eight.sentence.en and "8 GiB" in eight.sentence.zh


@pytest.mark.parametrize("value", [0, -1, "8", True, float("inf")])
def test_memory_budget_must_be_a_positive_number(value: object) -> None:
    model = {"slug": "m", "source": "pkg.mod:fn", "memory_budget_gib": value}
    with pytest.raises(ConfigError, match="memory_budget_gib"):
        parse_config({"models": [model]}, None)


def test_memory_budget_is_read() -> None:
    model = {"slug": "m", "source": "pkg.mod:fn", "memory_budget_gib": 24}
    assert parse_config({"models": [model]}, None).models[0].memory_budget_gib == 24.0


def test_a_blocks_own_tensors_are_live_from_their_first_reader() -> None:
    # GPT-2 at 4 tokens, batch 1: a (4, 64) float32 row is 1,024 B, the MLP's (4, 256)
    # 4,096 B, the int32 mask (4, 4) 64 B, each id input 16 B. While the first block's
    # feedforward_intermediate_dense runs: padding_mask (read by both blocks) 16, the block
    # input (read by the block to its end) 1,024, the attention's dropout (read by the
    # block's addition) 1,024, the stream #1 (read by the closing addition) 1,024, the norm
    # 1,024 and its own 4,096: 8,208 B.
    report = derive_model(gpt2_facts(4, wired=True))
    assert report.totals.peak_activation_bytes == 16 + 3 * 1024 + 1024 + 4096 == 8208
    assert report.totals.peak_layer == "transformer_layer_0/feedforward_intermediate_dense"
    assert report.peak is not None and "transformer_layer_0#1" in report.peak.live_layers
    steps = {s.layer: s.live_bytes for s in report.peak.steps}
    # The mask lives only while the attention, its one reader, runs: 16 + 1,024 + the norm
    # 1,024 + the attention 1,024 + the mask 64.
    assert steps["transformer_layer_0/self_attention"] == 16 + 3 * 1024 + 64
    assert steps["transformer_layer_0/self_attention_dropout"] == 16 + 3 * 1024
    # The stream is live from its first reader, the feed-forward norm, not before.
    assert steps["transformer_layer_0/feedforward_layer_norm"] == 16 + 4 * 1024


def test_a_blocks_own_tensor_read_only_by_sub_layers_dies_at_its_last_reader() -> None:
    def peak(read_by_block: bool | None, name: str = "#1") -> int | None:
        rows = tuple(
            dataclasses.replace(
                row,
                internal_tensors=tuple(
                    dataclasses.replace(t, read_by_block=read_by_block)
                    if t.name.endswith(name)
                    else t
                    for t in row.internal_tensors
                ),
            )
            for row in gpt2_facts(4, wired=True).layers
        )
        report = derive_model(dataclasses.replace(gpt2_facts(4, wired=True), layers=rows))
        return report.totals.peak_activation_bytes

    assert peak(True) == 8208
    # Not read by the block after the norm: the stream is gone once the MLP runs.
    assert peak(False) == 8208 - 1024
    # Not known: kept until the block ends, the upper bound (the stream: as when read; the
    # mask: its 64 B stay live through the MLP too).
    assert peak(None) == 8208
    assert peak(None, "#0") == 8208 + 64


def test_a_blocks_own_tensors_are_sized_at_the_batch() -> None:
    eight = derive_model(gpt2_facts(4, wired=True, batch_size=8))
    assert eight.totals.peak_activation_bytes == 8 * 8208
    facts = gpt2_facts(None, wired=True)  # no length: the stream's size is unknown
    report = derive_model(facts)
    assert report.totals.peak_activation_bytes is None
    assert internal_sizes(facts)["transformer_layer_0#1"] is None
