"""keras-hub's other text, LLM and audio layers: an explicit decision for each class.

The decoders and encoders of Gemma 4, GPT-OSS, SmolLM3, Qwen 3.5, T5Gemma, T5, Whisper,
Moonshine, EdRec, RoFormer V2, ESM, DeBERTa V3, XLNet, FNet and RWKV-7 (keras-hub 0.32) and
keras-hub's public SAM / SAM 3 layers. Most of them are made of Keras layers (EinsumDense or
Dense projections, norms, softmax): they are ``COMPOSITE``, opened by the collect stage so
that every projection is counted by its own rule on its own row, and the block's total is
checked against its ``count_params()``. Weights such a layer owns directly (GPT-OSS's
attention sinks, Qwen 3.5's convolution and decay weights, T5's relative position buckets)
get the generic count, marked. The attention layers of decoders say what they keep in the
key/value cache (``kv_cache``), from their configuration or their kernels.

A leaf layer with weights has a parameter rule (stacked experts, RMS norms, the rotary
frequencies SmolLM3 and Moonshine keep as a non-trainable weight); a layer without weights
counts 0. FLOPs: a rule where the ops were checked against TensorFlow's profiler
(``tests/test_tf_hub_attention.py``), otherwise a reason.
"""

from __future__ import annotations

from reportgen.derive.layers.attention import FAMILY as ATTENTION
from reportgen.derive.layers.hub_attention import kernel_heads
from reportgen.derive.layers.hub_blocks import (
    EXPERTS_FLOPS,
    NOT_YET,
    cross_decoder_flops,
    experts_params,
    gated_mlp_flops,
    plain_decoder_flops,
    residual_block_flops,
    rwkv7_block_flops,
    t5_layer_flops,
    t5gemma_decoder_flops,
    t5gemma_encoder_flops,
)
from reportgen.derive.layers.hub_blocks import FAMILY as BLOCKS
from reportgen.derive.layers.normalization import FAMILY as NORMS
from reportgen.derive.layers.normalization import rms_norm_flops, rms_norm_params
from reportgen.derive.layers.registry import (
    COMPOSITE,
    NO_TOKEN_CACHE,
    KvHeads,
    NotDerived,
    Zero,
    declare,
    formula,
)
from reportgen.expr import Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, msg

_HERE = __name__

ATTENTION_OPS = NotDerived(
    msg(
        "The attention's own ops (the query·key scores, the softmax's mask, the weighted sum "
        "of the values) are not derived for this kind yet; its projections are sub-layers, "
        "each with its own FLOPs on its row."
    )
)
ROUTER_OPS = NotDerived(
    msg(
        "The routing ops (top-k selection, the softmax over the chosen experts, the "
        "weighting of their outputs) are not derived yet; the router's projection and the "
        "experts are rows of their own."
    )
)
NORM_ONE_PLUS = NotDerived(
    msg(
        "This norm scales by 1 + γ (or divides by a square root) where the RMS norms reportgen "
        "checks multiply by γ; its ops were not checked against the profiler, so no figure "
        "is given."
    )
)
HELPER_OPS = NotDerived(
    msg(
        "The layer builds positions, masks or biases from the shapes of its inputs; its ops "
        "were not checked against the profiler, so no figure is given."
    )
)
NO_WEIGHTS = Zero(msg("The layer has no weights: it only rearranges or combines its inputs."))
PAD_ONLY = Zero(
    msg(
        "The layer only pads (or shifts) the sequence; TensorFlow's profiler has no FLOPs rule "
        "for Pad or slicing, so it counts 0, and reportgen follows it."
    )
)


# ---------------------------------------------------------------- key/value cache


def _is_cross(layer: LayerFacts) -> bool:
    """Cross-attention reads the encoder's output: its cache is filled once from the
    encoder and does not grow with the generated tokens."""
    kind = layer.config.get("attention_type")
    return kind == "cross" or "cross" in layer.name


def _config_int(layer: LayerFacts, *keys: str) -> int | None:
    for key in keys:
        value = layer.config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _width(layer: LayerFacts) -> int | None:
    shape = layer.input_shapes[0] if layer.input_shapes else ()
    return int(shape[-1]) if shape and shape[-1] is not None else None


def decoder_kv(layer: LayerFacts) -> KvHeads | None:
    """What a keras-hub decoder's self-attention keeps per token: key/value heads and the
    head size from the configuration, else from the key kernel's shape."""
    if _is_cross(layer):
        return NO_TOKEN_CACHE
    heads = _config_int(layer, "num_query_heads", "num_attention_heads", "num_heads")
    kv = _config_int(layer, "num_key_value_heads") or heads
    head_dim = _config_int(layer, "head_dim", "key_dim")
    width = _config_int(layer, "hidden_size", "hidden_dim") or _width(layer)
    if head_dim is None and heads and width:
        head_dim = width // heads
    if kv and head_dim:
        return KvHeads(kv, head_dim, kv, head_dim)
    found = kernel_heads(layer)
    return None if found is None else KvHeads(found[0], found[1], found[0], found[1])


