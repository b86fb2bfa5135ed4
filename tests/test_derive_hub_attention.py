"""keras-hub's attention layers and decoder blocks on hand-made facts (no TensorFlow).

Each case's facts are copied from the real keras-hub 0.32 layer in a tiny backbone (hidden
width 16, 4 query heads, 2 key/value heads where the model has grouped-query attention; the
backbones of ``tests/test_tf_hub_attention.py``), read once with
``reportgen.collect.keras_facts.layer_facts``: configuration, input names and shapes,
weights. ``params`` is the layer's ``count_params()``; ``flops`` what TensorFlow's profiler
(TF 2.21, CPU) counted for one call at batch 1: the whole layer for an attention layer, the
ops in the block's own scope (outside every sub-layer) for a block. ``error`` marks a layer
whose ``get_config()`` raises in keras-hub 0.32: its configuration holds only its name, and
the rules read the head counts and widths off its kernels.
``tests/test_tf_hub_attention.py`` re-checks the same numbers on the real layers.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from reportgen.derive.layers import KINDS, derive_flops, derive_params, kind_of
from reportgen.derive.layers.registry import KvHeads
from reportgen.facts import LayerFacts, WeightFacts
from reportgen.model import Derivation

CJK = re.compile(r"[\u4e00-\u9fff]")

CASES: list[dict[str, Any]] = [
    {
        "class_name": "BloomAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query_dense/kernel", (16, 4, 4)),
            ("query_dense/bias", (4, 4)),
            ("key_dense/kernel", (16, 4, 4)),
            ("key_dense/bias", (4, 4)),
            ("value_dense/kernel", (16, 4, 4)),
            ("value_dense/bias", (4, 4)),
            ("output_dense/kernel", (16, 16)),
            ("output_dense/bias", (16,)),
        ),
        "config": {"num_heads": 4, "dropout": 0.0},
        "error": None,
        "params": 1088,
        "text": "query 16×4×4+4×4 + key 16×4×4+4×4 + value 16×4×4+4×4 + output 4×4×16+16 = 1,088",
        "flops": 22880,
    },
    {
        "class_name": "CachedGemma3Attention",
        "name": "attention",
        "inputs": (("x", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (4, 16, 8)),
            ("key/kernel", (2, 16, 8)),
            ("value/kernel", (2, 16, 8)),
            ("query_norm/scale", (8,)),
            ("key_norm/scale", (8,)),
            ("attention_output/kernel", (4, 8, 16)),
        ),
        "config": {},
        "error": "NotImplementedError: Object CachedGemma3Attention was create",
        "params": 1552,
        "text": "query 16×4×8 + key 16×2×8 + value 16×2×8 + output 4×8×16 "
        "+ query and key norms 2×8 = 1,552",
        "flops": 37472,
    },
    {
        "class_name": "CachedGemmaAttention",
        "name": "attention",
        "inputs": (("x", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (4, 16, 8)),
            ("key/kernel", (2, 16, 8)),
            ("value/kernel", (2, 16, 8)),
            ("attention_output/kernel", (4, 8, 16)),
        ),
        "config": {},
        "error": "NotImplementedError: Object CachedGemmaAttention was created",
        "params": 1536,
        "text": "query 16×4×8 + key 16×2×8 + value 16×2×8 + output 4×8×16 = 1,536",
        "flops": 35824,
    },
    {
        "class_name": "CachedMistralAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "sliding_window": 512,
            "dropout": 0,
            "head_dim": 4,
        },
        "error": None,
        "params": 768,
        "text": "query 16×4×4 + key 16×2×4 + value 16×2×4 + output 4×4×16 = 768",
        "flops": 18690,
    },
    {
        "class_name": "CachedMixtralAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "sliding_window": 512,
            "dropout": 0,
        },
        "error": None,
        "params": 768,
        "text": "query 16×4×4 + key 16×2×4 + value 16×2×4 + output 4×4×16 = 768",
        "flops": 18690,
    },
    {
        "class_name": "CachedMultiHeadAttention",
        "name": "self_attention",
        "inputs": (
            ("query", (None, 8, 16)),
            ("value", (None, 8, 16)),
            ("attention_mask", (None, 8, 8)),
        ),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query/bias", (4, 4)),
            ("key/kernel", (16, 4, 4)),
            ("key/bias", (4, 4)),
            ("value/kernel", (16, 4, 4)),
            ("value/bias", (4, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("attention_output/bias", (16,)),
        ),
        "config": {
            "num_heads": 4,
            "key_dim": 4,
            "value_dim": 4,
            "dropout": 0.1,
            "use_bias": True,
            "use_gate": False,
            "attention_axes": [1],
        },
        "error": None,
        "params": 1088,
        "text": "query 16×4×4+4×4 + key 16×4×4+4×4 + value 16×4×4+4×4 + output 4×4×16+16 = 1,088",
        "flops": 22464,
    },
    {
        "class_name": "FalconAttention",
        "name": "attention",
        "inputs": (
            ("inputs", (None, 8, 16)),
            ("alibi", (None, 4, 1, 8)),
            ("attention_mask", (None, 8, 8)),
        ),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query_dense/kernel", (16, 4, 4)),
            ("query_dense/bias", (4, 4)),
            ("key_dense/kernel", (16, 4, 4)),
            ("key_dense/bias", (4, 4)),
            ("value_dense/kernel", (16, 4, 4)),
            ("value_dense/bias", (4, 4)),
            ("output_dense/kernel", (16, 16)),
            ("output_dense/bias", (16,)),
        ),
        "config": {"num_heads": 4, "attention_dropout_rate": 0},
        "error": None,
        "params": 1088,
        "text": "query 16×4×4+4×4 + key 16×4×4+4×4 + value 16×4×4+4×4 + output 4×4×16+16 = 1,088",
        "flops": 22848,
    },
    {
        "class_name": "GPTNeoXAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 32)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 32),),
        "weights": (
            ("query_key_value/kernel", (32, 4, 24)),
            ("query_key_value/bias", (4, 24)),
            ("attention_output/kernel", (32, 32)),
            ("attention_output/bias", (32,)),
        ),
        "config": {
            "num_heads": 4,
            "hidden_dim": 32,
            "dropout": 0.0,
            "rotary_percentage": 0.25,
            "rotary_max_wavelength": 10000,
            "max_sequence_length": 8,
        },
        "error": None,
        "params": 4224,
        "text": "query, key, value 32×4×3×8+4×3×8 + output 4×8×32+32 = 4,224",
        "flops": 76824,
    },
    {
        "class_name": "Gemma3DecoderBlock",
        "name": "decoder_block_0",
        "inputs": (("x", (None, 8, 16)), ("padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("pre_attention_norm/scale", (16,)),
            ("query/kernel", (4, 16, 8)),
            ("key/kernel", (2, 16, 8)),
            ("value/kernel", (2, 16, 8)),
            ("query_norm/scale", (8,)),
            ("key_norm/scale", (8,)),
            ("attention_output/kernel", (4, 8, 16)),
            ("pre_ffw_norm/scale", (16,)),
            ("ffw_gating/kernel", (16, 32)),
            ("ffw_gating_2/kernel", (16, 32)),
            ("ffw_linear/kernel", (32, 16)),
        ),
        "config": {
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "head_dim": 8,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "query_head_dim_normalize": True,
            "use_query_key_norm": True,
            "use_post_ffw_norm": False,
            "use_post_attention_norm": False,
            "gate_dim_reduction": 1,
            "use_sliding_window_attention": False,
            "sliding_window_size": 1024,
            "layer_norm_epsilon": 1e-06,
            "dropout": 0,
            "rope_wavelength": 1000000.0,
            "rope_scaling_factor": 1.0,
            "use_bidirectional_attention": False,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 2440,
    },
    {
        "class_name": "GemmaDecoderBlock",
        "name": "decoder_block_0",
        "inputs": (("x", (None, 8, 16)), ("padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("pre_attention_norm/scale", (16,)),
            ("query/kernel", (4, 16, 8)),
            ("key/kernel", (2, 16, 8)),
            ("value/kernel", (2, 16, 8)),
            ("attention_output/kernel", (4, 8, 16)),
            ("pre_ffw_norm/scale", (16,)),
            ("ffw_gating/kernel", (16, 16)),
            ("ffw_gating_2/kernel", (16, 16)),
            ("ffw_linear/kernel", (16, 16)),
        ),
        "config": {
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "head_dim": 8,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "layer_norm_epsilon": 1e-06,
            "dropout": 0,
            "use_post_ffw_norm": False,
            "use_post_attention_norm": False,
            "use_sliding_window_attention": False,
            "sliding_window_size": 4096,
            "query_head_dim_normalize": True,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 1416,
    },
    {
        "class_name": "LlamaAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {},
        "error": "AttributeError: 'LlamaAttention' object has no attribute 'ro",
        "params": 768,
        "text": "query 16×4×4 + key 16×2×4 + value 16×2×4 + output 4×4×16 = 768",
        "flops": 18686,
    },
    {
        "class_name": "LlamaTransformerDecoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("self_attention_layernorm/scale", (16,)),
            ("feedforward_intermediate_dense/kernel", (16, 32)),
            ("feedforward_gate_dense/kernel", (16, 32)),
            ("feedforward_output_dense/kernel", (32, 16)),
            ("feedforward_layernorm/scale", (16,)),
        ),
        "config": {},
        "error": "AttributeError: 'LlamaTransformerDecoder' object has no attr",
        "params": None,
        "text": None,
        "flops": 1160,
    },
    {
        "class_name": "MistralTransformerDecoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("self_attention_layernorm/scale", (16,)),
            ("feedforward_intermediate_dense/kernel", (16, 32)),
            ("feedforward_gate_dense/kernel", (16, 32)),
            ("feedforward_output_dense/kernel", (32, 16)),
            ("feedforward_layernorm/scale", (16,)),
        ),
        "config": {
            "intermediate_dim": 32,
            "num_query_heads": 4,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "num_key_value_heads": 2,
            "sliding_window": 512,
            "activation": "silu",
            "layer_norm_epsilon": 1e-06,
            "dropout": 0,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 1304,
    },
    {
        "class_name": "MixtralMoeExperts",
        "name": "experts",
        "inputs": (("hidden_states", (None, 16)),),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("experts/expert_feedforward_gate_dense", (4, 16, 32)),
            ("experts/expert_feedforward_intermediate_dense", (4, 16, 32)),
            ("experts/expert_feedforward_output_dense", (4, 32, 16)),
        ),
        "config": {},
        "error": "NotImplementedError: Object MixtralMoeExperts was created by",
        "params": 6144,
        "text": "gate dense 4×16×32 + intermediate dense 4×16×32 + output dense 4×32×16 = 6,144",
        "flops": None,
    },
    {
        "class_name": "MixtralTransformerDecoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("self_attention_layernorm/scale", (16,)),
            ("sparse_feedforward_gate_dense/kernel", (16, 4)),
            ("experts/expert_feedforward_gate_dense", (4, 16, 32)),
            ("experts/expert_feedforward_intermediate_dense", (4, 16, 32)),
            ("experts/expert_feedforward_output_dense", (4, 32, 16)),
            ("feedforward_layernorm/scale", (16,)),
        ),
        "config": {
            "intermediate_dim": 32,
            "num_query_heads": 4,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "num_key_value_heads": 2,
            "num_experts": 4,
            "top_k": 2,
            "router_jitter_noise": 0.0,
            "sliding_window": 512,
            "activation": "silu",
            "layer_norm_epsilon": 1e-06,
            "dropout": 0,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 536,
    },
    {
        "class_name": "Phi3Attention",
        "name": "attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "dropout": 0.0,
            "max_sequence_length": 4096,
            "pretraining_sequence_length": 4096,
            "rope_max_wavelength": 10000,
        },
        "error": None,
        "params": 768,
        "text": "query 16×4×4 + key 16×2×4 + value 16×2×4 + output 4×4×16 = 768",
        "flops": 18690,
    },
    {
        "class_name": "Phi3Decoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("pre_attention_layernorm/scale", (16,)),
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("post_attention_layernorm/scale", (16,)),
            ("feedforward_intermediate_dense/kernel", (16, 32)),
            ("feedforward_gate_dense/kernel", (16, 32)),
            ("feedforward_output_dense/kernel", (32, 16)),
        ),
        "config": {
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "activation": "silu",
            "layer_norm_epsilon": 1e-06,
            "dropout": 0.0,
            "max_sequence_length": 4096,
            "pretraining_sequence_length": 4096,
            "rope_max_wavelength": 10000,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 1160,
    },
    {
        "class_name": "Qwen3Attention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query_dense_layernorm/scale", (4,)),
            ("key/kernel", (16, 2, 4)),
            ("key_dense_layernorm/scale", (4,)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "dropout": 0.0,
            "sliding_window_size": 32768,
        },
        "error": None,
        "params": 776,
        "text": "query 16×4×4 + key 16×2×4 + value 16×2×4 + output 4×4×16 "
        "+ query and key norms 2×4 = 776",
        "flops": 19539,
    },
    {
        "class_name": "Qwen3TransformerDecoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query_dense_layernorm/scale", (4,)),
            ("key/kernel", (16, 2, 4)),
            ("key_dense_layernorm/scale", (4,)),
            ("value/kernel", (16, 2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("self_attention_layernorm/scale", (16,)),
            ("feedforward_intermediate_dense/kernel", (16, 32)),
            ("feedforward_gate_dense/kernel", (16, 32)),
            ("feedforward_output_dense/kernel", (32, 16)),
            ("feedforward_layernorm/scale", (16,)),
        ),
        "config": {
            "intermediate_dim": 32,
            "num_query_heads": 4,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "num_key_value_heads": 2,
            "activation": "silu",
            "layer_norm_epsilon": 1e-06,
            "dropout": 0.0,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 1160,
    },
    {
        "class_name": "QwenAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query/bias", (4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("key/bias", (2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("value/bias", (2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "dropout": 0,
            "use_sliding_window_attention": False,
            "sliding_window_size": 32768,
        },
        "error": None,
        "params": 800,
        "text": "query 16×4×4+4×4 + key 16×2×4+2×4 + value 16×2×4+2×4 + output 4×4×16 = 800",
        "flops": 18946,
    },
    {
        "class_name": "QwenMoeAttention",
        "name": "self_attention",
        "inputs": (("hidden_states", (None, 8, 16)), ("attention_mask", (None, 8, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query/bias", (4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("key/bias", (2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("value/bias", (2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
        "config": {
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "dropout": 0,
            "use_sliding_window_attention": False,
            "sliding_window_size": 32768,
        },
        "error": None,
        "params": 800,
        "text": "query 16×4×4+4×4 + key 16×2×4+2×4 + value 16×2×4+2×4 + output 4×4×16 = 800",
        "flops": 18946,
    },
    {
        "class_name": "QwenMoeExperts",
        "name": "experts",
        "inputs": (("hidden_states", (None, 16)),),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("experts/expert_feedforward_gate_dense", (4, 16, 16)),
            ("experts/expert_feedforward_output_dense", (4, 8, 16)),
        ),
        "config": {},
        "error": "NotImplementedError: Object QwenMoeExperts was created by pa",
        "params": 1536,
        "text": "gate dense 4×16×16 + output dense 4×8×16 = 1,536",
        "flops": None,
    },
    {
        "class_name": "QwenTransformerDecoder",
        "name": "transformer_layer_0",
        "inputs": (("decoder_sequence", (None, 8, 16)), ("decoder_padding_mask", (None, 8))),
        "outputs": ((None, 8, 16),),
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("query/bias", (4, 4)),
            ("key/kernel", (16, 2, 4)),
            ("key/bias", (2, 4)),
            ("value/kernel", (16, 2, 4)),
            ("value/bias", (2, 4)),
            ("attention_output/kernel", (4, 4, 16)),
            ("self_attention_layernorm/scale", (16,)),
            ("feedforward_intermediate_dense/kernel", (16, 32)),
            ("feedforward_gate_dense/kernel", (16, 32)),
            ("feedforward_output_dense/kernel", (32, 16)),
            ("feedforward_layernorm/scale", (16,)),
        ),
        "config": {
            "intermediate_dim": 32,
            "num_query_heads": 4,
            "rope_max_wavelength": 10000,
            "rope_scaling_factor": 1.0,
            "num_key_value_heads": 2,
            "activation": "silu",
            "layer_norm_epsilon": 1e-06,
            "dropout": 0,
        },
        "error": None,
        "params": None,
        "text": None,
        "flops": 1160,
    },
]


TEXT_CASES: list[dict[str, Any]] = [
    # Leaves of hub_text.py with weights, facts from GPT-OSS, Qwen 3.5 (MoE), RoFormer V2,
    # EdRec, SmolLM3 and XLNet backbones of width 64 (Moonshine's from its source: head_dim
    # 16, partial_rotary_factor 0.62). RoformerNorm's FLOPs: LlamaLayerNorm's op sequence.
    {
        "class_name": "GptOssExperts",
        "name": "experts",
        "inputs": (("hidden_states", (None, 64)),),
        "outputs": ((None, 8, 64),),
        "weights": (
            ("experts/gate_up_proj", (4, 64, 256)),
            ("experts/gate_up_proj_bias", (4, 256)),
            ("experts/down_proj", (4, 128, 64)),
            ("experts/down_proj_bias", (4, 64)),
        ),
        "config": {},
        "error": "NotImplementedError: Object GptOssExperts was created by pas",
        "params": 99584,
        "text": "gate and up 4×64×2×128 + gate and up bias 4×2×128 + down 4×128×64 "
        "+ down bias 4×64 = 99,584",
        "flops": None,
    },
    {
        "class_name": "Qwen3_5MoeExperts",
        "name": "experts",
        "inputs": (("hidden_states", (None, 64)),),
        "outputs": ((None, 8, 64),),
        "weights": (
            ("experts/expert_feedforward_gate_dense", (4, 64, 64)),
            ("experts/expert_feedforward_output_dense", (4, 32, 64)),
        ),
        "config": {},
        "error": "NotImplementedError: Object Qwen3_5MoeExperts was created by",
        "params": 24576,
        "text": "gate dense 4×64×64 + output dense 4×32×64 = 24,576",
        "flops": None,
    },
    {
        "class_name": "RoformerNorm",
        "name": "attention_norm",
        "inputs": (("x", (None, 8, 64)),),
        "outputs": ((None, 8, 64),),
        "weights": (("attention_norm/scale", (64,)),),
        "config": {"epsilon": 1e-07},
        "error": None,
        "params": 64,
        "text": "64",
        "flops": 2072,
    },
    {
        "class_name": "Qwen3_5RMSNormGated",
        "name": "norm",
        "inputs": (("x", (None, 16)),),
        "outputs": ((None, 16),),
        "weights": (("norm/scale", (16,)),),
        "config": {"head_dim": 16, "epsilon": 1e-06},
        "error": None,
        "params": 16,
        "text": "16",
        "flops": None,
    },
    {
        "class_name": "Qwen3_5LayerNorm",
        "name": "input_layernorm",
        "inputs": (("x", (None, 8, 64)),),
        "outputs": ((None, 8, 64),),
        "weights": (("input_layernorm/scale", (64,)),),
        "config": {"epsilon": 1e-06},
        "error": None,
        "params": 64,
        "text": "64",
        "flops": None,
    },
    {
        "class_name": "EdRecRMSNormalization",
        "name": "pre_attention_norm",
        "inputs": (("x", (None, 8, 64)),),
        "outputs": ((None, 8, 64),),
        "weights": (("pre_attention_norm/scale", (64,)),),
        "config": {"epsilon": 1e-06},
        "error": None,
        "params": 64,
        "text": "64",
        "flops": None,
    },
    {
        "class_name": "SmolLM3RotaryEmbedding",
        "name": "rotary_emb",
        "inputs": (("x", (None, 8, 4, 16)),),
        "outputs": ((None, 8, 16), (None, 8, 16)),
        "weights": (("inv_freq", (8,)),),
        "config": {
            "hidden_size": 64,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "rope_theta": 10000.0,
            "partial_rotary_factor": 1.0,
        },
        "error": None,
        "params": 8,
        "text": "8",
        "flops": None,
    },
    {
        "class_name": "MoonshineRotaryEmbedding",
        "name": "rotary_embedding",
        "inputs": (("inputs", (None, 8)),),
        "outputs": ((None, 8, 8),),
        "weights": (("inv_freq", (4,)),),
        "config": {"head_dim": 16, "max_position_embeddings": 64, "partial_rotary_factor": 0.62},
        "error": None,
        "params": 4,
        "text": "4",
        "flops": None,
    },
    {
        "class_name": "XLNetAttentionMaskLayer",
        "name": "attention_mask_layer",
        "inputs": (("inputs", (None, 8)),),
        "outputs": ((None, 8, 8), (None, 1, 8)),
        "weights": (("mask_emb", (1, 1, 64)),),
        "config": {"hidden_dim": 64},
        "error": None,
        "params": 64,
        "text": "64",
        "flops": None,
    },
]
CASES += TEXT_CASES


def case_facts(case: dict[str, Any], class_name: str | None = None) -> LayerFacts:
    names = tuple(name for name, _ in case["inputs"])
    weights = tuple(WeightFacts(name, shape, "float32", True) for name, shape in case["weights"])
    size = 0
    for weight in weights:
        count = 1
        for d in weight.shape:
            count *= d
        size += count
    return LayerFacts(
        name=case["name"],
        class_name=class_name or case["class_name"],
        config={"name": case["name"], "trainable": True, **case["config"]},
        input_shapes=tuple(shape for _, shape in case["inputs"]),
        output_shapes=case["outputs"],
        compute_dtype="float32",
        variable_dtype="float32",
        weights=weights,
        keras_params=size,
        input_names=names,
        config_error=case["error"],
    )


def by_class(class_name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["class_name"] == class_name)


def rule_params(facts: LayerFacts) -> Derivation:
    """The kind's parameter rule; run directly for a layer whose get_config() raised (the
    dispatch may count it generically; the rule itself reads the kernels)."""
    if facts.config_error is None:
        return derive_params(facts)
    kind = kind_of(facts.class_name)
    assert kind is not None and callable(kind.params)
    return kind.params(facts)


def rule_flops(facts: LayerFacts) -> Derivation:
    if facts.config_error is None:
        return derive_flops(facts, 1)
    kind = kind_of(facts.class_name)
    assert kind is not None and callable(kind.flops)
    return kind.flops(facts, 1)


def assert_bilingual(derived: Derivation) -> None:
    english, chinese = derived.explanation.en, derived.explanation.zh
    assert english and not CJK.search(english), english
    assert CJK.search(chinese) and chinese != english, chinese


PARAM_CASES = [c for c in CASES if c["params"] is not None]
FLOPS_CASES = [c for c in CASES if c["flops"] is not None]


@pytest.mark.parametrize("case", PARAM_CASES, ids=[c["class_name"] for c in PARAM_CASES])
def test_params_equal_keras(case: dict[str, Any]) -> None:
    derived = rule_params(case_facts(case))
    assert derived.method == "formula"
    assert derived.value == case["params"]
    assert derived.formula is not None and derived.formula.text == case["text"]
    assert_bilingual(derived)


@pytest.mark.parametrize("case", FLOPS_CASES, ids=[c["class_name"] for c in FLOPS_CASES])
def test_flops_equal_the_profiler(case: dict[str, Any]) -> None:
    derived = rule_flops(case_facts(case))
    assert derived.value == case["flops"], derived.formula
    assert_bilingual(derived)


SIBLINGS = {
    "Qwen3MoeAttention": "Qwen3Attention",
    "Qwen3MoeExperts": "QwenMoeExperts",
}
"""Kinds declared with the same rule as a kind above (the same layout in keras-hub 0.32):
their numbers on that kind's facts are that kind's."""


@pytest.mark.parametrize("sibling", sorted(SIBLINGS))
def test_siblings_share_the_rule(sibling: str) -> None:
    case = by_class(SIBLINGS[sibling])
    facts = case_facts(case, sibling)
    assert rule_params(facts).value == case["params"]
    kind = kind_of(sibling)
    assert kind is not None
    if case["flops"] is not None:
        assert rule_flops(facts).value == case["flops"]
    else:
        assert not callable(kind.flops)


KV = {
    "BloomAttention": KvHeads(4, 4, 4, 4),
    "CachedGemma3Attention": KvHeads(2, 8, 2, 8),
    "CachedGemmaAttention": KvHeads(2, 8, 2, 8),
    "CachedMistralAttention": KvHeads(2, 4, 2, 4),
    "CachedMixtralAttention": KvHeads(2, 4, 2, 4),
    "CachedMultiHeadAttention": KvHeads(4, 4, 4, 4),
    "FalconAttention": KvHeads(4, 4, 4, 4),
    "GPTNeoXAttention": KvHeads(4, 8, 4, 8),
    "LlamaAttention": KvHeads(2, 4, 2, 4),
    "Phi3Attention": KvHeads(2, 4, 2, 4),
    "Qwen3Attention": KvHeads(2, 4, 2, 4),
    "QwenAttention": KvHeads(2, 4, 2, 4),
    "QwenMoeAttention": KvHeads(2, 4, 2, 4),
}


@pytest.mark.parametrize("class_name", sorted(KV))
def test_kv_heads(class_name: str) -> None:
    kind = kind_of(class_name)
    assert kind is not None and kind.kv_cache is not None
    assert kind.kv_cache(case_facts(by_class(class_name))) == KV[class_name]


def test_every_attention_kind_caches() -> None:
    attention = {n for n, k in KINDS.items() if k.module.endswith(".hub_attention")}
    assert attention - set(KV) <= set(SIBLINGS)
    assert all(KINDS[n].kv_cache is not None for n in attention)


def test_grouped_query_sentence_in_both_languages() -> None:
    derived = rule_params(case_facts(by_class("CachedMistralAttention")))
    assert (
        "Grouped-query attention: the 4 query heads share 2 key/value heads (groups of 2), so "
        "the key and value projections are 2 times smaller than the query's."
    ) in derived.explanation.en
    assert "分组查询注意力" in derived.explanation.zh


def test_multi_query_sentence() -> None:
    case = by_class("CachedMistralAttention")
    single = {
        **case,
        "config": {**case["config"], "num_key_value_heads": 1},
        "weights": (
            ("query/kernel", (16, 4, 4)),
            ("key/kernel", (16, 1, 4)),
            ("value/kernel", (16, 1, 4)),
            ("attention_output/kernel", (4, 4, 16)),
        ),
    }
    derived = rule_params(case_facts(single))
    assert derived.value == 16 * 4 * 4 * 2 + 2 * 16 * 4
    assert "Multi-query attention: all 4 query heads share a single key head" in (
        derived.explanation.en
    )
    kind = kind_of("CachedMistralAttention")
    assert kind is not None and kind.kv_cache is not None
    assert kind.kv_cache(case_facts(single)) == KvHeads(1, 4, 1, 4)


def test_multi_head_attention_has_no_group_sentence() -> None:
    derived = rule_params(case_facts(by_class("FalconAttention")))
    assert "query heads share" not in derived.explanation.en


@pytest.mark.parametrize(
    "class_name", sorted({c["class_name"] for c in CASES if c["error"] is not None})
)
def test_a_config_that_raised_is_read_from_the_weights(class_name: str) -> None:
    """keras-hub 0.32's get_config() raises for these: the rules read the kernels, say so,
    and give the same numbers."""
    case = by_class(class_name)
    facts = case_facts(case)
    for derived in (
        rule_params(facts) if case["params"] is not None else None,
        rule_flops(facts) if case["flops"] is not None else None,
    ):
        if derived is None:
            continue
        assert derived.value is not None
        assert " read from the " in derived.explanation.en, derived.explanation.en


def test_block_flops_need_the_sequence_length() -> None:
    case = by_class("LlamaTransformerDecoder")
    facts = case_facts(
        {**case, "inputs": tuple((n, (None, None, *s[2:])) for n, s in case["inputs"])}
    )
    assert rule_flops(facts).value is None


TESTED = (
    {c["class_name"] for c in PARAM_CASES} | {c["class_name"] for c in FLOPS_CASES} | set(SIBLINGS)
)
"""Every kind whose rules this file checks (``tests/test_derive_layers.py`` counts them)."""


def test_a_cross_attention_mask_is_compared_element_by_element() -> None:
    """An encoder's padding mask (1, S) broadcast over the queries costs S comparisons, not
    T×S (keras-hub's Bart: 600,080 against the self-attention's 600,320 at 16 tokens)."""
    self_attention = next(c for c in CASES if c["class_name"] == "CachedMultiHeadAttention")
    cross = dict(self_attention, name="cross_attention")
    cross["inputs"] = (
        ("query", (None, 8, 16)),
        ("value", (None, 8, 16)),
        ("attention_mask", (None, 1, 8)),
    )
    facts = case_facts(cross)
    assert derive_flops(facts, 1).value == self_attention["flops"] - 8 * 8 + 8
    assert derive_flops(facts, 3).value == 3 * (self_attention["flops"] - 8 * 8 + 8)
