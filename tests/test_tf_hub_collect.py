"""keras-hub transformers, collected in-process as the worker does.

Small backbones with random weights (nothing downloaded): GPT-2 (measured and profiled) and
Llama (whose decoder's own ``get_config()`` raises), both with ``sequence_length = 16``.
Checked: the composite blocks are opened into rows (``block``, path names, ``parent``),
each block's Keras count is its sub-layers' plus its own weights, every shape is concrete
and the open one kept, a broken ``get_config()`` costs that row's config only, a wrong
``input_shapes`` name is one line naming the real ones, synthetic token ids stay inside the
vocabulary, and measured bytes and time land on the sub-layers.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from reportgen.facts import LayerFacts, ModelFacts

pytestmark = pytest.mark.tf

MODULE = "reportgen_test_hub_models"
LENGTH = 16
VOCABULARY = 1000

SOURCE = """
import keras_hub


def gpt2():
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=1000, num_layers=2, num_heads=4, hidden_dim=64,
        intermediate_dim=256, max_sequence_length=32,
    )


def llama():
    return keras_hub.models.LlamaBackbone(
        vocabulary_size=1000, num_layers=2, num_query_heads=4, num_key_value_heads=2,
        hidden_dim=64, intermediate_dim=256,
    )


def bert():
    return keras_hub.models.BertBackbone(
        vocabulary_size=1000, num_layers=2, num_heads=4, hidden_dim=64,
        intermediate_dim=256, max_sequence_length=32,
    )


def vit():
    return keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
        mlp_dim=128,
    )
"""

MODELS = ("gpt2", "llama", "bert", "vit")
"""Collected by the fixture; ViT's image input has no open axis, so it has no length."""