def mha_decoder_kv(layer: LayerFacts) -> KvHeads | None:
    """A Keras-MultiHeadAttention-style decoder attention (Whisper): every head caches."""
    if _is_cross(layer):
        return NO_TOKEN_CACHE
    heads, key_dim = _config_int(layer, "num_heads"), _config_int(layer, "key_dim")
    if heads is None or key_dim is None:
        return None
    return KvHeads(heads, key_dim, heads, _config_int(layer, "value_dim") or key_dim)


# ---------------------------------------------------------------- parameter rules


def _rotary_frequencies(head_dim: int, rotary: int, count: int) -> Derivation:
    return formula(
        Num(count),
        msg(
            "The rotary embedding keeps its %(count)s inverse frequencies (one per pair of the "
            "%(rotary)s rotated values of each %(hd)s-value head) as a non-trainable weight, "
            "which Keras counts as parameters; nothing is learned.",
            count=count,
            rotary=rotary,
            hd=head_dim,
        ),
    )


def smollm3_rotary_params(layer: LayerFacts) -> Derivation:
    """SmolLM3: inv_freq over arange(0, d_rot, 2), d_rot = head_dim × partial_rotary_factor."""
    head_dim = int(layer.config["hidden_size"]) // int(layer.config["num_attention_heads"])
    rotary = int(head_dim * float(layer.config.get("partial_rotary_factor", 1.0)))
    return _rotary_frequencies(head_dim, rotary, (rotary + 1) // 2)


def moonshine_rotary_params(layer: LayerFacts) -> Derivation:
    """Moonshine: inv_freq over arange(d_rot / 2), d_rot rounded down to an even number."""
    head_dim = int(layer.config["head_dim"])
    rotary = int(head_dim * float(layer.config.get("partial_rotary_factor", 0.62))) // 2 * 2
    return _rotary_frequencies(head_dim, rotary, rotary // 2)


def gpt_oss_experts_params(layer: LayerFacts) -> Derivation:
    """GPT-OSS experts: a fused gate-and-up kernel (E, d, 2f) and a down kernel (E, f, d),
    each with a bias per expert."""
    shapes = {w.name.rsplit("/", 1)[-1]: w.shape for w in layer.weights}
    gate_up, down = shapes["gate_up_proj"], shapes["down_proj"]
    experts, d_, two_f = gate_up
    f_ = down[1]
    e, d, f = Num(experts, Symbol("E")), Num(d_, Symbol("d")), Num(f_, Symbol("f"))
    return formula(
        Sum(
            (
                Term("gate and up", Product((e, d, Num(2), f))),
                Term("gate and up bias", Product((e, Num(2), f))),
                Term("down", Product((e, f, d))),
                Term("down bias", Product((e, d))),
            )
        ),
        msg(
            "A mixture of %(experts)s experts, each a gated feed-forward whose gate and up "
            "projections are one fused kernel (d×2f) and whose down projection is f×d, all "
            "with biases: %(each)s parameters per expert. Every expert's parameters count, "
            "although only the router's top-k experts serve each token. The shapes are read "
            "from the stacked kernels (this layer's configuration cannot be read).",
            experts=experts,
            each=d_ * two_f + two_f + f_ * d_ + d_,
        ),
    )


def xlnet_mask_params(layer: LayerFacts) -> Derivation:
    """XLNet's attention-mask layer owns the learned mask embedding (1, 1, d)."""
    width = int(layer.config["hidden_dim"])
    return formula(
        Num(width, Symbol("d")),
        msg(
            "XLNet's mask embedding: one learned vector of %(d)s values that stands in for "
            "the content of a masked position in the query stream.",
            d=width,
        ),
    )


# ---------------------------------------------------------------- declarations

# Attention of decoders: composite (the projections are rows), with what they cache.
declare(
    "Gemma4TextAttention",
    "GptOssAttention",
    "SmolLM3Attention",
    "T5GemmaAttention",
    "MoonshineMultiHeadAttention",
    family=ATTENTION,
    params=COMPOSITE,
    flops=ATTENTION_OPS,
    module=_HERE,
    kv_cache=decoder_kv,
)
declare(
    "WhisperCachedMultiHeadAttention",
    family=ATTENTION,
    params=COMPOSITE,
    flops=ATTENTION_OPS,
    module=_HERE,
    kv_cache=mha_decoder_kv,
)
# Attention of encoders (nothing is cached): composite.
declare(
    "T5MultiHeadAttention",
    "RoformerAttention",
    "EsmSelfAttention",
    "DisentangledSelfAttention",
    "TwoStreamRelativeAttention",
    "Qwen3_5GatedDeltaNet",
    family=ATTENTION,
    params=COMPOSITE,
    flops=ATTENTION_OPS,
    module=_HERE,
)

# Blocks, feed-forward networks and mixtures made of sub-layers.
declare(
    "GptOssTransformerDecoder",
    "SmolLM3DecoderLayer",
    family=BLOCKS,
    params=COMPOSITE,
    flops=plain_decoder_flops,
    module=_HERE,
)
declare(
    "WhisperDecoder",
    "MoonshineDecoderBlock",
    "EdRecDecoderBlock",
    family=BLOCKS,
    params=COMPOSITE,
    flops=cross_decoder_flops,
    module=_HERE,
)
# Their padding masks are only cast, reshaped or passed on (the profiler counts 2·s·d).
declare(
    "WhisperEncoder",
    "MoonshineEncoderBlock",
    "RoformerV2Encoder",
    "ESMEncoder",
    "DisentangledAttentionEncoder",
    "EdRecEncoderBlock",
    "FNetEncoder",
    family=BLOCKS,
    params=COMPOSITE,
    flops=residual_block_flops,
    module=_HERE,
)
declare(
    "T5GemmaEncoderLayer",
    family=BLOCKS,
    params=COMPOSITE,
    flops=t5gemma_encoder_flops,
    module=_HERE,
)
declare(
    "T5GemmaDecoderLayer",
    family=BLOCKS,
    params=COMPOSITE,
    flops=t5gemma_decoder_flops,
    module=_HERE,
)
declare("T5TransformerLayer", family=BLOCKS, params=COMPOSITE, flops=t5_layer_flops, module=_HERE)
declare("RWKV7_Block", family=BLOCKS, params=COMPOSITE, flops=rwkv7_block_flops, module=_HERE)
declare(
    "SmolLM3MLP",
    "T5GemmaMLP",
    "EdRecGatedFeedForward",
    family=BLOCKS,
    params=COMPOSITE,
    flops=gated_mlp_flops,
    module=_HERE,
)
declare(
    "Gemma4TextDecoderBlock",
    "Qwen3_5TransformerDecoder",
    "Qwen3_5MoeTransformerDecoder",
    "Qwen3_5MoeMLP",
    "MoonshineMLP",
    "RelativeEmbedding",
    "XLNetEncoder",
    "ContentAndQueryEmbedding",
    "MaskedLMHead",
    "RWKV7ChannelMix",
    "RWKV7TimeMix",
    "SAMMaskDecoder",
    "SAMPromptEncoder",
    "SAM3DetrDecoder",
    "SAM3DetrEncoder",
    "SAM3GeometryEncoder",
    "SAM3MaskDecoder",
    "SAM3TextEncoder",
    "SAM3VisionEncoder",
    family=BLOCKS,
    params=COMPOSITE,
    flops=NOT_YET,
    module=_HERE,
)
declare(
    "GptOssSparseMoeBlock",
    "GptOssTopKRouter",
    "Qwen3_5MoeSparseMoeBlock",
    family=BLOCKS,
    params=COMPOSITE,
    flops=ROUTER_OPS,
    module=_HERE,
)

# Leaves with weights.
declare(
    "GptOssExperts", family=BLOCKS, params=gpt_oss_experts_params, flops=EXPERTS_FLOPS, module=_HERE
)
declare(
    "Qwen3_5MoeExperts", family=BLOCKS, params=experts_params, flops=EXPERTS_FLOPS, module=_HERE
)
# RoformerNorm's call is LlamaLayerNorm's, op for op (x·rsqrt(mean(x²) + ε)·γ).
declare("RoformerNorm", family=NORMS, params=rms_norm_params, flops=rms_norm_flops, module=_HERE)
declare(
    "Qwen3_5RMSNormGated",
    family=NORMS,
    params=rms_norm_params,
    flops=NotDerived(
        msg(
            "The layer is called on every head's values folded into one axis with the batch "
            "(positions × heads rows), so its input shape does not say how many rows it "
            "normalises; no figure is given."
        )
    ),
    module=_HERE,
)
declare(
    "Qwen3_5LayerNorm",
    "EdRecRMSNormalization",
    family=NORMS,
    params=rms_norm_params,
    flops=NORM_ONE_PLUS,
    module=_HERE,
)
declare(
    "SmolLM3RotaryEmbedding",
    family="position",
    params=smollm3_rotary_params,
    flops=HELPER_OPS,
    module=_HERE,
)
declare(
    "MoonshineRotaryEmbedding",
    family="position",
    params=moonshine_rotary_params,
    flops=HELPER_OPS,
    module=_HERE,
)
declare(
    "XLNetAttentionMaskLayer",
    family=BLOCKS,
    params=xlnet_mask_params,
    flops=HELPER_OPS,
    module=_HERE,
)

# Leaves without weights.
declare("Padder", "TimeShift", family="padding", params=NO_WEIGHTS, flops=PAD_ONLY, module=_HERE)
declare(
    "Gemma4VNorm",
    family=NORMS,
    params=Zero(
        msg(
            "Gemma 4 normalises the values by their root mean square with no learned scale: "
            "no parameters."
        )
    ),
    flops=NotDerived(
        msg(
            "This norm runs x·(mean(x²) + ε)^-0.5 through a power op; its ops were not checked "
            "against the profiler, so no figure is given."
        )
    ),
    module=_HERE,
)
declare(
    "Arange",
    "ComputeAttentionMask",
    "AlibiBias",
    "RoformrPositionalEmbedding",
    "XLNetSegmentMatrixLayer",
    family=BLOCKS,
    params=NO_WEIGHTS,
    flops=HELPER_OPS,
    module=_HERE,
)
