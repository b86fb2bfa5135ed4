"""keras-hub's embeddings, position encodings, RMS norms and patch embeddings on hand-made
facts (no TensorFlow).

Each case's facts are copied from the real keras-hub 0.32 layer (config fields and shapes);
the parameter counts are its ``count_params()``, the FLOPs what ``tf.compat.v1.profiler``
(TF 2.21) counted for it at batch 2. ``tests/test_tf_hub_layers.py`` re-checks both.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from reportgen.derive.layers import KINDS, derive_flops, derive_params
from reportgen.derive.layers.hub_norms import RMS_NORMS
from reportgen.derive.layers.registry import COMPOSITE
from reportgen.facts import LayerFacts, Shape, WeightFacts
from reportgen.model import Derivation

CJK = re.compile(r"[\u4e00-\u9fff]")
BATCH = 2


def hub_facts(
    class_name: str,
    inputs: Shape,
    outputs: Shape,
    weights: tuple[tuple[str, tuple[int, ...]], ...] = (),
    **config: Any,
) -> LayerFacts:
    count = 0
    for _, shape in weights:
        size = 1
        for d in shape:
            size *= d
        count += size
    return LayerFacts(
        name=class_name.lower(),
        class_name=class_name,
        config={"name": class_name.lower(), "trainable": True, **config},
        input_shapes=(inputs,),
        output_shapes=(outputs,),
        compute_dtype="float32",
        variable_dtype="float32",
        weights=tuple(WeightFacts(n, s, "float32", True) for n, s in weights),
        keras_params=count,
    )


ROTARY = {
    "max_wavelength": 10000,
    "scaling_factor": 1.0,
    "rope_type": "linear",
    "sequence_axis": 1,
    "feature_axis": -1,
}
VIT = {"image_size": [32, 32], "patch_size": [8, 8], "hidden_dim": 16, "num_channels": 3}

# (id, facts, count_params(), formula text, profiler FLOPs at batch 2)
CASES = [
    (
        "ReversibleEmbedding tied",
        hub_facts(
            "ReversibleEmbedding",
            (None, 8),
            (None, 8, 16),
            (("embeddings", (100, 16)),),
            input_dim=100,
            output_dim=16,
            tie_weights=True,
        ),
        1600,
        "100×16 = 1,600",
        32,
    ),
    (
        "ReversibleEmbedding untied",
        hub_facts(
            "ReversibleEmbedding",
            (None, 8),
            (None, 8, 16),
            (("embeddings", (100, 16)), ("reverse_embeddings", (16, 100))),
            input_dim=100,
            output_dim=16,
            tie_weights=False,
        ),
        3200,
        "table 100×16 + reverse kernel 16×100 = 3,200",
        32,
    ),
    (
        "ReversibleEmbedding reverse with soft cap",
        hub_facts(
            "ReversibleEmbedding",
            (None, 8, 16),
            (None, 8, 100),
            (("embeddings", (100, 16)),),
            input_dim=100,
            output_dim=16,
            tie_weights=True,
            logit_soft_cap=30.0,
        ),
        1600,
        "100×16 = 1,600",
        54400,
    ),
    (
        "PositionEmbedding",
        hub_facts(
            "PositionEmbedding",
            (None, 8, 16),
            (None, 8, 16),
            (("embeddings", (32, 16)),),
            sequence_length=32,
        ),
        512,
        "32×16 = 512",
        0,
    ),
    (
        "TokenAndPositionEmbedding",
        hub_facts(
            "TokenAndPositionEmbedding",
            (None, 8),
            (None, 8, 16),
            (("embeddings", (100, 16)), ("embeddings", (32, 16))),
            vocabulary_size=100,
            sequence_length=32,
            embedding_dim=16,
            tie_weights=True,
        ),
        2112,
        "tokens 100×16 + positions 32×16 = 2,112",
        288,
    ),
    (
        "SinePositionEncoding",
        hub_facts("SinePositionEncoding", (None, 8, 16), (None, 8, 16), max_wavelength=10000),
        0,
        "0",
        200,
    ),
    (
        "RotaryEmbedding",
        hub_facts("RotaryEmbedding", (None, 8, 4, 16), (None, 8, 4, 16), **ROTARY),
        0,
        "0",
        3624,
    ),
    (
        "LlamaRotaryEmbedding",
        hub_facts(
            "LlamaRotaryEmbedding",
            (None, 8, 4, 16),
            (None, 8, 4, 16),
            **ROTARY,
            position_scaling_factor=1.0,
            low_freq_factor=None,
        ),
        0,
        "0",
        3616,
    ),
    (
        "RMSNormalization (Keras)",
        hub_facts(
            "RMSNormalization",
            (None, 8, 16),
            (None, 8, 16),
            (("scale", (16,)),),
            axis=-1,
            epsilon=1e-6,
        ),
        16,
        "16",
        1072,
    ),
    (
        "LlamaLayerNorm",
        hub_facts(
            "LlamaLayerNorm", (None, 8, 16), (None, 8, 16), (("scale", (16,)),), epsilon=1e-6
        ),
        16,
        "16",
        1072,
    ),
    (
        "ViTPatchingAndEmbedding",
        hub_facts(
            "ViTPatchingAndEmbedding",
            (None, 32, 32, 3),
            (None, 17, 16),
            (
                ("class_token", (1, 1, 16)),
                ("kernel", (8, 8, 3, 16)),
                ("bias", (16,)),
                ("embeddings", (17, 16)),
            ),
            **VIT,
            use_class_token=True,
        ),
        3376,
        "patch kernel 8×8×3×16 + patch bias 16 + class token 16 + positions 17×16 = 3,376",
        197698,
    ),
    (
        "ViTPatchingAndEmbedding without class token or bias",
        hub_facts(
            "ViTPatchingAndEmbedding",
            (None, 32, 16, 3),
            (None, 16, 16),
            (("kernel", (8, 4, 3, 16)), ("embeddings", (16, 16))),
            **{**VIT, "image_size": [32, 16], "patch_size": [8, 4]},
            use_class_token=False,
        ),
        1792,
        "patch kernel 8×4×3×16 + positions 16×16 = 1,792",
        98848,
    ),
]


# Vision layers: facts from keras-hub 0.32's layers in DeiT/DINOv2/DINOv3/ViTDet backbones
# (32×32×3 images, 8×8 patches, d = 64) and tiny CLIP/SigLIP/PaliGemma embeddings (16×16×3,
# 4×4 patches, d = 8); FLOPs as the profiler counted them at batch 2.
IMG32, IMG16 = (None, 32, 32, 3), (None, 16, 16, 3)
SMALL_VIT = {"hidden_dim": 8, "patch_size": 4, "image_size": 16}
CASES += [
    (
        "CLIPVisionEmbedding",
        hub_facts(
            "CLIPVisionEmbedding",
            IMG16,
            (None, 17, 8),
            (
                ("kernel", (4, 4, 3, 8)),
                ("embeddings", (17, 8)),
                ("class_embedding", (8,)),
                ("position_ids", (1, 17)),
            ),
            **SMALL_VIT,
        ),
        545,
        "patch kernel 4×4×3×8 + class token 8 + positions 17×8 + position ids 17 = 545",
        24882,
    ),
    (
        "SigLIPVisionEmbedding",
        hub_facts(
            "SigLIPVisionEmbedding",
            IMG16,
            (None, 16, 8),
            (
                ("kernel", (4, 4, 3, 8)),
                ("bias", (8,)),
                ("embeddings", (16, 8)),
                ("position_ids", (1, 16)),
            ),
            **SMALL_VIT,
        ),
        536,
        "patch kernel 4×4×3×8 + patch bias 8 + positions 16×8 + position ids 16 = 536",
        25120,
    ),
    (
        "PaliGemmaVitEmbeddings",
        hub_facts(
            "PaliGemmaVitEmbeddings",
            IMG16,
            (None, 16, 8),
            (("kernel", (4, 4, 3, 8)), ("bias", (8,)), ("embeddings", (16, 8))),
            **SMALL_VIT,
            num_channels=3,
        ),
        520,
        "patch kernel 4×4×3×8 + patch bias 8 + positions 16×8 = 520",
        25120,
    ),
    (
        "DeiTEmbeddings",
        hub_facts(
            "DeiTEmbeddings",
            IMG32,
            (None, 18, 64),
            (
                ("class_token", (1, 1, 64)),
                ("distillation_token", (1, 1, 64)),
                ("kernel", (8, 8, 3, 64)),
                ("bias", (64,)),
                ("position_embedding", (1, 18, 64)),
            ),
            image_size=[32, 32],
            patch_size=[8, 8],
            hidden_dim=64,
            num_channels=3,
            num_patches=16,
            num_positions=18,
            use_mask_token=False,
        ),
        13632,
        "class token 64 + distillation token 64 + positions 18×64 = 13,632",
        790784,
    ),
    (
        "DINOV2Embedding",
        hub_facts(
            "DINOV2Embedding",
            IMG32,
            (None, 17, 64),
            (
                ("cls_token", (1, 1, 64)),
                ("mask_token", (1, 64)),
                ("kernel", (8, 8, 3, 64)),
                ("bias", (64,)),
                ("position_embeddings", (1, 17, 64)),
                ("interpolated_position_embeddings", (1, 17, 64)),
            ),
            hidden_dim=64,
            patch_size=8,
            image_shape=[32, 32],
            num_register_tokens=0,
            use_mask_token=True,
            position_embedding_shape=[32, 32],
        ),
        14656,
        "mask token 64 + positions 17×64 + trained positions 17×64 = 14,656",
        790656,
    ),
    (
        "DINOV3Embedding with register tokens",
        hub_facts(
            "DINOV3Embedding",
            IMG32,
            (None, 21, 64),
            (
                ("cls_token", (1, 1, 64)),
                ("mask_token", (1, 1, 64)),
                ("register_tokens", (1, 4, 64)),
                ("kernel", (8, 8, 3, 64)),
                ("bias", (64,)),
            ),
            hidden_dim=64,
            patch_size=8,
            num_register_tokens=4,
            use_mask_token=True,
        ),
        12736,
        "class token 64 + mask token 64 + register tokens 4×64 = 12,736",
        788480,
    ),
    (
        "AddPositionalEmbedding",
        hub_facts(
            "AddPositionalEmbedding",
            (None, 4, 4, 64),
            (None, 4, 4, 64),
            (("pos_embed", (1, 4, 4, 64)),),
            img_size=64,
            patch_size=16,
            embed_dim=64,
        ),
        1024,
        "4×4×64 = 1,024",
        2048,
    ),
    (
        "DINOV2LayerScale",
        hub_facts(
            "DINOV2LayerScale",
            (None, 17, 64),
            (None, 17, 64),
            (("lambda1", (64,)),),
            hidden_dim=64,
            init_values=1.0,
        ),
        64,
        "64",
        2176,
    ),
]


@pytest.mark.parametrize(
    ("facts", "expected", "text"), [c[1:4] for c in CASES], ids=[c[0] for c in CASES]
)
def test_params_equal_keras(facts: LayerFacts, expected: int, text: str) -> None:
    derived = derive_params(facts)
    assert derived.value == expected == facts.keras_params
    assert derived.method in ("formula", "zero")
    assert derived.formula is not None and derived.formula.text.endswith(text)
    assert_bilingual(derived)


@pytest.mark.parametrize(
    ("facts", "flops"), [(c[1], c[4]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_flops_equal_the_profiler(facts: LayerFacts, flops: int) -> None:
    derived = derive_flops(facts, BATCH)
    assert derived.value == flops
    assert_bilingual(derived)


def assert_bilingual(derived: Derivation) -> None:
    english, chinese = derived.explanation.en, derived.explanation.zh
    assert english and not CJK.search(english)
    assert CJK.search(chinese) and chinese != english, chinese


def test_gemma_rms_norm_flops_are_unknown_not_guessed() -> None:
    """keras-hub's Gemma RMSNormalization (scale 1 + γ) has only ``epsilon`` in its config,
    like Gemma 4's (scale γ): the parameters are clear, the ops are not."""
    gemma = hub_facts(
        "RMSNormalization", (None, 8, 16), (None, 8, 16), (("scale", (16,)),), epsilon=1e-6
    )
    assert derive_params(gemma).value == 16
    assert derive_flops(gemma, BATCH).value is None