def _spec(slug: str, **changes: Any) -> Any:
    from reportgen.config import ModelSpec

    fields: dict[str, Any] = {
        "slug": slug,
        "source": f"{MODULE}:{slug}",
        "title_en": slug,
        "title_zh": slug,
        "sequence_length": LENGTH,
    }
    fields.update(changes)
    return ModelSpec(**fields)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GPT-2 (measured and profiled), Llama (at batch 2) and BERT (measured) collected with
    a length of 16, ViT (measured) as it is."""
    from reportgen.collect.worker import collect_into

    root = tmp_path_factory.mktemp("hub")
    (root / f"{MODULE}.py").write_text(SOURCE)
    cwd = os.getcwd()
    os.chdir(root)  # a factory is imported from the current directory
    try:
        for slug in MODELS:
            out = root / "collected" / slug
            out.mkdir(parents=True)
            length = None if slug == "vit" else LENGTH
            # Llama at batch 2: what runs once per token and what once per example differ.
            batch = 2 if slug == "llama" else 1
            spec = _spec(slug, sequence_length=length, batch_size=batch).to_dict()
            collect_into({"spec": spec, "profile": slug == "gpt2"}, out)
    finally:
        os.chdir(cwd)
    return root


def facts(root: Path, slug: str) -> ModelFacts:
    return ModelFacts.from_dict(json.loads((root / "collected" / slug / "facts.json").read_text()))


def _module() -> Any:
    import importlib

    return importlib.import_module(MODULE)  # imported by the fixture's collection


def _weights(layer: LayerFacts) -> int:
    return sum(math.prod(w.shape) for w in layer.weights)


def test_blocks_are_opened_into_rows(collected: Path) -> None:
    gpt2 = facts(collected, "gpt2")
    names = [layer.name for layer in gpt2.layers]
    assert len(names) == len(set(names))  # sub-layer names repeat; their paths do not
    by_name = {layer.name: layer for layer in gpt2.layers}
    block = by_name["transformer_layer_0"]
    assert block.composite and block.class_name == "TransformerDecoder" and block.block is None
    dense = by_name["transformer_layer_0/feedforward_intermediate_dense"]
    assert (dense.class_name, dense.block, dense.parent) == ("Dense", "transformer_layer_0", None)
    # Sub-layers come right after their block, in call order.
    start = names.index("transformer_layer_0")
    inside = [n for n in names[start + 1 :] if n.startswith("transformer_layer_0/")]
    assert names[start + 1 : start + 1 + len(inside)] == inside
    assert inside[0] == "transformer_layer_0/self_attention_layer_norm"
    assert "transformer_layer_1/feedforward_intermediate_dense" in by_name
    assert not by_name["token_embedding"].composite


def test_a_block_counts_its_sub_layers_and_own_weights(collected: Path) -> None:
    for slug in ("gpt2", "llama"):
        model = facts(collected, slug)
        composites = [layer for layer in model.layers if layer.composite]
        assert composites
        for block in composites:
            children = [layer for layer in model.layers if layer.block == block.name]
            assert children, block.name
            total = sum(child.keras_params for child in children) + _weights(block)
            assert block.keras_params == total, block.name
        top = [layer for layer in model.layers if layer.block is None]
        assert sum(layer.keras_params for layer in top) == model.keras_params


def test_shapes_are_concrete_and_the_open_ones_kept(collected: Path) -> None:
    gpt2 = facts(collected, "gpt2")
    assert (gpt2.sequence_length, gpt2.input_shapes) == (LENGTH, None)
    for layer in gpt2.layers:
        for shape in layer.output_shapes:
            assert None not in shape[1:], (layer.name, shape)
    by_name = {layer.name: layer for layer in gpt2.layers}
    assert by_name["token_ids"].output_shapes == ((None, LENGTH),)
    assert by_name["token_ids"].open_output_shapes == ((None, None),)
    dense = by_name["transformer_layer_0/feedforward_intermediate_dense"]
    assert dense.output_shapes == ((None, LENGTH, 256),)
    assert dense.open_output_shapes == ((None, None, 256),)


def test_a_get_config_that_raises_costs_only_that_config(collected: Path) -> None:
    llama = facts(collected, "llama")
    decoders = [layer for layer in llama.layers if layer.class_name == "LlamaTransformerDecoder"]
    assert len(decoders) == 2
    for decoder in decoders:
        assert decoder.config_error is not None and "rope_scaling_factor" in decoder.config_error
        assert decoder.config_error.startswith("AttributeError")
        assert decoder.config["name"] == decoder.name and "\n" not in decoder.config_error
    assert llama.memory is not None and llama.memory.layer_bytes
    dense = next(x for x in llama.layers if x.name.endswith("/feedforward_gate_dense"))
    assert llama.memory.layer_bytes[dense.name] == 2 * LENGTH * 256 * 4


def test_measured_bytes_and_time_land_on_sub_layers(collected: Path) -> None:
    gpt2 = facts(collected, "gpt2")
    name = "transformer_layer_0/feedforward_intermediate_dense"
    assert gpt2.memory is not None and gpt2.profile is not None and gpt2.flops is not None
    assert gpt2.memory.layer_bytes[name] == gpt2.batch_size * LENGTH * 256 * 4
    assert gpt2.profile.layer_time_us[name] > 0
    assert gpt2.flops.by_layer[name] > 0
    # The residual adds are the block's own ops: they belong to its row, not a sub-layer's.
    assert "transformer_layer_0" in gpt2.flops.by_layer
    assert (collected / "collected" / "gpt2" / "trace.json.gz").is_file()
    with gzip.open(collected / "collected" / "gpt2" / "trace.json.gz") as fh:
        assert json.load(fh)["traceEvents"]


def test_without_a_length_shapes_stay_open_and_nothing_fails(collected: Path) -> None:
    from reportgen.collect.keras_facts import configured_model, model_facts

    model = _module().gpt2()
    spec = _spec("gpt2", sequence_length=None)
    assert configured_model(model, spec) is None
    open_facts = model_facts(model, spec)
    inputs = [layer for layer in open_facts.layers if layer.class_name == "InputLayer"]
    assert [(x.name, x.output_shapes) for x in inputs] == [
        ("padding_mask", ((None, None),)),
        ("token_ids", ((None, None),)),
    ]
    dense = next(x for x in open_facts.layers if x.name.endswith("intermediate_dense"))
    assert dense.output_shapes == ((None, None, 256),) and dense.open_output_shapes == ()


def test_an_unknown_input_name_names_the_real_ones(collected: Path) -> None:
    from reportgen.collect.keras_facts import configured_model
    from reportgen.collect.log import CollectFailure

    spec = _spec("gpt2", input_shapes={"tokens": (LENGTH,)})
    with pytest.raises(CollectFailure) as info:
        configured_model(_module().gpt2(), spec)
    assert str(info.value) == (
        "input_shapes: no input named 'tokens'; the model's inputs are padding_mask, token_ids"
    )
    filled = configured_model(
        _module().gpt2(), _spec("gpt2", input_shapes={"token_ids": (8,), "padding_mask": (8,)})
    )
    assert [tuple(t.shape) for t in filled.inputs] == [(None, 8), (None, 8)]


def test_synthetic_inputs_mean_what_the_inputs_mean(collected: Path) -> None:
    from reportgen.collect.graph_run import trace_model_forward
    from reportgen.collect.keras_facts import configured_model, input_vocabularies, row_names

    model = configured_model(_module().gpt2(), _spec("gpt2"))
    assert input_vocabularies(model) == [VOCABULARY, VOCABULARY]
    traced = trace_model_forward(model, 2, row_names(model), input_vocabularies(model))
    values = dict(zip([spec.name for spec in traced.specs], traced.values, strict=True))
    mask, ids = values["padding_mask"], values["token_ids"]
    assert mask.shape == ids.shape == (2, LENGTH)
    assert (mask == 1).all()
    assert ids.min() >= 0 and ids.max() < VOCABULARY and len(set(ids.flat)) > 1
    again = trace_model_forward(model, 2, row_names(model), input_vocabularies(model))
    assert all((a == b).all() for a, b in zip(traced.values, again.values, strict=True))


# ---------------------------------------------------------------- derived, against Keras and TF


def test_every_row_is_derived_and_equals_keras(collected: Path) -> None:
    from reportgen.derive import derive_model

    for slug in MODELS:
        report = derive_model(facts(collected, slug))
        wrong = [
            (x.name, x.params.value, x.keras_params) for x in report.layers if not x.params_match
        ]
        generic = [x.name for x in report.layers if x.params.method == "generic"]
        assert (slug, wrong, generic) == (slug, [], [])
        assert report.totals.params == report.totals.keras_params, slug
        assert report.totals.activation_bytes is not None, slug


def test_flops_equal_the_profiler_layer_by_layer(collected: Path) -> None:
    """Every row's derived FLOPs (a block's: its own ops outside its sub-layers) equal what
    TensorFlow's profiler counts for the ops in that row's scope, and so do the totals."""
    from reportgen.derive import derive_model

    for slug in MODELS:
        model = facts(collected, slug)
        assert model.flops is not None
        report = derive_model(model)
        wrong = [
            (x.name, x.flops.value if x.flops else None, model.flops.by_layer.get(x.name, 0))
            for x in report.layers
            if x.flops is None or x.flops.value != model.flops.by_layer.get(x.name, 0)
        ]
        assert (slug, wrong) == (slug, [])
        assert report.totals.flops == model.flops.total, slug


def test_decoders_carry_their_kv_cache(collected: Path) -> None:
    from reportgen.derive import derive_model

    # 2 (keys and values) × 2 layers × heads × 16 per head × 16 tokens × batch × 4 B.
    expected = {"gpt2": 2 * 2 * 4 * 16 * LENGTH * 4, "llama": 2 * 2 * 2 * 16 * LENGTH * 2 * 4}
    for slug in MODELS:
        report = derive_model(facts(collected, slug))
        found = report.decoder.kv_cache.value if report.decoder else None
        assert (slug, found) == (slug, expected.get(slug))


def test_the_peak_is_derived_through_the_blocks_own_tensors(collected: Path) -> None:
    """What a block's own operations make and its sub-layers read (the residual stream, the
    attention mask) is named, sized and read by name, so every model's peak is derived."""
    from reportgen.derive import derive_model

    gpt2 = {layer.name: layer for layer in facts(collected, "gpt2").layers}
    mask, stream = gpt2["transformer_layer_0"].internal_tensors
    # The causal mask merged with the padding mask, read by the attention only; the stream
    # x + attention(x), read by the feed-forward norm and by the closing addition.
    assert (mask.name, mask.shape, mask.dtype, mask.read_by_block) == (
        "transformer_layer_0#0",
        (None, LENGTH, LENGTH),
        "int32",
        False,
    )
    assert (stream.name, stream.shape, stream.dtype, stream.read_by_block) == (
        "transformer_layer_0#1",
        (None, LENGTH, 64),
        "float32",
        True,
    )
    assert (gpt2["transformer_layer_0/self_attention"].inbound or ())[-1] == mask.name
    assert gpt2["transformer_layer_0/feedforward_layer_norm"].inbound == (stream.name,)
    assert all(not x.internal_tensors for x in gpt2.values() if not x.composite)
    # BERT normalizes after each residual addition: the sums are read by its norms only.
    bert = {layer.name: layer for layer in facts(collected, "bert").layers}
    sums = bert["transformer_layer_0"].internal_tensors[1:]
    assert [(t.shape, t.read_by_block) for t in sums] == [((None, LENGTH, 64), False)] * 2
    for slug in ("gpt2", "llama", "bert"):
        report = derive_model(facts(collected, slug))
        assert report.totals.peak_activation_bytes is not None, slug
        assert report.totals.peak_layer is not None, slug
    # ViT's blocks are read through too, but its MLP calls one Dropout twice: a shared
    # layer, whose outputs one live range per row does not describe (said, not guessed).
    vit = facts(collected, "vit")
    block = next(x for x in vit.layers if x.name == "vit_encoder/transformer_block_1")
    assert [(t.shape, t.read_by_block) for t in block.internal_tensors] == [((None, 17, 64), True)]
    peak = derive_model(vit).peak
    assert peak is not None and "shared" in peak.explanation.en
