"""The own ops of keras-hub's plain transformer blocks, as TensorFlow's profiler counts them.

Figures measured with the profiler on keras-hub 0.32 blocks (tests/test_tf_hub_collect.py
checks the same rows of real GPT-2, BERT and ViT backbones): GPT-2's TransformerDecoder at
16 tokens × 64 wide, 2,576; BERT's TransformerEncoder, 2,048; ViT's encoder block at 17
tokens (16 patches and the class token), 2,176.
"""

from __future__ import annotations

import dataclasses
import re

from reportgen.derive.layers import derive_flops
from tests.handmade import layer

CJK = re.compile(r"[\u4e00-\u9fff]")

TESTED = {
    "TransformerDecoder",
    "TransformerEncoder",
    "ViTEncoderBlock",
    "FalconTransformerDecoder",
    "BloomDecoder",
    "GPTNeoXDecoder",
    "GptOssTransformerDecoder",
    "SmolLM3DecoderLayer",
    "QwenMoeTransformerDecoder",
    "Qwen3MoeTransformerDecoder",
    "WhisperDecoder",
    "MoonshineDecoderBlock",
    "EdRecDecoderBlock",
    "WhisperEncoder",
    "MoonshineEncoderBlock",
    "RoformerV2Encoder",
    "ESMEncoder",
    "DisentangledAttentionEncoder",
    "EdRecEncoderBlock",
    "FNetEncoder",
    "T5GemmaEncoderLayer",
    "T5GemmaDecoderLayer",
    "T5TransformerLayer",
    "RWKV7_Block",
    "SmolLM3MLP",
    "T5GemmaMLP",
    "EdRecGatedFeedForward",
}
"""Kinds whose FLOPs rules this file checks (``tests/test_derive_layers.py`` counts them)."""


def block(
    class_name: str,
    tokens: int,
    width: int = 64,
    inputs: tuple[tuple[str, tuple[int | None, ...]], ...] = (),
    **config: object,
) -> object:
    """A block row as the collect stage writes it: its first input (batch, tokens, width),
    then the named further inputs."""
    first = (None, tokens, width)
    return dataclasses.replace(
        layer("block", class_name, first, first, **config),
        composite=True,
        input_shapes=(first, *(shape for _, shape in inputs)),
        input_names=("x", *(name for name, _ in inputs)),
    )


PADDING = (("decoder_padding_mask", (None, 16)),)


def test_a_decoder_block_counts_its_causal_mask_and_two_residuals() -> None:
    derived = derive_flops(block("TransformerDecoder", 16), 1)
    # mask: one AddV2 per position, a comparison and a minimum per query–key pair
    assert derived.value == 16 + 16 * 16 + 16 * 16 + 2 * 16 * 64 == 2_576
    # The causal mask is built once (no batch axis); its merge with padding is per example.
    assert derive_flops(block("TransformerDecoder", 16), 3).value == 16 + 256 + 3 * (256 + 2_048)
    assert CJK.search(derived.explanation.zh) and "residual" in derived.explanation.en


def test_encoder_blocks_count_their_two_residuals() -> None:
    assert derive_flops(block("TransformerEncoder", 16), 1).value == 2 * 16 * 64 == 2_048
    assert derive_flops(block("ViTEncoderBlock", 17), 2).value == 2 * 2 * 17 * 64 == 4_352


# Figures below: TF's profiler on the sweep's keras-hub backbones (benchmarks/sweep_hub.py,
# batch 1, 16 tokens, d = 64, f = 128, 4 heads), each block row's own scope.
MASK_AND_RESIDUALS = 16 + 16 * 16 + 16 * 16 + 2 * 16 * 64


def test_llm_decoders_count_their_causal_mask_and_two_residuals() -> None:
    for kind in (
        "GPTNeoXDecoder",
        "GptOssTransformerDecoder",
        "SmolLM3DecoderLayer",
        "QwenMoeTransformerDecoder",
        "Qwen3MoeTransformerDecoder",
    ):
        assert derive_flops(block(kind, 16, inputs=PADDING), 1).value == 2_576, kind


def test_falcon_adds_its_alibi_bias() -> None:
    falcon = block("FalconTransformerDecoder", 16, inputs=PADDING, num_attention_heads=4)
    derived = derive_flops(falcon, 1)
    # (cumsum − 1)·mask: 2 per position; × 4 slopes: 4 per position
    assert derived.value == MASK_AND_RESIDUALS + 2 * 16 + 4 * 16 == 2_672
    assert derive_flops(falcon, 2).value == 16 + 256 + 2 * (256 + 2_048 + 96)
    assert "ALiBi" in derived.explanation.en and CJK.search(derived.explanation.zh)


