"""keras-hub's embeddings, position encodings, RMS norms and patch embeddings against Keras
and TensorFlow: every class ``hub_embeddings``/``hub_norms``/``hub_vision`` derive (and Keras's
RMSNormalization) in one small model, each row's parameters equal to ``count_params()`` and
its FLOPs to what TensorFlow's profiler counts for that layer at batch 2.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from reportgen.config import ModelSpec
from reportgen.derive import derive_model
from reportgen.facts import ModelFacts
from reportgen.model import ModelReport

pytestmark = pytest.mark.tf

BATCH = 2
S, D, VOCAB = 8, 16, 100

DECLARED_HERE = {
    "ReversibleEmbedding",
    "TokenAndPositionEmbedding",
    "PositionEmbedding",
    "SinePositionEncoding",
    "RotaryEmbedding",
    "LlamaRotaryEmbedding",
    "RMSNormalization",
    "LlamaLayerNorm",
    "MistralLayerNormalization",
    "MixtralLayerNormalization",
    "Phi3LayerNorm",
    "QwenLayerNorm",
    "QwenMoeLayerNorm",
    "Qwen3LayerNorm",
    "Qwen3MoeLayerNorm",
    "GptOssLayerNormalization",
    "T5LayerNorm",
    "ViTPatchingAndEmbedding",
    "CLIPVisionEmbedding",
    "SigLIPVisionEmbedding",
    "PaliGemmaVitEmbeddings",
    "DeiTEmbeddings",
    "DINOV2Embedding",
    "DINOV3Embedding",
    "AddPositionalEmbedding",
    "DINOV2LayerScale",
    "DINOV3LayerScale",
}
"""The classes with a FLOPs rule here; the model below holds one of each."""

NORMS = {
    "llama.llama_layernorm": "LlamaLayerNorm",
    "mistral.mistral_layer_norm": "MistralLayerNormalization",
    "mixtral.mixtral_layer_norm": "MixtralLayerNormalization",
    "phi3.phi3_layernorm": "Phi3LayerNorm",
    "qwen.qwen_layernorm": "QwenLayerNorm",
    "qwen_moe.qwen_moe_layernorm": "QwenMoeLayerNorm",
    "qwen3.qwen3_layernorm": "Qwen3LayerNorm",
    "qwen3_moe.qwen3_moe_layernorm": "Qwen3MoeLayerNorm",
    "gpt_oss.gpt_oss_layer_norm": "GptOssLayerNormalization",
    "t5.t5_layer_norm": "T5LayerNorm",
}


def _hub(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"keras_hub.src.models.{module}"), name)


def hub_layers_model() -> Any:
    import keras
    import keras_hub
    from keras import layers as L

    hub = keras_hub.layers
    tokens = keras.Input((S,), dtype="int32", name="tokens")
    hidden = keras.Input((S, D), name="hidden")
    heads = keras.Input((S, 4, D), name="heads")
    image = keras.Input((32, 16, 3), name="image")
    square = keras.Input((16, 16, 3), name="square")
    grid = keras.Input((4, 4, D), name="grid")
    tied = hub.ReversibleEmbedding(VOCAB, D, logit_soft_cap=30.0, name="tied")
    outs = [
        tied(tied(tokens), reverse=True),
        hub.ReversibleEmbedding(VOCAB, D, tie_weights=False, name="untied")(tokens),
        hub.TokenAndPositionEmbedding(VOCAB, 32, D, name="tok_pos")(tokens),
        hub.PositionEmbedding(32, name="pos")(hidden),
        hub.SinePositionEncoding(name="sine")(hidden),
        hub.RotaryEmbedding(name="rope")(heads),
        hub.RotaryEmbedding(rope_type="default", name="rope_default")(hidden),
        _hub("llama.llama_rotary_embedding", "LlamaRotaryEmbedding")(name="llama_rope")(heads),
        L.RMSNormalization(name="keras_rms")(hidden),
        hub.RMSNormalization(D)(hidden),
        _hub("vit.vit_layers", "ViTPatchingAndEmbedding")(
            image_size=(32, 16), patch_size=(8, 4), hidden_dim=D, name="vit_patches"
        )(image),
        _hub("vit.vit_layers", "ViTPatchingAndEmbedding")(
            image_size=(32, 16),
            patch_size=(8, 8),
            hidden_dim=D,
            use_class_token=False,
            use_patch_bias=False,
            name="vit_plain",
        )(image),
    ]
    outs += [_hub(module, name)(name=name.lower())(hidden) for module, name in NORMS.items()]
    outs += vision_embeddings(square, grid, hidden)
    return keras.Model([tokens, hidden, heads, image, square, grid], outs)


def vision_embeddings(square: Any, grid: Any, hidden: Any) -> list[Any]:
    """One of each vision embedding counted whole (16×16×3 images, 4×4 patches, width D)."""
    small = {"hidden_dim": D, "patch_size": 4}
    return [
        _hub("clip.clip_layers", "CLIPVisionEmbedding")(**small, image_size=16, name="clip")(
            square
        ),
        _hub("siglip.siglip_layers", "SigLIPVisionEmbedding")(
            **small, image_size=16, name="siglip"
        )(square),
        _hub("pali_gemma.pali_gemma_vit", "PaliGemmaVitEmbeddings")(
            **small, image_size=16, name="pali_gemma"
        )(square),
        _hub("deit.deit_layers", "DeiTEmbeddings")(
            image_size=(16, 16), patch_size=(4, 4), hidden_dim=D, name="deit"
        )(square),
        _hub("dinov2.dinov2_layers", "DINOV2Embedding")(
            **small, image_shape=(16, 16), position_embedding_shape=(32, 32), name="dinov2"
        )(square),
        _hub("dinov3.dinov3_layers", "DINOV3Embedding")(
            **small, num_register_tokens=2, name="dinov3"
        )(square),
        _hub("vit_det.vit_layers", "AddPositionalEmbedding")(
            img_size=16, patch_size=4, embed_dim=D, name="vitdet_pos"
        )(grid),
        _hub("dinov2.dinov2_layers", "DINOV2LayerScale")(D, name="dinov2_scale")(hidden),
        _hub("dinov3.dinov3_layers", "DINOV3LayerScale")(D, name="dinov3_scale")(hidden),
    ]


@pytest.fixture(scope="module")
def hub_report() -> tuple[ModelReport, dict[str, int], int]:
    import keras

    from reportgen.collect.graph_run import measure_graph
    from reportgen.collect.keras_facts import model_facts

    model = hub_layers_model()
    spec = ModelSpec(slug="hub", source="tests", title_en="hub", title_zh="hub", batch_size=BATCH)
    facts = ModelFacts.from_dict(json.loads(model_facts(model, spec).to_json()))
    flops = measure_graph(model, BATCH)[1]
    keras_total = int(model.count_params())
    del model
    keras.backend.clear_session()
    report = derive_model(facts)
    assert report.totals.params == keras_total
    return report, flops.by_layer, flops.total


def test_every_class_is_in_the_model(hub_report: tuple[ModelReport, dict[str, int], int]) -> None:
    assert {layer.class_name for layer in hub_report[0].layers} >= DECLARED_HERE


def test_every_row_has_keras_parameters_by_formula(
    hub_report: tuple[ModelReport, dict[str, int], int],
) -> None:
    report = hub_report[0]
    assert [layer.name for layer in report.layers if not layer.params_match] == []
    assert [layer.name for layer in report.layers if layer.params.method == "generic"] == []


def test_every_row_costs_what_the_profiler_counts(
    hub_report: tuple[ModelReport, dict[str, int], int],
) -> None:
    report, by_layer, total = hub_report
    wrong = [
        (layer.name, layer.flops.value if layer.flops else None, by_layer.get(layer.name, 0))
        for layer in report.layers
        if layer.flops is None or layer.flops.value != by_layer.get(layer.name, 0)
    ]
    assert wrong == []
    assert sum(layer.flops.value or 0 for layer in report.layers if layer.flops) == total