def test_rotary_with_unverified_frequencies_is_unknown() -> None:
    yarn = hub_facts(
        "RotaryEmbedding", (None, 8, 4, 16), (None, 8, 4, 16), **{**ROTARY, "rope_type": "yarn"}
    )
    assert derive_flops(yarn, BATCH).value is None


def test_every_hub_kind_here_is_declared_in_its_module() -> None:
    homes = {
        "ReversibleEmbedding": "hub_embeddings",
        "TokenAndPositionEmbedding": "hub_embeddings",
        "PositionEmbedding": "hub_embeddings",
        "SinePositionEncoding": "hub_embeddings",
        "RotaryEmbedding": "hub_embeddings",
        "LlamaLayerNorm": "hub_norms",
        "T5LayerNorm": "hub_norms",
        "RMSNormalization": "normalization",
        "ViTPatchingAndEmbedding": "hub_vision",
        "DeiTEmbeddings": "hub_vision",
        "WindowAttention": "hub_vision",
        "AddPositionalEmbedding": "hub_embeddings",
        "AddRelativePositionalEmbedding": "hub_embeddings",
    }
    assert {k: KINDS[k].module.rsplit(".", 1)[-1] for k in homes} == homes


@pytest.mark.parametrize("class_name", RMS_NORMS)
def test_every_model_rms_norm_counts_like_llama(class_name: str) -> None:
    """The model families' RMS norm classes run the same ops (read in keras-hub 0.32)."""
    norm = hub_facts(class_name, (None, 8, 16), (None, 8, 16), (("scale", (16,)),), epsilon=1e-6)
    assert derive_params(norm).value == 16
    assert derive_flops(norm, BATCH).value == 1072


