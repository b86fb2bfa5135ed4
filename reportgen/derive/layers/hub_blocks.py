"""keras-hub's transformer blocks, feed-forward and mixture-of-experts layers.

A block (a decoder or encoder layer) is ``COMPOSITE``: the collect stage opens it, its
attention, norms and feed-forward Dense layers are rows under it, each counted by its own
rule. The block's own FLOPs rule counts only the ops that run in the block's scope outside
every sub-layer, as TensorFlow's profiler counts them: the causal/padding mask it builds,
the two residual additions and, for a gated feed-forward (SwiGLU, GeGLU), the activation
and the element-wise gate multiply between the gate, up and down projections (which are
Dense / EinsumDense sub-layers). The op breakdowns were read off TF 2.21's traced graphs of
keras-hub 0.32 blocks (``tests/test_tf_hub_attention.py`` compares them with the profiler).

Mixture-of-experts: the router is a Dense sub-layer; the experts' stacked kernels are one
layer (``MixtralMoeExperts``, ``QwenMoeExperts``) whose parameters count every expert.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import batch_note, counted, missing_shape
from reportgen.derive.layers.registry import (
    COMPOSITE,
    NotDerived,
    Zero,
    declare,
    formula,
    unknown,
)
from reportgen.derive.layers.shapes import batch_factor
from reportgen.expr import Expr, Num, Product, Sum, Symbol, Term
from reportgen.facts import LayerFacts
from reportgen.model import Derivation, Msg, msg

FAMILY = "transformer"
_HERE = __name__


def _sequence(layer: LayerFacts) -> tuple[int, int] | None:
    """(s, d) of the block's first input (batch, s, d), or None when not known."""
    if not layer.input_shapes or len(layer.input_shapes[0]) != 3:
        return None
    _, s, d = layer.input_shapes[0]
    if s is None or d is None:
        return None
    return int(s), int(d)


def _mask_and_residual_terms(s: Num, d: Num, n: list[Expr], sliding_window: bool) -> list[Term]:
    """The causal mask merged with the padding mask (GreaterEqual and Minimum per pair, an
    AddV2 per position) and the two residual additions (one per value each)."""
    # keras-hub builds the causal mask once, from aranges ((s, s), no batch axis), then
    # broadcasts it and merges it with each example's padding mask.
    causal = Product((s, s))
    pairs = Product((s, s, *n))
    terms = [Term("mask AddV2", Product((Num(3 if sliding_window else 1), s)))]
    terms.append(Term("mask GreaterEqual", causal))
    if sliding_window:
        terms.append(Term("sliding-window Less", causal))
    terms.append(
        Term("mask Minimum", Product((Num(2), *pairs.factors)) if sliding_window else pairs)
    )
    terms.append(Term("residual AddV2", Product((Num(2), s, d, *n))))
    return terms


BLOCK_NOTE = msg(
    "The block's sub-layers (attention, norms, the feed-forward projections) are counted on "
    "their own rows; this row counts only the ops the block runs itself."
)


FF_FROM_WEIGHTS = msg(
    "This block's configuration could not be read (its get_config() fails in this keras-hub "
    "version), so the feed-forward width f is read from the shape of its gate projection's "
    "kernel."
)

GATE_KERNELS = ("feedforward_gate_dense", "ffw_gating", "gate_proj")
"""Names of the gate projection sub-layer in keras-hub's gated blocks (kernel (d, f))."""


def _feedforward_width(layer: LayerFacts, gate: str) -> tuple[int, bool] | None:
    """(f, read from the weights) of a gated feed-forward: ``intermediate_dim`` from the
    configuration (Gemma halves it: ``gate_dim_reduction``), else the last axis of the gate
    projection's kernel (a ``get_config()`` that raised); None when neither says."""
    width = layer.config.get("intermediate_dim")
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        if gate == "geglu":
            return width // int(layer.config.get("gate_dim_reduction") or 2), False
        return width, False
    for weight in layer.weights:
        parts = weight.name.split("/")
        gate_kernel = len(parts) >= 2 and parts[-1] == "kernel" and parts[-2] in GATE_KERNELS
        if gate_kernel and len(weight.shape) == 2:
            return int(weight.shape[-1]), True
    return None