def test_bloom_applies_gelu_between_its_projections() -> None:
    bloom = block("BloomDecoder", 16, inputs=PADDING, intermediate_dim=128)
    assert derive_flops(bloom, 1).value == MASK_AND_RESIDUALS + 7 * 16 * 128 == 16_912


def test_decoders_with_cross_attention_add_a_third_residual() -> None:
    bart = block(
        "TransformerDecoder",
        16,
        inputs=(
            ("encoder_sequence", (None, 16, 64)),
            ("decoder_padding_mask", (None, 16)),
            ("encoder_padding_mask", (None, 16)),
        ),
    )
    derived = derive_flops(bart, 1)
    assert derived.value == MASK_AND_RESIDUALS + 16 * 64 == 3_600
    assert "cross-attention" in derived.explanation.en and CJK.search(derived.explanation.zh)
    whisper = block("WhisperDecoder", 16, inputs=(("encoder_sequence", (None, 8, 64)), *PADDING))
    assert derive_flops(whisper, 1).value == 3_600
    for kind in ("MoonshineDecoderBlock", "EdRecDecoderBlock"):
        assert derive_flops(block(kind, 16), 1).value == 3_600, kind


def test_encoder_blocks_of_the_text_models_count_their_two_residuals() -> None:
    for kind in (
        "RoformerV2Encoder",
        "ESMEncoder",
        "DisentangledAttentionEncoder",
        "EdRecEncoderBlock",
        "FNetEncoder",
    ):
        assert derive_flops(block(kind, 16), 1).value == 2_048, kind
    assert derive_flops(block("WhisperEncoder", 8), 1).value == 2 * 8 * 64 == 1_024
    assert derive_flops(block("MoonshineEncoderBlock", 4), 1).value == 2 * 4 * 64 == 512


def test_t5gemma_layers_count_their_additive_masks() -> None:
    encoder = block("T5GemmaEncoderLayer", 16, inputs=(("padding_mask", (None, 16)),))
    assert derive_flops(encoder, 1).value == 2 * 16 + 2 * 16 * 64 == 2_080
    decoder = block(
        "T5GemmaDecoderLayer",
        16,
        inputs=(
            ("inputs[1]", (None, 16, 64)),
            ("self_attention_padding_mask", (None, 16)),
            ("cross_attention_padding_mask", (None, 16)),
        ),
        layer_type="full_attention",
    )
    # causal ≤ once, (1 − mask)·(−1e9) per pair, the encoder's mask, three residuals
    assert derive_flops(decoder, 1).value == 256 + 2 * 256 + 2 * 16 + 3 * 1_024 == 3_872
    assert derive_flops(decoder, 2).value == 256 + 2 * (512 + 32 + 3_072)
    sliding = dataclasses.replace(decoder, config={"layer_type": "sliding_attention"})
    assert derive_flops(sliding, 1).value is None


def test_t5_layers_count_the_gate_and_the_first_decoder_layers_mask() -> None:
    config = {"intermediate_dim": 128, "use_gated_activation": True}
    mask = (("attention_mask", (None, 1, 16)),)
    bias = (("position_bias", (None, 4, 16, 16)),)
    encoder = block("T5TransformerLayer", 16, inputs=mask, is_decoder=False, **config)
    assert derive_flops(encoder, 1).value == 2 * 1_024 + 16 * 128 == 4_096
    first = block("T5TransformerLayer", 16, inputs=mask, is_decoder=True, **config)
    assert derive_flops(first, 1).value == 16 + 256 + 3 * 1_024 + 2_048 == 5_392
    later = block("T5TransformerLayer", 16, inputs=mask + bias, is_decoder=True, **config)
    assert derive_flops(later, 1).value == 3 * 1_024 + 2_048 == 5_120


def test_rwkv7_block_masks_the_channel_mix_input() -> None:
    rwkv = block("RWKV7_Block", 16, inputs=(("padding_mask", (None, 16)),))
    assert derive_flops(rwkv, 1).value == 3 * 16 * 64 == 3_072


def test_gated_feed_forwards_count_activation_and_gate() -> None:
    smollm = block("SmolLM3MLP", 16, intermediate_size=128)
    assert derive_flops(smollm, 1).value == 3 * 16 * 128 == 6_144
    t5gemma = block("T5GemmaMLP", 16, intermediate_size=128, hidden_activation="gelu_approximate")
    assert derive_flops(t5gemma, 1).value == 8 * 16 * 128 == 16_384
    edrec = block("EdRecGatedFeedForward", 16, intermediate_dim=128, activation="gelu")
    assert derive_flops(edrec, 3).value == 3 * 16_384
    relu = dataclasses.replace(edrec, config={"intermediate_dim": 128, "activation": "relu"})
    assert derive_flops(relu, 1).value is None