WHOLE_PARAMS = [
    (
        "WindowAttention",
        hub_facts(
            "WindowAttention",
            (None, 16, 32),
            (None, 16, 32),
            (
                ("relative_position_bias_table", (49, 2)),
                ("kernel", (32, 96)),
                ("bias", (96,)),
                ("kernel", (32, 32)),
                ("bias", (32,)),
            ),
            dim=32,
            window_size=[4, 4],
            num_heads=2,
            qkv_bias=True,
        ),
        4322,
        "relative position bias 7×7×2 = 4,322",
    ),
    (
        "AddRelativePositionalEmbedding",
        hub_facts(
            "AddRelativePositionalEmbedding",
            (None, 4, 16),
            (None, 4, 4),
            (("rel_pos_h", (3, 16)), ("rel_pos_w", (3, 16))),
            input_size=[2, 2],
            key_dim=16,
        ),
        96,
        "rel_pos_h 3×16 + rel_pos_w 3×16 = 96",
    ),
    (
        "DINOV3Attention",
        hub_facts(
            "DINOV3Attention",
            (None, None, 64),
            (None, None, 64),
            tuple((n, s) for _ in range(4) for n, s in (("kernel", (64, 64)), ("bias", (64,)))),
            hidden_dim=64,
            num_heads=4,
            query_bias=True,
            key_bias=True,
            value_bias=True,
            proj_bias=True,
        ),
        16640,
        "output bias 64 = 16,640",
    ),
]
"""Whole-layer parameter rules whose FLOPs are not derived (the reason is tested below)."""