def _decoder_flops(
    layer: LayerFacts, batch_size: int, gate: str | None, sliding_window: bool = False
) -> Derivation:
    """A decoder block's own ops; ``gate``: ``"swiglu"``, ``"geglu"`` or None (the feed-
    forward is a sub-layer of its own, e.g. a mixture of experts)."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s_, d_ = found
    s, d = Num(s_, Symbol("s")), Num(d_, Symbol("d"))
    n = batch_factor(batch_size)
    terms = _mask_and_residual_terms(s, d, n, sliding_window)
    note: Msg | None = None
    width_note: Msg | None = None
    if gate is not None:
        found_f = _feedforward_width(layer, gate)
        if found_f is None:
            raise KeyError("intermediate_dim")
        f_, from_weights = found_f
        width_note = FF_FROM_WEIGHTS if from_weights else None
    if gate == "swiglu":
        f = Num(f_, Symbol("f"))
        terms.append(Term("SiLU", Product((Num(2), s, f, *n))))
        terms.append(Term("gate Mul", Product((s, f, *n))))
        note = msg(
            "Gated feed-forward (SwiGLU): gate, up and down projections (3·d·f = %(params)s "
            "parameters, on their own rows); the block applies SiLU to the gate (2 FLOPs per "
            "value) and multiplies it with the up projection (1 FLOP per value), over s×f = "
            "%(values)s values.",
            params=3 * d_ * f_,
            values=s_ * f_ * batch_size,
        )
    elif gate == "geglu":
        f = Num(f_, Symbol("f"))
        terms.append(Term("GELU (tanh)", Product((Num(7), s, f, *n))))
        terms.append(Term("gate Mul", Product((s, f, *n))))
        note = msg(
            "Gated feed-forward (GeGLU): gate, up and down projections (3·d·f = %(params)s "
            "parameters, on their own rows); the block applies the tanh approximation of GELU "
            "to the gate (7 FLOPs per value) and multiplies it with the up projection (1 FLOP "
            "per value), over s×f = %(values)s values.",
            params=3 * d_ * f_,
            values=s_ * f_ * batch_size,
        )
    return counted(
        terms,
        BLOCK_NOTE,
        width_note,
        msg(
            "It builds the causal attention mask and merges it with the padding mask (one "
            "comparison and one minimum per query–key pair), and adds the residual around "
            "the attention and around the feed-forward (one addition per value each)."
        ),
        msg("The sliding-window mask adds another comparison and minimum per query–key pair.")
        if sliding_window
        else None,
        note,
        batch_note(batch_size),
    )


def swiglu_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "swiglu")


def mistral_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "swiglu", sliding_window=True)


def mixtral_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, None, sliding_window=True)


def geglu_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    return _decoder_flops(layer, batch_size, "geglu")


def residual_block_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """An encoder block's own ops (keras-hub's TransformerEncoder, ViT's encoder block): the
    two residual additions, one FLOP per value each. The padding mask it merges is only cast
    and reshaped (no FLOPs)."""
    found = _sequence(layer)
    if found is None:
        return missing_shape(layer)
    s, d = Num(found[0], Symbol("s")), Num(found[1], Symbol("d"))
    n = batch_factor(batch_size)
    return counted(
        [Term("residual AddV2", Product((Num(2), s, d, *n)))],
        BLOCK_NOTE,
        msg(
            "It adds the residual around the attention and around the feed-forward (one "
            "addition per value each)."
        ),
        batch_note(batch_size),
    )


CROSS_ATTENTION = msg(
    "This decoder block also attends to an encoder's output (cross-attention): its own ops "
    "then include a third residual addition and the encoder's padding mask, which reportgen "
    "does not derive yet."
)


def transformer_decoder_flops(layer: LayerFacts, batch_size: int) -> Derivation:
    """keras-hub's TransformerDecoder (GPT-2's block): the causal mask merged with the
    padding mask, and two residual additions; with cross-attention, not derived."""
    if "encoder_sequence" in layer.input_names:
        return unknown(CROSS_ATTENTION)
    return _decoder_flops(layer, batch_size, None)


# ---------------------------------------------------------------- mixture of experts


def _expert_kernels(layer: LayerFacts) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (w.name.rsplit("/", 1)[-1], w.shape)
        for w in layer.weights
        if len(w.shape) == 3 and "expert" in w.name
    ]


def experts_params(layer: LayerFacts) -> Derivation:
    """Stacked expert kernels: every expert's gate, up and down projections count."""
    kernels = _expert_kernels(layer)
    if not kernels:
        return unknown(
            msg("The experts' kernels are not among the collected weights of this layer.")
        )
    experts = kernels[0][1][0]
    e = Num(experts, Symbol("E"))
    terms: list[Expr] = [
        Term(
            name.replace("expert_feedforward_", "").replace("_", " "),
            Product((e, *map(Num, shape[1:]))),
        )
        for name, shape in kernels
    ]
    d = layer.input_shapes[0][-1] if layer.input_shapes and layer.input_shapes[0] else None
    width = max(shape[2] for _, shape in kernels) if d is None else d
    f = sum(shape[1] * shape[2] for _, shape in kernels) // (3 * int(width or 1))
    return formula(
        Sum(tuple(terms)),
        msg(
            "A mixture of %(experts)s experts, each a gated feed-forward (gate, up and down "
            "projections: 3·d·f = %(each)s parameters); every expert's parameters count, "
            "although only the router's top-k experts serve each token. The shapes are read "
            "from the stacked expert kernels (this layer's configuration cannot be read).",
            experts=experts,
            each=3 * int(width or 0) * f,
        ),
    )


