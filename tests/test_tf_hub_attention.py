"""keras-hub attention, MoE experts and decoder blocks against Keras and TensorFlow (``tf``).

Tiny backbones (random weights, nothing downloaded) are called once eagerly on a sequence of
S tokens while every layer call is recorded; each declared layer's facts are built from its
recorded call (``layer_facts``). Parameters: derived == ``count_params()``. FLOPs: each
block is traced alone as a ``tf.function`` and the profiler's per-op counts are summed per
layer scope (a sub-layer's ops are its own, the rest the block's).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from reportgen.derive.layers import derive_flops, derive_params, kind_of
from reportgen.derive.layers.registry import KvHeads
from reportgen.facts import LayerFacts

pytestmark = pytest.mark.tf

S = 8
V = 100


def backbones() -> dict[str, Any]:
    import keras_hub

    m = keras_hub.models
    small = {"vocabulary_size": V, "num_layers": 1, "hidden_dim": 16, "intermediate_dim": 32}
    gqa = {**small, "num_query_heads": 4, "num_key_value_heads": 2}
    return {
        "gpt2": m.GPT2Backbone(num_heads=4, max_sequence_length=S, **small),
        "llama": m.LlamaBackbone(**gqa),
        "gemma": m.GemmaBackbone(head_dim=8, **gqa),
        "mistral": m.MistralBackbone(**gqa),
        "qwen": m.QwenBackbone(**gqa),
        "phi3": m.Phi3Backbone(**gqa),
        "falcon": m.FalconBackbone(num_attention_heads=4, **small),
        "gptneox": m.GPTNeoXBackbone(
            num_heads=4, max_sequence_length=S, **{**small, "hidden_dim": 32}
        ),
        "bloom": m.BloomBackbone(num_heads=4, **small),
        "mixtral": m.MixtralBackbone(num_experts=4, top_k=2, **gqa),
        "qwen_moe": m.QwenMoeBackbone(
            moe_intermediate_dim=8,
            shared_expert_intermediate_dim=16,
            num_experts=4,
            top_k=2,
            **gqa,
        ),
        "qwen3": m.Qwen3Backbone(head_dim=4, **gqa),
        "gemma3": m.Gemma3Backbone(head_dim=8, image_size=16, vision_encoder=None, **gqa),
    }


@dataclasses.dataclass
class Found:
    layer: Any
    facts: LayerFacts
    block: Any
    """The decoder block the layer is in (itself for a block)."""


def _facts(layer: Any, calls: list[Any]) -> LayerFacts:
    """``layer_facts`` of the recorded first call, batch opened as the collect stage does (a
    ``get_config()`` that raises leaves only the name in the configuration)."""
    from reportgen.collect.keras_facts import _without_batch, layer_facts

    return layer_facts(layer, calls=[_without_batch(calls[0])])


@pytest.fixture(scope="module")
def declared() -> dict[str, list[Found]]:
    """Every layer of a declared keras-hub kind in the tiny backbones, by class name."""
    import numpy as np

    from reportgen.collect.keras_facts import _recording_calls

    found: dict[str, list[Found]] = {}
    for backbone in backbones().values():
        feed = {
            t.name: np.ones((1, *(S if d is None else d for d in t.shape[1:])), t.dtype)
            for t in backbone.inputs
        }
        with _recording_calls() as recorded:
            backbone(feed)
        layers = {id(r.layer): r.layer for r in recorded.records}
        for layer in layers.values():
            calls = recorded.calls_of(layer)
            name = type(layer).__name__
            kind = kind_of(name)
            if (
                not calls
                or kind is None
                or not kind.module.startswith("reportgen.derive.layers.hub_")
            ):
                continue
            block = layer if "Decoder" in name or "Block" in name else None
            found.setdefault(name, []).append(Found(layer, _facts(layer, calls), block))
    return found


PARAMS = (
    "CachedMultiHeadAttention",
    "LlamaAttention",
    "CachedGemmaAttention",
    "CachedMistralAttention",
    "CachedMixtralAttention",
    "QwenAttention",
    "QwenMoeAttention",
    "Qwen3Attention",
    "Phi3Attention",
    "FalconAttention",
    "BloomAttention",
    "GPTNeoXAttention",
    "CachedGemma3Attention",
    "MixtralMoeExperts",
    "QwenMoeExperts",
)


@pytest.mark.parametrize("class_name", PARAMS)
def test_params_equal_keras(declared: dict[str, list[Found]], class_name: str) -> None:
    assert class_name in declared, sorted(declared)
    for item in declared[class_name]:
        derived = derive_params(item.facts)
        if item.facts.config_error is not None and derived.method == "generic":
            # an older dispatch counts such a layer generically; the rule reads the kernels
            kind = kind_of(class_name)
            assert kind is not None and callable(kind.params)
            derived = kind.params(item.facts)
        assert derived.method == "formula", derived.explanation.en
        assert derived.value == item.layer.count_params(), derived.formula


KV = {
    "CachedMultiHeadAttention": KvHeads(4, 4, 4, 4),
    "LlamaAttention": KvHeads(2, 4, 2, 4),
    "CachedGemmaAttention": KvHeads(2, 8, 2, 8),
    "QwenAttention": KvHeads(2, 4, 2, 4),
    "FalconAttention": KvHeads(4, 4, 4, 4),
}


@pytest.mark.parametrize("class_name", sorted(KV))
def test_kv_heads(declared: dict[str, list[Found]], class_name: str) -> None:
    kind = kind_of(class_name)
    assert kind is not None and kind.kv_cache is not None
    assert kind.kv_cache(declared[class_name][0].facts) == KV[class_name]


def _profile_by_scope(block: Any, facts: LayerFacts) -> dict[str, int]:
    """The profiler's FLOPs of one call of ``block`` alone, by the innermost named scope
    under it that is one of its sub-layers (``""``: the block's own ops)."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as tf_ops

    names = list(facts.input_names)
    specs = []
    for name, shape in zip(names, facts.input_shapes, strict=True):
        dtype = (
            "float32" if name in ("decoder_sequence", "x", "inputs", "hidden_states") else "int32"
        )
        specs.append(tf.TensorSpec((1, *shape[1:]), dtype))

    def call(*xs: Any) -> Any:
        return block(**dict(zip(names, xs, strict=True)))

    graph = tf.function(call).get_concrete_function(*specs).graph
    subs = {s.name for s in block._flatten_layers(include_self=False, recursive=False)}
    totals: dict[str, int] = {}
    for op in graph.get_operations():
        try:
            value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except ValueError:
            continue
        if not value:
            continue
        parts = op.name.split("/")
        scope = next(
            (p.rstrip("_0123456789") for p in parts[1:-1] if p.rstrip("_0123456789") in subs), ""
        )
        totals[scope] = totals.get(scope, 0) + int(value)
    return totals


BLOCKS = (
    "LlamaTransformerDecoder",
    "MistralTransformerDecoder",
    "QwenTransformerDecoder",
    "Phi3Decoder",
    "Qwen3TransformerDecoder",
    "GemmaDecoderBlock",
    "Gemma3DecoderBlock",
    "MixtralTransformerDecoder",
)


@pytest.mark.parametrize("class_name", BLOCKS)
def test_block_and_attention_flops_equal_the_profiler(
    declared: dict[str, list[Found]], class_name: str
) -> None:
    block_found = declared[class_name][0]
    by_scope = _profile_by_scope(block_found.layer, block_found.facts)
    derived = derive_flops(block_found.facts, 1)
    if derived.value is not None:  # a get_config() that raises leaves no intermediate_dim
        assert derived.value == by_scope.get("", 0), derived.formula
    for sub in block_found.layer._flatten_layers(include_self=False, recursive=False):
        if "Attention" not in type(sub).__name__:
            continue
        sub_found = next(f for f in declared[type(sub).__name__] if f.layer is sub)
        flops = derive_flops(sub_found.facts, 1)
        kind = kind_of(type(sub).__name__)
        if sub_found.facts.config_error is not None and kind is not None and callable(kind.flops):
            flops = kind.flops(sub_found.facts, 1)  # dispatch leaves it unknown
        assert flops.value == by_scope[sub.name.rstrip("_0123456789")], flops.formula


# ---------------------------------------------------------------- hub_text.py's kinds


def text_backbones() -> dict[str, Any]:
    """One tiny backbone per family whose classes ``hub_text.py`` declares (1 layer each)."""
    import keras_hub

    m = keras_hub.models
    small = {"vocabulary_size": V, "num_layers": 1, "hidden_dim": 16, "intermediate_dim": 32}
    gqa = {**small, "num_query_heads": 4, "num_key_value_heads": 2}
    linear = {
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 4,
        "linear_value_head_dim": 4,
        "layer_types": ["linear_attention"],
    }
    t5gemma = {
        f"{side}_{key}": value
        for side in ("encoder", "decoder")
        for key, value in (
            ("hidden_dim", 16),
            ("intermediate_dim", 32),
            ("num_layers", 1),
            ("num_attention_heads", 4),
            ("num_key_value_heads", 2),
            ("head_dim", 4),
            ("layer_types", ["full_attention"]),
        )
    }
    return {
        "gemma4": m.Gemma4Backbone(head_dim=4, image_size=16, **gqa),
        "gpt_oss": m.GptOssBackbone(num_experts=4, top_k=2, **gqa),
        "smollm3": m.SmolLM3Backbone(
            vocabulary_size=V,
            hidden_dim=16,
            intermediate_dim=32,
            num_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            attention_bias=False,
            attention_dropout=0.0,
            rope_layer_enabled_list=[True],
            layer_types=["attention"],
            mlp_bias=False,
            layer_norm_epsilon=1e-6,
            max_position_embeddings=32,
            rope_theta=10000.0,
            partial_rotary_factor=1.0,
        ),
        "qwen3_5": m.Qwen3_5Backbone(head_dim=4, **gqa, **linear),
        "qwen3_5_moe": m.Qwen3_5MoeBackbone(
            head_dim=4,
            moe_intermediate_dim=8,
            shared_expert_intermediate_size=16,
            num_experts=4,
            top_k=2,
            **{k: v for k, v in gqa.items() if k != "intermediate_dim"},
            **linear,
        ),
        "t5gemma": m.T5GemmaBackbone(vocabulary_size=V, **t5gemma),
        "whisper": m.WhisperBackbone(
            num_heads=4,
            num_mels=8,
            max_encoder_sequence_length=2 * S,
            max_decoder_sequence_length=2 * S,
            **small,
        ),
        "roformer": m.RoformerV2Backbone(num_heads=4, head_size=4, **small),
        "xlnet": m.XLNetBackbone(num_heads=4, **small),
        "edrec": m.EdRecBackbone(
            vocab_size=V,
            num_layers_enc=1,
            num_layers_dec=1,
            hidden_dim=16,
            intermediate_dim=32,
            num_heads=4,
        ),
    }


@pytest.fixture(scope="module")
def text_layers() -> dict[str, list[Found]]:
    """Every keras-hub layer of the tiny text backbones, by class name (``block``: the
    layer's direct parent)."""
    import numpy as np

    from reportgen.collect.keras_facts import _recording_calls

    found: dict[str, list[Found]] = {}
    for backbone in text_backbones().values():
        feed = {
            t.name: np.ones((1, *(S if d is None else d for d in t.shape[1:])), t.dtype)
            for t in backbone.inputs
        }
        with _recording_calls() as recorded:
            backbone(feed)
        parents = {
            id(sub): layer
            for layer in backbone._flatten_layers(include_self=False)
            for sub in layer._flatten_layers(include_self=False, recursive=False)
        }
        for layer in {id(r.layer): r.layer for r in recorded.records}.values():
            calls = recorded.calls_of(layer)
            if calls:
                CALLED[id(layer)] = _facts(layer, calls)
                CALLEES[id(layer)] = recorded.callees(layer)
            if calls and type(layer).__module__.startswith("keras_hub"):
                found.setdefault(type(layer).__name__, []).append(
                    Found(layer, _facts(layer, calls), parents.get(id(layer)))
                )
    return found


CALLED: dict[int, LayerFacts] = {}
"""The facts of every layer the text backbones called (by ``id``), as collect records them."""
CALLEES: dict[int, list[Any]] = {}
"""The sub-layers each layer's call called, which is how the collect stage opens a layer."""


def _opened_params(layer: Any) -> int | None:
    """A layer's parameters as the report counts them: its rule, or, opened, the sum of its
    sub-layers' counts plus the generic count of the weights it owns directly."""
    from reportgen.collect.keras_facts import layer_facts
    from reportgen.derive.layers.registry import opens_up

    subs = CALLEES.get(id(layer)) or list(
        layer._flatten_layers(include_self=False, recursive=False)
    )
    if not subs or not opens_up(type(layer).__name__):
        facts = CALLED.get(id(layer)) or layer_facts(layer)
        return derive_params(facts).value
    owned = {id(w) for sub in subs for w in sub.weights}
    total = sum(int(np.prod(w.shape)) for w in layer.weights if id(w) not in owned)
    for sub in subs:
        counted = _opened_params(sub)
        if counted is None:
            return None
        total += counted
    return total


TEXT_KINDS = (
    "Gemma4TextAttention",
    "Gemma4TextDecoderBlock",
    "Gemma4VNorm",
    "GptOssAttention",
    "GptOssExperts",
    "GptOssSparseMoeBlock",
    "GptOssTopKRouter",
    "GptOssTransformerDecoder",
    "SmolLM3Attention",
    "SmolLM3DecoderLayer",
    "SmolLM3MLP",
    "SmolLM3RotaryEmbedding",
    "Qwen3_5GatedDeltaNet",
    "Qwen3_5LayerNorm",
    "Qwen3_5MoeExperts",
    "Qwen3_5MoeMLP",
    "Qwen3_5MoeSparseMoeBlock",
    "Qwen3_5MoeTransformerDecoder",
    "Qwen3_5RMSNormGated",
    "Qwen3_5TransformerDecoder",
    "T5GemmaAttention",
    "T5GemmaDecoderLayer",
    "T5GemmaEncoderLayer",
    "T5GemmaMLP",
    "WhisperCachedMultiHeadAttention",
    "WhisperDecoder",
    "WhisperEncoder",
    "Padder",
    "RoformerAttention",
    "RoformerNorm",
    "RoformerV2Encoder",
    "RoformrPositionalEmbedding",
    "XLNetEncoder",
    "XLNetAttentionMaskLayer",
    "XLNetSegmentMatrixLayer",
    "TwoStreamRelativeAttention",
    "ContentAndQueryEmbedding",
    "EdRecDecoderBlock",
    "EdRecEncoderBlock",
    "EdRecGatedFeedForward",
    "EdRecRMSNormalization",
)


@pytest.mark.parametrize("class_name", TEXT_KINDS)
def test_text_kinds_count_like_keras(text_layers: dict[str, list[Found]], class_name: str) -> None:
    """Declared in hub_text.py, and the report's count (rule, or opened) is count_params()."""
    kind = kind_of(class_name)
    assert kind is not None and kind.module.endswith(".hub_text"), class_name
    assert class_name in text_layers, sorted(text_layers)
    for item in text_layers[class_name]:
        assert _opened_params(item.layer) == item.layer.count_params(), item.layer.name


TEXT_KV = {
    "Gemma4TextAttention": KvHeads(2, 4, 2, 4),
    "GptOssAttention": KvHeads(2, 4, 2, 4),
    "SmolLM3Attention": KvHeads(2, 4, 2, 4),
    "T5GemmaAttention": KvHeads(2, 4, 2, 4),
    "WhisperCachedMultiHeadAttention": KvHeads(4, 4, 4, 4),
}


@pytest.mark.parametrize("class_name", sorted(TEXT_KV))
def test_text_kv_heads(text_layers: dict[str, list[Found]], class_name: str) -> None:
    from reportgen.derive.layers.hub_attention import NO_TOKEN_CACHE

    kind = kind_of(class_name)
    assert kind is not None and kind.kv_cache is not None
    for item in text_layers[class_name]:
        cross = "cross" in item.layer.name
        expected = NO_TOKEN_CACHE if cross else TEXT_KV[class_name]
        assert kind.kv_cache(item.facts) == expected, item.layer.name