@pytest.mark.parametrize(
    ("facts", "expected", "text"), [c[1:] for c in WHOLE_PARAMS], ids=[c[0] for c in WHOLE_PARAMS]
)
def test_whole_vision_layers_count_like_keras(facts: LayerFacts, expected: int, text: str) -> None:
    derived = derive_params(facts)
    assert derived.method == "formula"
    assert derived.value == expected == facts.keras_params
    assert derived.formula is not None and derived.formula.text.endswith(text)
    assert_bilingual(derived)
    flops = derive_flops(facts, BATCH)
    assert flops.value is None and flops.explanation.en


def test_dinov3_attention_without_a_key_bias_says_so() -> None:
    """The key projection has no bias (key_bias=False): 16,640 − 64."""
    base = WHOLE_PARAMS[2][1]
    facts = dataclasses.replace(base, config={**base.config, "key_bias": False})
    assert derive_params(facts).value == 16576 == 4 * 64 * 64 + 3 * 64


def test_add_positional_embedding_without_config_reads_the_input() -> None:
    """A configuration without img_size/patch_size (a get_config() that lost them): the grid
    comes from the input the table is added to, and the page says so."""
    facts = hub_facts(
        "AddPositionalEmbedding",
        (None, 4, 4, 64),
        (None, 4, 4, 64),
        (("pos_embed", (1, 4, 4, 64)),),
    )
    derived = derive_params(facts)
    assert derived.value == 1024 and "input" in derived.explanation.en