EXPERTS_FLOPS = NotDerived(
    msg(
        "keras-hub runs every expert on every token through Einsum ops (the router's top-k "
        "weights zero out the rest afterwards), and TensorFlow's profiler counts no Einsum op, "
        "so no figure here would compare with it. Per token, a top-k mixture really needs "
        "only top_k × 2 × 3·d·f FLOPs for its experts."
    )
)

NOT_YET = NotDerived(
    msg(
        "The block's own ops (residual additions, masks) are not derived for this block kind "
        "yet; its sub-layers' rows carry their own FLOPs."
    )
)


declare(
    "LlamaTransformerDecoder",
    "QwenTransformerDecoder",
    "Phi3Decoder",
    "Qwen3TransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=swiglu_decoder_flops,
    module=_HERE,
)
declare(
    "MistralTransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=mistral_decoder_flops,
    module=_HERE,
)
declare(
    "MixtralTransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=mixtral_decoder_flops,
    module=_HERE,
)
declare(
    "GemmaDecoderBlock",
    "Gemma3DecoderBlock",
    family=FAMILY,
    params=COMPOSITE,
    flops=geglu_decoder_flops,
    module=_HERE,
)
declare(
    "TransformerEncoder",
    "ViTEncoderBlock",
    family=FAMILY,
    params=COMPOSITE,
    flops=residual_block_flops,
    module=_HERE,
)
declare(
    "TransformerDecoder",
    family=FAMILY,
    params=COMPOSITE,
    flops=transformer_decoder_flops,
    module=_HERE,
)
declare(
    "ViTEncoder",
    "MLP",
    family=FAMILY,
    params=COMPOSITE,
    flops=Zero(
        msg(
            "It only calls its sub-layers one after the other (its own code runs no "
            "arithmetic), so its own FLOPs are 0; each sub-layer's row carries its own."
        )
    ),
    module=_HERE,
)
declare(
    "FalconTransformerDecoder",
    "GPTNeoXDecoder",
    "BloomDecoder",
    "QwenMoeTransformerDecoder",
    "Qwen3MoeTransformerDecoder",
    "MixtralSparseMoeBlock",
    "QwenSparseMoeBlock",
    "Qwen3SparseMoeBlock",
    "QwenMoeMLP",
    "Qwen3MoeMLP",
    family=FAMILY,
    params=COMPOSITE,
    flops=NOT_YET,
    module=_HERE,
)
declare(
    "MixtralMoeExperts",
    "QwenMoeExperts",
    "Qwen3MoeExperts",
    family=FAMILY,
    params=experts_params,
    flops=EXPERTS_FLOPS,
    module=_HERE,
)
