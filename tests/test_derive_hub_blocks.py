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

TESTED = {"TransformerDecoder", "TransformerEncoder", "ViTEncoderBlock"}
"""Kinds whose FLOPs rules this file checks (``tests/test_derive_layers.py`` counts them)."""


def block(class_name: str, tokens: int, width: int = 64) -> object:
    return dataclasses.replace(
        layer("block", class_name, (None, tokens, width), (None, tokens, width)),
        composite=True,
    )


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


def test_a_decoder_with_cross_attention_is_not_derived() -> None:
    decoder = dataclasses.replace(
        block("TransformerDecoder", 16),
        input_shapes=((None, 16, 64), (None, 9, 64)),
        input_names=("decoder_sequence", "encoder_sequence"),
    )
    derived = derive_flops(decoder, 1)
    assert derived.value is None and "cross-attention" in derived.explanation.en