VISION_COMPOSITES = (
    "ViTDetPatchingAndEmbedding",
    "WindowedTransformerEncoder",
    "MultiHeadAttentionWithRelativePE",
    "DINOV2Attention",
    "DINOV2Encoder",
    "DINOV2Layer",
    "DINOV2MLP",
    "DINOV2PatchEmbedding",
    "DINOV3Encoder",
    "DINOV3Layer",
    "DINOV3MLP",
    "DINOV3PatchEmbedding",
    "DeiTEncoder",
    "DeiTEncoderBlock",
    "DeiTIntermediate",
    "DeiTOutput",
    "PatchEmbedding",
    "PatchMerging",
    "SwinTransformerBlock",
    "SwinTransformerStage",
    "Mlp",
    "HierarchicalTransformerEncoder",
    "MixFFN",
    "OverlappingPatchingAndEmbedding",
    "SegFormerMultiheadAttention",
    "HGNetV2BasicLayer",
    "HGNetV2ConvLayer",
    "HGNetV2Embeddings",
    "HGNetV2Encoder",
    "HGNetV2Stage",
    "ConvBnActBlock",
    "DepthwiseConvBlock",
    "InvertedResidualBlock",
    "SqueezeAndExcite2D",
    "VideoPrismAttention",
    "VideoPrismEncoder",
    "VideoPrismEncoderBlock",
    "VideoPrismMLP",
    "VideoPrismPatchingAndEmbedding",
    "VideoPrismTemporalEmbedding",
    "CLIPEncoderLayer",
    "SigLIPEncoderLayer",
    "PaliGemmaVitEncoderBlock",
    "PaliGemmaVitEncoder",
)


@pytest.mark.parametrize("class_name", VISION_COMPOSITES)
def test_vision_blocks_are_opened(class_name: str) -> None:
    assert KINDS[class_name].params is COMPOSITE


def test_residual_blocks_count_two_additions_per_value() -> None:
    """DINOv2/DeiT encoder blocks: their own ops are the two residual AddV2 (the encoder's
    profiler total equals the sum of its rows with these)."""
    block = hub_facts("DeiTEncoderBlock", (None, 18, 64), (None, 18, 64))
    assert derive_flops(block, BATCH).value == 2 * 18 * 64 * BATCH == 4608


@pytest.mark.parametrize(
    "class_name",
    [
        "WindowPartitioning",
        "VideoPrismFactorizedReshape",
        "VideoPrismFactorizedDecoding",
        "DropPath",
    ],
)
def test_layers_without_weights_cost_nothing(class_name: str) -> None:
    facts = hub_facts(class_name, (None, 4, 4, 8), (None, 4, 4, 8))
    assert derive_params(facts).value == 0
    assert derive_flops(facts, BATCH).value == 0


TESTED = (
    {case[1].class_name for case in CASES}
    | set(RMS_NORMS)
    | {case[1].class_name for case in WHOLE_PARAMS}
    | set(VISION_COMPOSITES)
    | {"WindowPartitioning", "VideoPrismFactorizedReshape", "VideoPrismFactorizedDecoding"}
    | {"DropPath", "DINOV3LayerScale"}
)
"""Every kind whose rules this file checks (``tests/test_derive_layers.py`` counts them)."""
